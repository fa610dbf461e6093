"""etcd checks (read-only, apart from one canary key that is written, read back and deleted).

Every probe runs `etcdctl` (API v3) on a member over SSH, with the host's client certificate
from /etc/sovplatform/pki (the cluster requires client certificates), against that member's
local client URL. Cluster-wide questions are asked of the first member that answers, so the
checks still tell the truth when a site is down:

- ``health <member>``: each planned member answers `endpoint health` itself;
- ``leader``: `endpoint status --cluster` - exactly one leader, and every member that answers
  follows that same one;
- ``members``: `member list` names exactly the planned members, all started, one per site as
  planned, each advertising its management address;
- ``write-read``: a canary key under ``/sovplatform/verify/`` is written, read back and
  deleted (a quorum write: it fails when the quorum is lost).
"""

from __future__ import annotations

import json
import secrets
import shlex
import time
from collections import Counter
from typing import Any

from sovplatform.checks.model import Check, CheckContext

PKI = "/etc/sovplatform/pki"
LOCAL_ENDPOINT = "https://127.0.0.1:2379"
VERIFY_PREFIX = "/sovplatform/verify/"
CLIENT_PORT = 2379
PEER_PORT = 2380


def etcdctl(*args: str, endpoint: str = LOCAL_ENDPOINT, timeout: str = "5s") -> str:
    """The shell command that runs etcdctl on a member with its client certificate."""
    env = (
        f"ETCDCTL_API=3 ETCDCTL_CACERT={PKI}/ca.crt ETCDCTL_CERT={PKI}/host.crt ETCDCTL_KEY={PKI}/host.key "
        f"ETCDCTL_COMMAND_TIMEOUT={timeout} ETCDCTL_DIAL_TIMEOUT=3s"
    )
    return f"{env} etcdctl --endpoints={shlex.quote(endpoint)} " + " ".join(shlex.quote(a) for a in args)


def _members(plan: dict[str, Any]) -> list[str]:
    return list(plan.get("quorums", {}).get("etcd", {}).get("members", []))


def _host_sites(plan: dict[str, Any]) -> dict[str, str]:
    return {str(h["name"]): str(h["site"]) for h in plan.get("hosts", [])}


def _addresses(plan: dict[str, Any]) -> dict[str, str]:
    return {str(h["name"]): str(h.get("management_address", "")) for h in plan.get("hosts", [])}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _json_array(stdout: str) -> list[dict[str, Any]]:
    """etcdctl prints one JSON array (errors for unreachable endpoints go to stderr)."""
    start = stdout.find("[")
    if start < 0:
        return []
    try:
        data = json.loads(stdout[start:])
    except json.JSONDecodeError:
        return []
    return data if isinstance(data, list) else []


def _health(ctx: CheckContext, members: list[str]) -> tuple[list[Check], list[str]]:
    checks, healthy = [], []
    for host in members:
        if host not in ctx.hosts:
            checks.append(Check("etcd", f"health {host}", False, "planned member has no host in the substrate"))
            continue
        started = time.monotonic()
        result = ctx.ssh(host, etcdctl("endpoint", "health", "-w", "json"), timeout=20)
        took = time.monotonic() - started
        entries = _json_array(result.stdout)
        ok = result.returncode == 0 and bool(entries) and all(e.get("health") is True for e in entries)
        if ok:
            healthy.append(host)
            detail = f"{host}: healthy (took {entries[0].get('took', '?')}, probe {took:.1f}s)"
        else:
            why = _last_line(result.stderr) or _last_line(result.stdout) or f"exit {result.returncode}"
            detail = f"{host}: not healthy: {why}"
        checks.append(Check("etcd", f"health {host}", ok, detail))
    return checks, healthy


def _ask(ctx: CheckContext, order: list[str], command: str) -> tuple[str | None, Any]:
    """Run a read-only command on the first member that answers; (member, result)."""
    last = None
    for host in order:
        result = ctx.ssh(host, command, timeout=25)
        last = result
        if result.returncode == 0 or _json_array(result.stdout):
            return host, result
    return None, last


def _leader(ctx: CheckContext, order: list[str], names: dict[int, str]) -> Check:
    host, result = _ask(ctx, order, etcdctl("endpoint", "status", "--cluster", "-w", "json"))
    if host is None:
        why = _last_line(result.stderr) if result is not None else "no member reachable"
        return Check("etcd", "leader", False, f"no member answered endpoint status: {why}")
    statuses = _json_array(result.stdout)
    if not statuses:
        return Check("etcd", "leader", False, f"{host}: endpoint status gave no JSON: {_last_line(result.stderr)}")
    leaders = set()
    followed = Counter()
    for entry in statuses:
        status = entry.get("Status", {})
        member_id = int(status.get("header", {}).get("member_id", 0))
        leader_id = int(status.get("leader", 0))
        followed[leader_id] += 1
        if member_id and member_id == leader_id:
            leaders.add(member_id)
    answered = len(statuses)
    leader_names = sorted(names.get(i, f"{i:x}") for i in leaders)
    agree = len(followed) == 1 and 0 not in followed
    ok = len(leaders) == 1 and agree
    if ok:
        (leader_id,) = leaders
        term = statuses[0].get("Status", {}).get("raftTerm", "?")
        detail = f"leader {names.get(leader_id, f'{leader_id:x}')}, raft term {term}, followed by {answered} member(s)"
    else:
        seen = {names.get(i, f"{i:x}"): n for i, n in followed.items()}
        detail = f"{len(leaders)} leader(s) {leader_names}; members follow {seen} ({answered} answered)"
    err = _last_line(result.stderr)
    if err:
        detail += f"; unreachable: {err}"
    return Check("etcd", "leader", ok, detail)


