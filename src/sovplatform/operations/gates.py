"""Live probes for the health gates of a rollout (plan/rollout.py names them).

Each probe answers (passed, what it saw) from the platform as it is now; `wait_gate` polls one
until it passes or its time is up. Ceph questions go to a monitor host other than the one
being worked on, so a gate never depends on the daemon that is restarting.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from typing import Any

from sovplatform.checks import etcd as etcd_checks
from sovplatform.checks.ceph import ceph_json, pg_is_clean
from sovplatform.checks.model import CheckContext
from sovplatform.checks.openbao import BaoClient, _token, platform_ca, stores, voter_url
from sovplatform.plan.rollout import Gate

Probe = Callable[[CheckContext, dict[str, Any], str | None], tuple[bool, str]]


def _mon_besides(plan: dict[str, Any], host: str | None) -> str:
    mons = list(plan["quorums"]["ceph_mon"]["members"])
    return next((m for m in mons if m != host), mons[0])


def _ceph_rc(cctx: CheckContext, plan: dict[str, Any], host: str | None, command: str) -> tuple[bool, str]:
    result = cctx.ssh(_mon_besides(plan, host), command, timeout=60)
    said = (result.stdout.strip() or result.stderr.strip()).splitlines()
    return result.returncode == 0, said[-1][:200] if said else f"exit {result.returncode}"


# --- etcd -------------------------------------------------------------------------------------


def _etcd_status(cctx: CheckContext, plan: dict[str, Any]) -> list[dict[str, Any]]:
    for member in plan["quorums"]["etcd"]["members"]:
        result = cctx.ssh(member, etcd_checks.etcdctl("endpoint", "status", "--cluster", "-w", "json"), timeout=30)
        try:
            return list(json.loads(result.stdout))
        except ValueError:
            continue
    return []


def etcd_all_healthy(cctx: CheckContext, plan: dict[str, Any], _: str | None) -> tuple[bool, str]:
    members = list(plan["quorums"]["etcd"]["members"])
    sick = [m for m in members if cctx.ssh(m, etcd_checks.etcdctl("endpoint", "health"), timeout=20).returncode != 0]
    return not sick, f"unhealthy: {', '.join(sick)}" if sick else f"{len(members)} members healthy"


def etcd_leader_present(cctx: CheckContext, plan: dict[str, Any], _: str | None) -> tuple[bool, str]:
    entries = _etcd_status(cctx, plan)
    leaders = {e.get("Status", {}).get("leader") for e in entries}
    ok = len(entries) == len(plan["quorums"]["etcd"]["members"]) and len(leaders) == 1 and 0 not in leaders
    return ok, f"{len(entries)} members answer, leader ids {sorted(str(x) for x in leaders)}"


# --- OpenBao ----------------------------------------------------------------------------------


def _bao(cctx: CheckContext, host: str) -> BaoClient:
    return BaoClient(voter_url(cctx.address(host)), platform_ca(cctx.state), timeout=5)


def _autopilot(cctx: CheckContext, plan: dict[str, Any]) -> dict[str, Any] | None:
    token = _token(stores(cctx.state, plan["substrate"])[1], "token-verify")
    if token is None:
        return None
    for voter in plan["quorums"]["openbao"]["members"]:
        client = _bao(cctx, voter)
        client.token = token
        reply = client.get("sys/storage/raft/autopilot/state")
        if reply.ok:
            data: dict[str, Any] = reply.data.get("data", reply.data)
            return data
    return None


def openbao_autopilot_healthy(cctx: CheckContext, plan: dict[str, Any], _: str | None) -> tuple[bool, str]:
    state = _autopilot(cctx, plan)
    if state is None:
        return False, "no voter answers the autopilot state (or no verify token in the state dir)"
    voters = sorted(k for k, s in (state.get("servers") or {}).items() if s.get("status") in ("voter", "leader"))
    ok = bool(state.get("healthy")) and voters == sorted(plan["quorums"]["openbao"]["members"])
    return ok, f"autopilot healthy={state.get('healthy')}, voters {', '.join(voters) or 'none'}"


def openbao_active_unsealed(cctx: CheckContext, plan: dict[str, Any], _: str | None) -> tuple[bool, str]:
    active = [v for v in plan["quorums"]["openbao"]["members"] if _bao(cctx, v).health().status == 200]
    return len(active) == 1, f"active: {', '.join(active) or 'none'}"


def openbao_unsealed(cctx: CheckContext, plan: dict[str, Any], host: str | None) -> tuple[bool, str]:
    assert host is not None
    status = _bao(cctx, host).health().status
    if status not in (200, 429):
        return False, f"{host} health answers {status or 'nothing'}"
    state = _autopilot(cctx, plan) or {}
    server = (state.get("servers") or {}).get(host, {})
    ok = bool(server.get("healthy")) and server.get("status") in ("voter", "leader")
    return ok, f"{host} unsealed; autopilot says healthy={server.get('healthy')} status={server.get('status')}"


# --- Ceph -------------------------------------------------------------------------------------


def ceph_pgs_active_clean(cctx: CheckContext, plan: dict[str, Any], _: str | None) -> tuple[bool, str]:
    pgs = ceph_json(cctx, _mon_besides(plan, None), "pg", "ls")
    states = [str(p.get("state")) for p in (pgs or {}).get("pg_stats", [])] if isinstance(pgs, dict) else []
    bad = sorted({s for s in states if not pg_is_clean(s)})
    return bool(states) and not bad, f"{len(states)} PGs" + (f", not clean: {', '.join(bad)}" if bad else " clean")


def _mgr_names(cctx: CheckContext, plan: dict[str, Any], host: str | None) -> tuple[str, list[str], bool]:
    dump = ceph_json(cctx, _mon_besides(plan, host), "mgr", "dump") or {}
    standbys = [str(s.get("name")) for s in dump.get("standbys", [])]
    return str(dump.get("active_name", "")), standbys, bool(dump.get("available"))


def ceph_mgr_ok_to_stop(cctx: CheckContext, plan: dict[str, Any], host: str | None) -> tuple[bool, str]:
    active, standbys, available = _mgr_names(cctx, plan, host)
    others = [n for n in [active, *standbys] if n and n != host]
    return available and bool(others), f"active {active or 'none'}, standbys {', '.join(standbys) or 'none'}"


def ceph_mgr_available(cctx: CheckContext, plan: dict[str, Any], host: str | None) -> tuple[bool, str]:
    active, standbys, available = _mgr_names(cctx, plan, host)
    ok = available and host in [active, *standbys]
    return ok, f"active {active or 'none'}, standbys {', '.join(standbys) or 'none'}"


def ceph_mon_ok_to_stop(cctx: CheckContext, plan: dict[str, Any], host: str | None) -> tuple[bool, str]:
    return _ceph_rc(cctx, plan, host, f"ceph --connect-timeout 10 mon ok-to-stop {shlex.quote(str(host))}")


def ceph_mon_quorum_full(cctx: CheckContext, plan: dict[str, Any], _: str | None) -> tuple[bool, str]:
    mons = sorted(plan["quorums"]["ceph_mon"]["members"])
    quorum = ceph_json(cctx, mons[0], "quorum_status") or {}
    have = sorted(quorum.get("quorum_names", []))
    return have == mons, f"in quorum: {', '.join(have) or 'none'}"


def _host_osds(cctx: CheckContext, plan: dict[str, Any], host: str) -> list[int]:
    ids = ceph_json(cctx, _mon_besides(plan, host), "osd", "ls-tree", host)
    return [int(i) for i in ids] if isinstance(ids, list) else []


def ceph_osd_ok_to_stop(cctx: CheckContext, plan: dict[str, Any], host: str | None) -> tuple[bool, str]:
    assert host is not None
    osds = _host_osds(cctx, plan, host)
    if not osds:
        return False, f"no OSDs found under host {host} in the CRUSH map"
    ids = " ".join(str(i) for i in osds)
    return _ceph_rc(cctx, plan, host, f"ceph --connect-timeout 10 osd ok-to-stop {ids}")


def ceph_osds_up(cctx: CheckContext, plan: dict[str, Any], host: str | None) -> tuple[bool, str]:
    assert host is not None
    osds = set(_host_osds(cctx, plan, host))
    dump = ceph_json(cctx, _mon_besides(plan, host), "osd", "dump") or {}
    down = sorted(o["osd"] for o in dump.get("osds", []) if o["osd"] in osds and not (o.get("up") and o.get("in")))
    return bool(osds) and not down, f"OSDs {sorted(osds)} of {host}" + (f"; not up+in: {down}" if down else " up+in")


def _rgw_answers(cctx: CheckContext, host: str) -> bool:
    # Anonymous GET / on the local RGW: any HTTP answer means it serves.
    command = "curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:7480/"
    code = cctx.ssh(host, command, timeout=20).stdout.strip()
    return code.isdigit() and code != "000"


def ceph_rgw_ok_to_stop(cctx: CheckContext, plan: dict[str, Any], host: str | None) -> tuple[bool, str]:
    others = [h["name"] for h in plan["hosts"] if "gateway" in h["roles"] and h["name"] != host]
    serving = [o for o in others if _rgw_answers(cctx, o)]
    return bool(serving), f"RGW serving besides {host}: {', '.join(serving) or 'none'}"


def ceph_rgw_up(cctx: CheckContext, plan: dict[str, Any], host: str | None) -> tuple[bool, str]:
    assert host is not None
    ok = _rgw_answers(cctx, host)
    return ok, f"RGW on {host} {'answers' if ok else 'does not answer'}"


PROBES: dict[str, Probe] = {
    "etcd.all-healthy": etcd_all_healthy,
    "etcd.leader-present": etcd_leader_present,
    "openbao.autopilot-healthy": openbao_autopilot_healthy,
    "openbao.active-unsealed": openbao_active_unsealed,
    "openbao.unsealed": openbao_unsealed,
    "ceph.pgs-active-clean": ceph_pgs_active_clean,
    "ceph.mgr-ok-to-stop": ceph_mgr_ok_to_stop,
    "ceph.mgr-available": ceph_mgr_available,
    "ceph.mon-ok-to-stop": ceph_mon_ok_to_stop,
    "ceph.mon-quorum-full": ceph_mon_quorum_full,
    "ceph.osd-ok-to-stop": ceph_osd_ok_to_stop,
    "ceph.osds-up": ceph_osds_up,
    "ceph.rgw-ok-to-stop": ceph_rgw_ok_to_stop,
    "ceph.rgw-up": ceph_rgw_up,
}


def wait_gate(
    cctx: CheckContext, plan: dict[str, Any], gate: Gate, timeout: float, interval: float = 3.0
) -> tuple[bool, str, float]:
    """Poll a gate until it passes or `timeout` seconds pass: (passed, last answer, seconds)."""
    probe = PROBES[gate.name]
    started = time.monotonic()
    while True:
        ok, detail = probe(cctx, plan, gate.target)
        waited = round(time.monotonic() - started, 1)
        if ok or waited >= timeout:
            return ok, detail, waited
        time.sleep(interval)
