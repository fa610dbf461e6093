"""`drill site-loss`: take a whole site away while writers run, measure, bring it back, prove
that no acknowledged write was lost.

Writers (operations/writers.py) write to etcd, Ceph (RADOS), S3 and OpenBao kv and log every
acknowledged write. In partition mode a prober also writes straight to the cut-off site's etcd
member and OpenBao voter: any write it gets acknowledged is a split-brain write.

RTO per service: from the moment the fault is complete (hosts stopped, or links cut) to the
first acknowledged write after it. The longest gap between two acknowledged writes around the
fault is reported too (`max_gap_seconds`): writers whose endpoint survives ack almost at once,
while the gap shows how long the layer itself stalled (e.g. Ceph waiting to mark OSDs down).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sovplatform import tlshttp
from sovplatform.checks import etcd as etcd_checks
from sovplatform.checks.ceph import ceph_json
from sovplatform.checks.model import CheckContext
from sovplatform.checks.openbao import BaoClient, platform_ca, voter_url
from sovplatform.engine.lock import PlatformLock
from sovplatform.operations.context import Context
from sovplatform.operations.drain import drained_hosts
from sovplatform.operations.errors import Refused
from sovplatform.operations.fence import fenced_hosts
from sovplatform.operations.lab import lab_for, substrate_errors
from sovplatform.operations.verify import check_context, deployed_layers, verify
from sovplatform.operations.writers import KV_PREFIX, Acks, Writers
from sovplatform.plan.drill import choose_auto_leader_site
from sovplatform.plan.impact import Impact, assess_impact
from sovplatform.plan.layout import OpsInputError, PlatformLayout, layout_from_plan
from sovplatform.plan.observed import Leaders, Observed
from sovplatform.substrate.lab import LabSubstrate

MODES = ("power", "partition")
RECOVERY_TIMEOUT_S = 900.0


@dataclass
class DrillResult:
    ok: bool
    mode: str
    site: str
    rto_seconds: dict[str, float | None]
    max_gap_seconds: dict[str, float]
    acknowledged_writes: int
    lost_writes: int
    split_brain_writes: int
    recovery_seconds: float | None
    checks: list[dict[str, Any]]
    target_reason: str
    writes: dict[str, int]
    lost: dict[str, list[int]]
    expect_outage: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "mode": self.mode,
            "site": self.site,
            "rto_seconds": self.rto_seconds,
            "max_gap_seconds": self.max_gap_seconds,
            "acknowledged_writes": self.acknowledged_writes,
            "lost_writes": self.lost_writes,
            "split_brain_writes": self.split_brain_writes,
            "recovery_seconds": self.recovery_seconds,
            "target_reason": self.target_reason,
            "writes": self.writes,
            "lost": {k: v[:20] for k, v in self.lost.items()},
            "checks": self.checks,
            "expect_outage": self.expect_outage,
        }


# --- probes of who leads ----------------------------------------------------------------------


def kube_writer_host(ctx: Context, plan: dict[str, Any], away: set[str]) -> str | None:
    """A control-plane node outside the sites taken away, where Kubernetes is deployed."""
    if "kubernetes" not in deployed_layers(ctx):
        return None
    return next(
        (h["name"] for h in plan["hosts"] if "control" in h["roles"] and h["site"] not in away),
        None,
    )


def observe_leaders(cctx: CheckContext, plan: dict[str, Any]) -> Leaders:
    address_host = {str(h["management_address"]): h["name"] for h in plan["hosts"]}
    mons = list(plan["quorums"]["ceph_mon"]["members"])
    etcd_leader = ceph_leader = None
    for host in mons:
        status = cctx.ssh(host, etcd_checks.etcdctl("endpoint", "status", "--cluster", "-w", "json"), timeout=20)
        try:
            entries = json.loads(status.stdout)
        except ValueError:
            continue
        for entry in entries:
            header = entry.get("Status", {}).get("header", {})
            if header.get("member_id") == entry.get("Status", {}).get("leader"):
                address = entry.get("Endpoint", "").split("//")[-1].rsplit(":", 1)[0]
                etcd_leader = address_host.get(address)
        break
    for host in mons:
        quorum = cctx.ssh(host, "ceph quorum_status --format json --connect-timeout 10", timeout=30)
        try:
            ceph_leader = json.loads(quorum.stdout).get("quorum_leader_name")
            break
        except ValueError:
            continue
    active = None
    for name in plan["quorums"]["openbao"]["members"]:
        if BaoClient(voter_url(cctx.address(name)), platform_ca(cctx.state), timeout=5).health().status == 200:
            active = name
    return Leaders(etcd_leader=etcd_leader, openbao_active=active, ceph_leader_mon=ceph_leader)


# --- shared by both drills --------------------------------------------------------------------


def take_away(lab: LabSubstrate, mode: str, site: str, note: Callable[[str], None]) -> None:
    """The fault: `power` stops every host of the site, `partition` cuts its links."""
    with substrate_errors():
        if mode == "power":
            lab.power("off", site=site, progress=note)
        else:
            lab.partition(site)


def bring_back(lab: LabSubstrate, mode: str, site: str, note: Callable[[str], None]) -> None:
    """Undo take_away (the lab heals every cut link at once)."""
    with substrate_errors():
        if mode == "power":
            lab.power("on", site=site, progress=note)
        else:
            lab.heal()


def check_recorder(checks: list[dict[str, Any]], note: Callable[[str], None]) -> Callable[[str, bool, str], None]:
    """A function that records one check of the drill in `checks` and says it."""

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append({"name": name, "ok": ok, "detail": detail})
        note(f"drill: {'ok  ' if ok else 'FAIL'} {name}: {detail}")

    return check


# --- the drill --------------------------------------------------------------------------------


def _wait(probe: Callable[[], bool], timeout: float, interval: float = 3.0) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if probe():
            return time.monotonic() - start
        time.sleep(interval)
    return None


def site_loss(
    ctx: Context,
    site: str,
    mode: str = "power",
    hold_s: float = 30.0,
    say: Callable[[str], None] | None = None,
    expect_outage: bool = False,
) -> DrillResult:
    note = say or ctx.progress.update
    plan: dict[str, Any] = ctx.plan.data
    if mode not in MODES:
        raise Refused([f"--mode: {mode!r} is not one of {', '.join(MODES)}"])
    missing = [layer for layer in ("etcd", "ceph", "openbao", "s3") if layer not in deployed_layers(ctx)]
    if missing:
        raise Refused([f"drill: layer {layer} is not deployed (run up without --until)" for layer in missing])
    layout = layout_from_plan(plan)
    lab = lab_for(ctx)
    with PlatformLock(ctx.state, f"drill site-loss {ctx.blueprint.name}"):
        cctx = check_context(ctx)
        with substrate_errors():
            status = lab.status()
        hosts_status: list[dict[str, Any]] = list(status["hosts"])  # type: ignore[call-overload]
        problems = [
            f"drill: host {h['name']} is down already; a second fault while one is outstanding is refused"
            for h in hosts_status
            if not (h["running"] and h["reachable"])
        ]
        problems += [
            f"drill: site {s} is partitioned already; a second fault while one is outstanding is refused"
            for s in status["partitioned"]  # type: ignore[attr-defined]
        ]
        problems += [
            f"drill: host {h} is drained; undrain it first (a second fault while one is outstanding is refused)"
            for h in sorted(drained_hosts(ctx))
        ]
        problems += [
            f"drill: host {h} is fenced; unfence it first (a second fault while one is outstanding is refused)"
            for h in sorted(fenced_hosts(ctx))
        ]
        if expect_outage:
            if not problems:
                raise Refused(
                    [
                        "drill: --expect-outage is for a second fault, and nothing is out now; take a site away "
                        "first (sovplatform lab power off|partition) or drop --expect-outage"
                    ]
                )
            return _prepare_second_fault(ctx, cctx, layout, status, site, mode, hold_s, note)
        if problems:
            raise Refused(problems)
        ctx.progress.phase("drill: verify before the fault")
        before = verify(ctx)
        if not before["ok"]:
            failed = [f"{c['layer']}: {c['name']}: {c['detail']}" for c in before["checks"] if not c["ok"]]
            raise Refused(["drill: the platform is not healthy before the fault", *failed])
        reason = f"--site {site}"
        if site == "auto-leader":
            leaders = observe_leaders(cctx, plan)
            try:
                target = choose_auto_leader_site(layout, leaders)
            except OpsInputError as exc:
                raise Refused([f"drill: {exc}"]) from None
            site, reason = target.site, target.reason
        if site not in layout.sites:
            raise Refused([f"--site: no site {site!r} in platform {ctx.blueprint.name}"])
        note(f"drill: target {site} ({reason}), mode {mode}")
        return _run(ctx, cctx, plan, site, mode, hold_s, reason, note)


def _run(
    ctx: Context,
    cctx: CheckContext,
    plan: dict[str, Any],
    site: str,
    mode: str,
    hold_s: float,
    reason: str,
    note: Callable[[str], None],
) -> DrillResult:
    site_of = {h["name"]: h["site"] for h in plan["hosts"]}
    mons = list(plan["quorums"]["ceph_mon"]["members"])
    survivor = next(m for m in mons if site_of[m] != site)
    lost_mons = [m for m in mons if site_of[m] == site]
    run_id = secrets.token_hex(4)
    lab = lab_for(ctx)

    writers = Writers(ctx, cctx, survivor, run_id, kube_writer_host(ctx, plan, {site}))
    ctx.progress.phase("drill: writers")
    writers.start()
    checks: list[dict[str, Any]] = []
    check = check_recorder(checks, note)

    split_brain = 0
    recovery: float | None = None
    acks: dict[str, Acks] = {}
    fault_start = fault_done = restore_at = time.time()
    try:
        time.sleep(5)  # a baseline of writes before the fault
        ctx.progress.phase(f"drill: {mode} {site}")
        fault_start = time.time()
        take_away(lab, mode, site, note)
        fault_done = time.time()
        note(f"drill: {site} is {'off' if mode == 'power' else 'cut off'} ({fault_done - fault_start:.1f}s)")

        # --- during the outage ------------------------------------------------------------
        ctx.progress.phase("drill: during the outage")
        cut_off = [h["name"] for h in plan["hosts"] if h["site"] == site]

        def serving() -> bool:
            quorum = ceph_json(cctx, survivor, "quorum_status")
            pgs = ceph_json(cctx, survivor, "pg", "ls")
            states = [str(s.get("state", "")) for s in (pgs.get("pg_stats", []) if isinstance(pgs, dict) else [])]
            return (
                bool(quorum)
                and set(quorum.get("quorum_names", [])) == set(mons) - set(lost_mons)
                and bool(states)
                and all("active" in s for s in states)
            )

        waited = _wait(serving, timeout=180)
        check(
            "ceph keeps monitor quorum and every PG active",
            waited is not None,
            f"after {waited:.1f}s" if waited is not None else "not within 180 s",
        )
        probe_end = time.time() + hold_s
        while time.time() < probe_end:
            if mode == "partition":
                split_brain += _split_brain_probe(cctx, plan, cut_off, run_id, writers.bao_request)
            time.sleep(2)
        osds = ceph_json(cctx, survivor, "osd", "dump")
        out = [o["osd"] for o in (osds or {}).get("osds", []) if o.get("in") != 1]
        check("no OSD marked out", osds is not None and not out, f"out: {out}" if out else "every OSD still in")
        actives = [
            n
            for n in plan["quorums"]["openbao"]["members"]
            if site_of[n] != site
            and BaoClient(voter_url(cctx.address(n)), platform_ca(ctx.state), timeout=5).health().status == 200
        ]
        check("openbao: exactly one active, unsealed node", len(actives) == 1, f"active: {actives}")
        now = time.time()
        # (the host-side writers' acks are read at the end, from their logs on the host)
        for name, so_far in writers.thread_acks().items():
            first = so_far.after(fault_done)
            check(f"{name} takes writes during the outage", first is not None and first < now, f"first ack {first}")
        if mode == "partition":
            check("no split-brain write acknowledged by the cut-off site", split_brain == 0, f"{split_brain} acked")
    finally:
        # --- restore ------------------------------------------------------------------------
        ctx.progress.phase(f"drill: restore {site}")
        restore_at = time.time()
        bring_back(lab, mode, site, note)
        ctx.progress.phase("drill: recovery")

        def converged() -> bool:
            health = ceph_json(cctx, survivor, "health")
            if not health or health.get("status") != "HEALTH_OK":
                return False
            voters_ok = all(
                BaoClient(voter_url(cctx.address(n)), platform_ca(ctx.state), timeout=5).health().status in (200, 429)
                for n in plan["quorums"]["openbao"]["members"]
            )
            etcd_ok = all(
                cctx.ssh(m, etcd_checks.etcdctl("endpoint", "health"), timeout=20).returncode == 0
                for m in plan["quorums"]["etcd"]["members"]
            )
            return voters_ok and etcd_ok and writers.kube_nodes_ready()

        waited = _wait(converged, timeout=RECOVERY_TIMEOUT_S, interval=5)
        recovery = None if waited is None else round(time.time() - restore_at, 1)
        time.sleep(3)  # writes after recovery, then stop
        acks = writers.stop()
    check(
        "converged after the site came back",
        recovery is not None,
        f"HEALTH_OK, etcd healthy, every voter unsealed{', every Kubernetes node Ready' if writers.kube_host else ''}"
        f" after {recovery}s"
        if recovery
        else f"not within {RECOVERY_TIMEOUT_S:.0f}s",
    )

    # --- RPO: every acknowledged write is there -----------------------------------------------
    ctx.progress.phase("drill: reading back every acknowledged write")
    lost = writers.lost(acks)
    writers.cleanup(acks)
    rto = {}
    gaps = {}
    for name in writers.services:
        first = acks[name].after(fault_done)
        rto[name] = None if first is None or first > restore_at else round(max(0.0, first - fault_done), 2)
        gaps[name] = round(acks[name].max_gap(fault_start - 5, restore_at), 2)
    acknowledged = sum(len(a.times) for a in acks.values())
    lost_total = sum(len(v) for v in lost.values())
    check("RPO 0: every acknowledged write reads back", lost_total == 0, f"{lost_total} of {acknowledged} lost")
    ok = all(c["ok"] for c in checks) and all(v is not None for v in rto.values())
    return DrillResult(
        ok=ok,
        mode=mode,
        site=site,
        rto_seconds=rto,
        max_gap_seconds=gaps,
        acknowledged_writes=acknowledged,
        lost_writes=lost_total,
        split_brain_writes=split_brain,
        recovery_seconds=recovery,
        checks=checks,
        target_reason=reason,
        writes={k: len(v.times) for k, v in acks.items()},
        lost=lost,
    )


def _split_brain_probe(
    cctx: CheckContext,
    plan: dict[str, Any],
    cut_off: list[str],
    run_id: str,
    bao_request: Callable[..., int],
) -> int:
    """Writes straight to the cut-off site's etcd member and OpenBao voter; returns how many
    were acknowledged (each one a split-brain write)."""
    acked = 0
    for host in cut_off:
        if host in plan["quorums"]["etcd"]["members"]:
            put = etcd_checks.etcdctl("put", f"/sovplatform/drill/{run_id}-split/{host}", "x", timeout="3s")
            if cctx.ssh(host, put, timeout=15).returncode == 0:
                acked += 1
        if host in plan["quorums"]["openbao"]["members"]:
            body = {"data": {"record": "split"}}
            try:
                status = bao_request(cctx.address(host), 8200, "POST", f"/v1/{KV_PREFIX}/{run_id}-split/{host}", body)
            except tlshttp.ERRORS:
                status = 0
            if status in (200, 204):
                acked += 1
    return acked


# --- a second fault, expecting an outage --------------------------------------------------------

# Which quorums and pools each writer's service needs (plan/impact.py keys).
NEEDS: dict[str, tuple[str, ...]] = {
    "etcd": ("etcd",),
    "ceph": ("ceph_mon", "rbd"),
    "s3": ("ceph_mon", "rgw"),
    "openbao": ("openbao",),
    # the API server keeps its state in the platform's etcd
    "kubernetes": ("etcd",),
}


def expected_stops(impact: Impact) -> dict[str, bool]:
    """Per service, whether losing the target as well takes away something it needs."""
    lost = {q.key for q in impact.quorums if not q.holds_after}
    # A pool stops taking writes when even its best-placed PG is below min_size (all PGs inactive).
    lost |= {p.pool.application for p in impact.pools if p.best_copies_after < p.pool.min_size}
    return {name: bool(lost & set(needs)) for name, needs in NEEDS.items()}


def _out_now(plan: dict[str, Any], status: dict[str, Any], drained: set[str]) -> set[str]:
    platform = {h["name"] for h in plan["hosts"]}
    out = {h["name"] for h in status["hosts"] if h["name"] in platform and not (h["running"] and h["reachable"])}
    out |= {h["name"] for h in plan["hosts"] if h["site"] in status["partitioned"]}
    return out | drained


def _serving_without(cctx: CheckContext, plan: dict[str, Any], ask: str, gone: set[str]) -> bool:
    """Every monitor not in `gone` is in quorum and every PG is active (asked on `ask`)."""
    mons = [m for m in plan["quorums"]["ceph_mon"]["members"] if m not in gone]
    quorum = ceph_json(cctx, ask, "quorum_status") or {}
    pgs = ceph_json(cctx, ask, "pg", "ls")
    states = [str(p.get("state", "")) for p in (pgs.get("pg_stats", []) if isinstance(pgs, dict) else [])]
    in_quorum = set(quorum.get("quorum_names", [])) >= set(mons)
    return in_quorum and bool(states) and all("active" in x for x in states)


def _prepare_second_fault(
    ctx: Context,
    cctx: CheckContext,
    layout: PlatformLayout,
    status: dict[str, Any],
    site: str,
    mode: str,
    hold_s: float,
    note: Callable[[str], None],
) -> DrillResult:
    plan: dict[str, Any] = ctx.plan.data
    if site not in layout.sites:
        raise Refused([f"--site: name the site for the second fault (one of {', '.join(layout.sites)})"])
    out = _out_now(plan, status, drained_hosts(ctx) | set(fenced_hosts(ctx)))
    targets = {h["name"] for h in plan["hosts"] if h["site"] == site}
    if targets & out:
        raise Refused([f"drill: site {site} is already (partly) out: {', '.join(sorted(targets & out))}"])
    impact = assess_impact(layout, Observed(down=frozenset(out)), targets)
    expected = expected_stops(impact)
    if not any(expected.values()):
        raise Refused([f"drill: with {', '.join(sorted(out))} out, losing {site} as well breaks no quorum: no outage"])
    site_of = {h["name"]: h["site"] for h in plan["hosts"]}
    survivors = [m for m in plan["quorums"]["ceph_mon"]["members"] if m not in out and site_of[m] != site]
    if not survivors:
        raise Refused(["drill: no monitor host would stay up to run the writers on"])
    what = ", ".join(name for name, stops in expected.items() if stops)
    note(f"drill: second fault on {site} ({mode}) while {', '.join(sorted(out))} out; expected to stop: {what}")
    ctx.progress.phase("drill: the platform serves with the first fault")
    if _wait(lambda: _serving_without(cctx, plan, survivors[0], out), timeout=300) is None:
        raise Refused([f"drill: the platform does not serve with {', '.join(sorted(out))} out (monitor quorum, PGs)"])
    return _second_fault(ctx, cctx, plan, site, mode, hold_s, expected, survivors[0], sorted(out), note)


def _second_fault(
    ctx: Context,
    cctx: CheckContext,
    plan: dict[str, Any],
    site: str,
    mode: str,
    hold_s: float,
    expected: dict[str, bool],
    survivor: str,
    out: list[str],
    note: Callable[[str], None],
) -> DrillResult:
    lab = lab_for(ctx)
    run_id = secrets.token_hex(4)
    gone_sites = {h["site"] for h in plan["hosts"] if h["name"] in out} | {site}
    writers = Writers(ctx, cctx, survivor, run_id, kube_writer_host(ctx, plan, gone_sites))
    ctx.progress.phase("drill: writers")
    writers.start()
    checks: list[dict[str, Any]] = []
    check = check_recorder(checks, note)

    fault_start = fault_done = restore_at = time.time()
    serving_after: float | None = None
    try:
        # A baseline: every service takes writes with one fault outstanding.
        _wait(writers.acked_by_all, timeout=90, interval=2)
        time.sleep(3)
        ctx.progress.phase(f"drill: second fault: {mode} {site}")
        fault_start = time.time()
        take_away(lab, mode, site, note)
        fault_done = time.time()
        ctx.progress.phase("drill: during the outage")
        time.sleep(max(hold_s, 10.0))
    finally:
        ctx.progress.phase(f"drill: restore {site}")
        restore_at = time.time()
        bring_back(lab, mode, site, note)
        ctx.progress.phase("drill: serving again")
        gone = set(out) - {h["name"] for h in plan["hosts"] if h["site"] == site}

        waited = _wait(lambda: _serving_without(cctx, plan, survivor, gone), timeout=RECOVERY_TIMEOUT_S)
        serving_after = None if waited is None else round(time.time() - restore_at, 1)
        time.sleep(5)  # writes after the platform serves again, then stop
        acks = writers.stop()

    resumed: dict[str, float | None] = {}
    during_total = 0
    for name in writers.services:
        baseline = [t for t in acks[name].times.values() if t < fault_start]
        check(f"{name} takes writes with one fault outstanding", bool(baseline), f"{len(baseline)} acknowledged")
        during = acks[name].sent_and_acked_within(fault_done, restore_at)
        if expected[name]:
            during_total += len(during)
            check(
                f"{name} stops acknowledging (its quorum is gone)",
                not during,
                f"{len(during)} writes sent and acknowledged during the outage",
            )
        else:
            check(f"{name} keeps acknowledging (its quorum holds)", bool(during), f"{len(during)} acknowledged")
        first = acks[name].after(restore_at)
        resumed[name] = None if first is None else round(max(0.0, first - restore_at), 2)
    check(
        "serving again after the second site came back",
        serving_after is not None,
        f"monitor quorum and every PG active after {serving_after}s" if serving_after else "not in time",
    )
    ctx.progress.phase("drill: reading back every acknowledged write")
    lost = writers.lost(acks)
    writers.cleanup(acks)
    acknowledged = sum(len(a.times) for a in acks.values())
    lost_total = sum(len(v) for v in lost.values())
    check("RPO 0: every acknowledged write reads back", lost_total == 0, f"{lost_total} of {acknowledged} lost")
    return DrillResult(
        ok=all(c["ok"] for c in checks) and all(v is not None for v in resumed.values()),
        mode=mode,
        site=site,
        rto_seconds=resumed,
        max_gap_seconds={n: round(acks[n].max_gap(fault_start - 5, restore_at), 2) for n in writers.services},
        acknowledged_writes=acknowledged,
        lost_writes=lost_total,
        split_brain_writes=during_total,
        recovery_seconds=serving_after,
        checks=checks,
        target_reason=f"second fault while {', '.join(out)} out (--expect-outage)",
        writes={k: len(v.times) for k, v in acks.items()},
        lost=lost,
        expect_outage=True,
    )