def _membership(
    ctx: CheckContext, order: list[str], planned: list[str], sites: dict[str, str], addresses: dict[str, str]
) -> tuple[Check, dict[int, str]]:
    host, result = _ask(ctx, order, etcdctl("member", "list", "-w", "json"))
    if host is None or result.returncode != 0:
        why = _last_line(result.stderr) if result is not None else "no member reachable"
        return Check("etcd", "members", False, f"no member answered member list: {why}"), {}
    try:
        members = json.loads(result.stdout).get("members", [])
    except (json.JSONDecodeError, AttributeError):
        return Check("etcd", "members", False, f"{host}: member list gave no JSON"), {}
    names = {int(m.get("ID", 0)): str(m.get("name", "")) for m in members}
    problems = []
    actual = sorted(n for n in names.values() if n)
    unstarted = [f"{i:x}" for i, n in names.items() if not n]
    if unstarted:
        problems.append(f"not started: {', '.join(unstarted)}")
    if actual != sorted(planned):
        missing = sorted(set(planned) - set(actual))
        extra = sorted(set(actual) - set(planned))
        problems.append(f"members {actual} differ from plan {sorted(planned)} (missing {missing}, unplanned {extra})")
    per_site = Counter(sites.get(n, "?") for n in actual)
    planned_per_site = Counter(sites.get(n, "?") for n in planned)
    if per_site != planned_per_site:
        problems.append(f"members per site {dict(per_site)} differ from plan {dict(planned_per_site)}")
    for m in members:
        name = str(m.get("name", ""))
        want = addresses.get(name)
        if want and f"https://{want}:{PEER_PORT}" not in m.get("peerURLs", []):
            problems.append(f"{name} advertises peers at {m.get('peerURLs')} (want https://{want}:{PEER_PORT})")
        if want and name and f"https://{want}:{CLIENT_PORT}" not in m.get("clientURLs", []):
            problems.append(f"{name} advertises clients at {m.get('clientURLs')} (want https://{want}:{CLIENT_PORT})")
    if problems:
        return Check("etcd", "members", False, "; ".join(problems)), names
    layout = ", ".join(f"{n}@{sites.get(n, '?')}" for n in actual)
    return Check("etcd", "members", True, f"{len(actual)} members as planned: {layout}"), names


def _write_read(ctx: CheckContext, order: list[str]) -> Check:
    token = secrets.token_hex(8)
    key = f"{VERIFY_PREFIX}canary-{token}"
    script = " && ".join(
        [
            etcdctl("put", key, token),
            etcdctl("get", "--print-value-only", key),
            etcdctl("del", key),
        ]
    )
    last = "no member reachable"
    for host in order:
        started = time.monotonic()
        result = ctx.ssh(host, script, timeout=30)
        took = time.monotonic() - started
        lines = result.stdout.split()
        if result.returncode == 0 and token in lines and lines[-1] == "1":
            return Check("etcd", "write-read", True, f"{host}: wrote, read back and deleted {key} in {took:.1f}s")
        last = f"{host}: {_last_line(result.stderr) or _last_line(result.stdout) or f'exit {result.returncode}'}"
        if result.returncode == 0:
            # the write went through but the read or delete said something unexpected: a real failure
            break
    # best effort: never leave a canary behind
    for host in order:
        if ctx.ssh(host, etcdctl("del", key), timeout=15).returncode == 0:
            break
    return Check("etcd", "write-read", False, f"canary {key} failed: {last}")


def run(ctx: CheckContext) -> list[Check]:
    planned = _members(ctx.plan)
    if not planned:
        return [Check("etcd", "members", False, "the plan has no etcd members (plan['quorums']['etcd'])")]
    sites = _host_sites(ctx.plan)
    addresses = _addresses(ctx.plan)
    checks, healthy = _health(ctx, planned)
    # healthy members first; the others still get a chance (they may answer cluster questions)
    order = healthy + [h for h in planned if h not in healthy and h in ctx.hosts]
    membership, names = _membership(ctx, order, planned, sites, addresses)
    checks.append(_leader(ctx, order, names))
    checks.append(membership)
    checks.append(_write_read(ctx, order))
    return checks
