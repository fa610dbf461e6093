"""`drain` / `undrain`: take hosts (or a whole site) out of service for maintenance, safely.

Drain first works out what happens to every quorum and pool (plan/impact.py) from what is
already out (hosts not running or not reachable, hosts drained earlier); `--dry-run` stops
there. A drain that would break a quorum, leave PGs inactive or take the last gateway is
refused with the reasons. Otherwise, in order:
  1. `ceph osd set-group noout` on the hosts: Ceph must not start re-replicating what is about
     to come back;
  2. etcd leadership moves to a member that stays (`etcdctl move-leader`);
  3. the services stop, front to back: HAProxy, RGW, OpenBao (a standby takes over), OSDs,
     manager, monitor, etcd;
  4. the hosts are recorded in <state>/drained.json (drill and upgrade refuse while any are);
  5. it waits until the rest serves: monitor quorum, every PG active, an etcd leader, one
     active OpenBao node.
`undrain` starts the services back to front, unsets noout and waits for HEALTH_OK.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from sovplatform.checks import etcd as etcd_checks
from sovplatform.checks.ceph import ceph_json
from sovplatform.checks.model import CheckContext
from sovplatform.checks.openbao import BaoClient, platform_ca, voter_url
from sovplatform.engine.lock import PlatformLock
from sovplatform.files import write_atomic
from sovplatform.operations.context import Context
from sovplatform.operations.errors import OperationError, Refused
from sovplatform.operations.fence import fenced_hosts
from sovplatform.operations.lab import lab_for, substrate_errors
from sovplatform.operations.verify import check_context
from sovplatform.plan.impact import assess_impact
from sovplatform.plan.impact_report import impact_lines, impact_to_dict
from sovplatform.plan.layout import OpsInputError, layout_from_plan, select_hosts
from sovplatform.plan.observed import Observed

DRAINED_FILE = "drained.json"
# Front to back: what clients reach first stops first, the quorum members last.
STOP_ORDER = (
    "haproxy",
    "ceph-radosgw.target",
    "openbao",
    "ceph-osd.target",
    "ceph-mgr.target",
    "ceph-mon.target",
    "etcd",
)
WAIT_S = 300.0


def drained_hosts(ctx: Context) -> set[str]:
    try:
        return set(json.loads((ctx.state / DRAINED_FILE).read_text())["hosts"])
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _record(ctx: Context, hosts: set[str]) -> None:
    write_atomic(ctx.state / DRAINED_FILE, (json.dumps({"hosts": sorted(hosts)}) + "\n").encode())


def _observed(ctx: Context) -> Observed:
    with substrate_errors():
        status = lab_for(ctx).status()
    hosts: list[dict[str, Any]] = list(status["hosts"])  # type: ignore[call-overload]
    platform = set(ctx.blueprint.host_site())  # not the lab's stand-in for the customer's KMS
    if not any(h["running"] for h in hosts if h["name"] in platform):
        raise Refused([f"platform {ctx.blueprint.name} is not up (no host running): nothing to drain"])
    down = {str(h["name"]) for h in hosts if h["name"] in platform and not (h["running"] and h["reachable"])}
    # A fenced host may run again, but its clients cannot write: count it as out, like a drained one.
    return Observed(down=frozenset(down | drained_hosts(ctx) | set(fenced_hosts(ctx))))


def _targets(ctx: Context, host: str | None, site: str | None) -> frozenset[str]:
    layout = layout_from_plan(ctx.plan.data)
    try:
        return select_hosts(layout, hosts=[host] if host else [], sites=[site] if site else [])
    except OpsInputError as exc:
        raise Refused([str(exc)]) from None


def _wait(what: str, probe: Callable[[], bool], timeout: float = WAIT_S) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if probe():
            return round(time.monotonic() - started, 1)
        time.sleep(3)
    raise OperationError([f"drain: timed out after {timeout:.0f}s waiting for {what}"])


def _serving(cctx: CheckContext, plan: dict[str, Any], away: set[str]) -> bool:
    mons = [m for m in plan["quorums"]["ceph_mon"]["members"] if m not in away]
    quorum = ceph_json(cctx, mons[0], "quorum_status")
    pgs = ceph_json(cctx, mons[0], "pg", "ls")
    states = [str(s.get("state", "")) for s in (pgs.get("pg_stats", []) if isinstance(pgs, dict) else [])]
    if not quorum or set(quorum.get("quorum_names", [])) != set(mons) or not states:
        return False
    if not all("active" in s for s in states):
        return False
    members = [m for m in plan["quorums"]["etcd"]["members"] if m not in away]
    if cctx.ssh(members[0], etcd_checks.etcdctl("endpoint", "health"), timeout=20).returncode != 0:
        return False
    voters = [v for v in plan["quorums"]["openbao"]["members"] if v not in away]
    ca = platform_ca(cctx.state)
    return sum(BaoClient(voter_url(cctx.address(v)), ca, timeout=5).health().status == 200 for v in voters) == 1


def drain(ctx: Context, host: str | None, site: str | None, dry_run: bool) -> dict[str, Any]:
    plan: dict[str, Any] = ctx.plan.data
    layout = layout_from_plan(plan)
    with PlatformLock(ctx.state, f"drain {ctx.blueprint.name}"):
        targets = _targets(ctx, host, site)
        observed = _observed(ctx)
        new = targets - drained_hosts(ctx)
        try:
            impact = assess_impact(layout, observed, new)
        except OpsInputError as exc:
            raise Refused([f"drain: {exc}"]) from None
        report: dict[str, Any] = {
            "hosts": sorted(targets),
            "dry_run": dry_run,
            "impact": impact_to_dict(impact),
            "lines": impact_lines(impact),
            "steps": [],
        }
        if dry_run:
            return report
        if not impact.allowed:
            raise Refused([f"drain: {r}" for r in impact.reasons])
        if not new:
            report["steps"].append("already drained: nothing to do")
            return report
        cctx = check_context(ctx)
        away = set(observed.down) | set(new)
        stays = [m for m in plan["quorums"]["ceph_mon"]["members"] if m not in away]
        if not stays:
            raise Refused(["drain: no Ceph monitor would stay to run cluster commands on"])
        steps: list[str] = report["steps"]
        storage = sorted(h for h in new if h in layout.osd_hosts)
        if storage:
            result = cctx.ssh(stays[0], f"ceph osd set-group noout {' '.join(storage)}", timeout=60)
            if result.returncode != 0:
                raise OperationError([f"drain: ceph osd set-group noout failed: {result.stderr.strip()[:200]}"])
            steps.append(f"noout set on {', '.join(storage)}")
        steps += move_etcd_leader(cctx, plan, away)
        for name in sorted(new):
            units = " ".join(STOP_ORDER)
            # One unit at a time, in order; a unit a host does not have is skipped.
            script = f"for u in {units}; do systemctl cat $u >/dev/null 2>&1 && systemctl stop $u; done; true"
            if cctx.ssh(name, script, timeout=300).returncode != 0:
                raise OperationError([f"drain: stopping the services on {name} failed"])
            steps.append(f"{name}: services stopped ({', '.join(STOP_ORDER)})")
        _record(ctx, drained_hosts(ctx) | set(new))
        waited = _wait("the rest of the platform to serve", lambda: _serving(cctx, plan, away))
        steps.append(f"the rest serves (mon quorum, every PG active, etcd leader, one OpenBao active) after {waited}s")
        return report


def move_etcd_leader(cctx: CheckContext, plan: dict[str, Any], away: set[str]) -> list[str]:
    members = list(plan["quorums"]["etcd"]["members"])
    stays = [m for m in members if m not in away]
    status = cctx.ssh(stays[0], etcd_checks.etcdctl("endpoint", "status", "--cluster", "-w", "json"), timeout=30)
    try:
        entries = json.loads(status.stdout)
    except ValueError:
        return ["etcd: leader not known (status failed); not moved"]
    address_host = {str(h["management_address"]): h["name"] for h in plan["hosts"]}
    ids: dict[str, int] = {}
    leader = None
    for entry in entries:
        header = entry.get("Status", {}).get("header", {})
        name = address_host.get(entry.get("Endpoint", "").split("//")[-1].rsplit(":", 1)[0])
        if name:
            ids[name] = int(header.get("member_id", 0))
        if header.get("member_id") == entry.get("Status", {}).get("leader"):
            leader = name
    if leader is None or leader not in away:
        return [f"etcd: leader {leader} stays"]
    target = stays[0]
    move = etcd_checks.etcdctl("move-leader", format(ids[target], "x"), endpoint=f"https://{cctx.address(leader)}:2379")
    result = cctx.ssh(stays[0], move, timeout=30)
    if result.returncode != 0:
        raise OperationError([f"drain: etcd move-leader to {target} failed: {result.stderr.strip()[:200]}"])
    return [f"etcd: leadership moved from {leader} to {target}"]


def undrain(ctx: Context, host: str | None, site: str | None) -> dict[str, Any]:
    plan: dict[str, Any] = ctx.plan.data
    with PlatformLock(ctx.state, f"undrain {ctx.blueprint.name}"):
        targets = _targets(ctx, host, site)
        drained = drained_hosts(ctx)
        back = sorted(targets & drained)
        report: dict[str, Any] = {"hosts": back, "steps": []}
        if not back:
            report["steps"].append("none of these hosts is drained: nothing to do")
            return report
        cctx = check_context(ctx)
        for name in back:
            units = " ".join(reversed(STOP_ORDER))
            script = f"for u in {units}; do systemctl cat $u >/dev/null 2>&1 && systemctl start $u; done; true"
            if cctx.ssh(name, script, timeout=300).returncode != 0:
                raise OperationError([f"undrain: starting the services on {name} failed"])
            report["steps"].append(f"{name}: services started")
        layout = layout_from_plan(plan)
        storage = [h for h in back if h in layout.osd_hosts]
        mon = next(m for m in plan["quorums"]["ceph_mon"]["members"] if m not in drained - set(back))
        if storage:
            cctx.ssh(mon, f"ceph osd unset-group noout {' '.join(storage)}", timeout=60)
            report["steps"].append(f"noout unset on {', '.join(storage)}")
        _record(ctx, drained - set(back))

        def healthy() -> bool:
            health = ceph_json(cctx, mon, "health")
            return bool(health) and health.get("status") == "HEALTH_OK" and _serving(cctx, plan, set())

        waited = _wait("HEALTH_OK after undrain", healthy, timeout=600)
        report["steps"].append(f"HEALTH_OK, etcd healthy, one OpenBao active after {waited}s")
        return report
