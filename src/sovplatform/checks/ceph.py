"""Ceph checks (read-only).

Every probe runs the `ceph` CLI with the admin keyring on a monitor host over SSH, in one round
trip (`ceph ... --format json` for each question). The first planned monitor that answers is
asked, so the checks still tell the truth when a site is down:

- ``health``: HEALTH_OK (otherwise the health checks Ceph names);
- ``mon quorum``: every planned monitor is in the quorum;
- ``mons per site``: the monitor map holds exactly one monitor per site, the planned ones;
- ``pgs active+clean``: every PG is active+clean; PGs that are only being created or peering
  (a pool RGW made a moment ago) are asked about again for up to SETTLE_SECONDS before the
  check reports them;
- ``pg datacenter spread``: every PG's acting set has its copies in as many different
  datacenters as it has copies, at least three (OSD -> host -> datacenter from `ceph osd tree`);
  clean PGs off the rule (a pool moved onto it a moment ago) are asked about again within the
  same window;
- ``pools``: each planned pool exists with the planned size and min_size, on the planned rule,
  and that rule's failure domain is the datacenter;
- ``down-out subtree limit``: mon_osd_down_out_subtree_limit is what the plan says (datacenter),
  so a dead site is not marked out.
"""

from __future__ import annotations

import json
import shlex
import time
from collections import Counter
from typing import Any

from sovplatform.checks.model import Check, CheckContext

CONNECT_TIMEOUT = 10

# name -> ceph arguments; all asked in one SSH session
QUERIES: dict[str, list[str]] = {
    "health": ["health", "detail"],
    "quorum": ["quorum_status"],
    "mon_dump": ["mon", "dump"],
    "osd_tree": ["osd", "tree"],
    "pgs": ["pg", "ls"],
    "pools": ["osd", "pool", "ls", "detail"],
    "rules": ["osd", "crush", "rule", "dump"],
    "subtree_limit": ["config", "get", "mon", "mon_osd_down_out_subtree_limit"],
}
MARK = "@@sovplatform-ceph@@"

# PG states that pass by themselves within seconds on a healthy cluster (a new pool's PGs, a
# map change); anything else (degraded, undersized, down, stale, ...) is reported at once.
TRANSIENT_STATES = frozenset({"creating", "peering", "activating", "unknown"})
SETTLE_SECONDS = 60.0
SETTLE_POLL_SECONDS = 3.0


def _script() -> str:
    """One shell script asking every query; each answer is framed by MARK lines, stderr kept apart."""
    parts = ["e=$(mktemp)", "trap 'rm -f \"$e\"' EXIT"]
    for name, args in QUERIES.items():
        cmd = " ".join(
            shlex.quote(a) for a in ["ceph", "--connect-timeout", str(CONNECT_TIMEOUT), *args, "--format", "json"]
        )
        parts.append(
            f'echo {MARK} {name}; {cmd} 2>"$e"; rc=$?; echo; echo {MARK} rc $rc; '
            f'tail -n 1 "$e" | sed "s/^/{MARK} err /"'
        )
    return "; ".join(parts)


class _Error(str):
    """A query that failed: the last line it wrote to stderr."""


def _parse(stdout: str) -> dict[str, Any]:
    """{name: parsed JSON (or text), or an _Error if the command failed}."""
    out: dict[str, Any] = {}
    name, lines, rc = "", [], "0"
    for line in stdout.splitlines():
        if not line.startswith(MARK):
            lines.append(line)
            continue
        words = line.split(maxsplit=2)
        if words[1] == "rc" and name:
            rc, text = words[2].strip(), "\n".join(lines).strip()
            try:
                out[name] = json.loads(text) if rc == "0" else _Error(f"exit {rc}")
            except json.JSONDecodeError:
                out[name] = text.strip('"')
        elif words[1] == "err" and name:
            if rc != "0":
                out[name] = _Error(words[2].strip() if len(words) > 2 else f"exit {rc}")
        else:
            name, lines, rc = words[1], [], "0"
    return out


def _mons(plan: dict[str, Any]) -> list[str]:
    return list(plan.get("quorums", {}).get("ceph_mon", {}).get("members", []))


def _host_sites(plan: dict[str, Any]) -> dict[str, str]:
    return {str(h["name"]): str(h["site"]) for h in plan.get("hosts", [])}


def _ask(ctx: CheckContext, mons: list[str]) -> tuple[str | None, dict[str, Any], list[str]]:
    """Ask the first monitor host that answers the health query; returns (host, answers, errors)."""
    errors = []
    for host in mons:
        if host not in ctx.hosts:
            errors.append(f"{host}: no such host in the substrate")
            continue
        result = ctx.ssh(host, _script(), timeout=CONNECT_TIMEOUT * len(QUERIES) + 30)
        answers = _parse(result.stdout)
        if isinstance(answers.get("health"), dict):
            return host, answers, errors
        errors.append(f"{host}: {answers.get('health') or result.stderr.strip()[-200:] or 'no answer'}")
    return None, {}, errors


def _datacenter_of_osds(tree: dict[str, Any]) -> dict[int, str]:
    nodes = {n["id"]: n for n in tree.get("nodes", [])}
    parent: dict[int, int] = {}
    for node in nodes.values():
        for child in node.get("children", []):
            parent[child] = node["id"]
    out: dict[int, str] = {}
    for node in nodes.values():
        if node.get("type") != "osd":
            continue
        cur = node["id"]
        while cur in parent:
            cur = parent[cur]
            if nodes[cur].get("type") == "datacenter":
                out[node["id"]] = str(nodes[cur]["name"])
                break
    return out


def _health(a: dict[str, Any]) -> Check:
    h = a["health"]
    status = h.get("status", "?")
    problems = [f"{k}: {v.get('summary', {}).get('message', '')}" for k, v in sorted(h.get("checks", {}).items())]
    return Check("ceph", "health", status == "HEALTH_OK", status + ("; " + "; ".join(problems) if problems else ""))


def _quorum(a: dict[str, Any], mons: list[str]) -> Check:
    q = a.get("quorum")
    if not isinstance(q, dict):
        return Check("ceph", "mon quorum", False, f"quorum_status failed: {q}")
    names = sorted(q.get("quorum_names", []))
    missing = sorted(set(mons) - set(names))
    detail = f"in quorum: {', '.join(names)}" + (f"; out: {', '.join(missing)}" if missing else "")
    leader = q.get("quorum_leader_name")
    return Check("ceph", "mon quorum", not missing and bool(names), f"{detail}; leader {leader}")


def _mons_per_site(a: dict[str, Any], mons: list[str], sites: dict[str, str], site_names: list[str]) -> Check:
    dump = a.get("mon_dump")
    if not isinstance(dump, dict):
        return Check("ceph", "mons per site", False, f"mon dump failed: {dump}")
    names = [m["name"] for m in dump.get("mons", [])]
    per_site = Counter(sites.get(n, "?") for n in names)
    wrong = [s for s in site_names if per_site.get(s, 0) != 1]
    unplanned = sorted(set(names) - set(mons))
    ok = not wrong and not unplanned and sorted(names) == sorted(mons)
    strategy = {1: "classic", 2: "disallow", 3: "connectivity"}.get(dump.get("election_strategy", 0), "?")
    detail = ", ".join(f"{s}: {per_site.get(s, 0)}" for s in site_names) + f"; election strategy {strategy}"
    if unplanned:
        detail += f"; unplanned monitors: {', '.join(unplanned)}"
    return Check("ceph", "mons per site", ok, detail)


def _pg_stats(a: dict[str, Any]) -> list[dict[str, Any]] | None:
    pgs = a.get("pgs")
    if isinstance(pgs, dict):
        return list(pgs.get("pg_stats", []))
    if isinstance(pgs, list):
        return pgs
    return None


# Flags a clean PG may carry while Ceph does routine work on it: scrubbing reads and compares
# the copies, snap trimming frees deleted snapshots. Neither touches availability or redundancy
# (an error a scrub finds shows as "inconsistent", which is not in this set).
ROUTINE_PG_FLAGS = frozenset({"scrubbing", "deep", "snaptrim", "snaptrim_wait"})


def pg_is_clean(state: str) -> bool:
    """active+clean, or active+clean with only routine work going on (active+clean+scrubbing)."""
    flags = set(state.split("+"))
    return {"active", "clean"} <= flags and flags - {"active", "clean"} <= ROUTINE_PG_FLAGS


def _pgs_clean(a: dict[str, Any]) -> Check:
    stats = _pg_stats(a)
    if stats is None:
        return Check("ceph", "pgs active+clean", False, f"pg ls failed: {a.get('pgs')}")
    states = Counter(p.get("state", "?") for p in stats)
    ok = bool(stats) and all(pg_is_clean(str(state)) for state in states)
    return Check("ceph", "pgs active+clean", ok, ", ".join(f"{n} {s}" for s, n in sorted(states.items())))


def _settling(a: dict[str, Any]) -> bool:
    """Some PG is in a passing state (and none is clean-less for a lasting reason)."""
    stats = _pg_stats(a)
    if not stats:
        return False
    words = {w for p in stats for w in str(p.get("state", "")).split("+")}
    return bool(words & TRANSIENT_STATES)


def _mapping_lags(a: dict[str, Any]) -> bool:
    """Every PG clean, yet some acting set off the datacenter rule: a pool moved onto the rule a
    moment ago (the ceph layer moves the pools Ceph made itself), whose PGs still report their
    old placement until the OSDs send fresh stats and remap. A lasting misplacement outlives
    the settle window and is reported then."""
    stats = _pg_stats(a)
    if not stats or not isinstance(a.get("osd_tree"), dict):
        return False
    return all(pg_is_clean(str(p.get("state"))) for p in stats) and not _pg_spread(a).ok


def pools_still_resizing(pools: Any) -> list[str]:
    """Pools whose placement groups are still being split or merged toward a new count (the
    autoscaler, or an operator's `pg_num` change): their PGs can all be clean for a moment while
    Ceph has not finished, and more peering and recovery follow."""
    if not isinstance(pools, list):
        return ["osd pool ls detail: no answer"]
    resizing = []
    for pool in pools:
        pg, pgp = pool.get("pg_num"), pool.get("pg_placement_num")
        targets = (
            pool.get("pg_num_target", pg),
            pool.get("pg_placement_num_target", pgp),
            pool.get("pg_num_pending", pg),
        )
        if targets != (pg, pgp, pg):
            merging = f", merging to {targets[2]}" if targets[2] != pg else ""
            resizing.append(
                f"{pool.get('pool_name')}: pg_num {pg} -> {targets[0]}, pgp_num {pgp} -> {targets[1]}{merging}"
            )
    return resizing


def wait_pgs_clean(ctx: CheckContext, host: str, timeout: float) -> float | None:
    """Wait until no pool is resizing and every PG is active+clean (asked on `host`), twice in a
    row a poll apart; seconds waited, or None."""
    started = time.monotonic()
    settled_polls = 0
    while True:
        stats = _pg_stats({"pgs": ceph_json(ctx, host, "pg", "ls")})
        clean = bool(stats) and all(pg_is_clean(str(p.get("state"))) for p in stats or [])
        settled = clean and not pools_still_resizing(ceph_json(ctx, host, "osd", "pool", "ls", "detail"))
        settled_polls = settled_polls + 1 if settled else 0
        if settled_polls >= 2:
            return round(time.monotonic() - started, 1)
        if time.monotonic() - started > timeout:
            return None
        time.sleep(SETTLE_POLL_SECONDS)


def _pg_spread(a: dict[str, Any]) -> Check:
    stats = _pg_stats(a)
    tree = a.get("osd_tree")
    if stats is None or not isinstance(tree, dict):
        return Check("ceph", "pg datacenter spread", False, "pg ls or osd tree failed")
    dc_of = _datacenter_of_osds(tree)
    bad = []
    for pg in stats:
        acting = [o for o in pg.get("acting", []) if o >= 0]
        dcs = {dc_of.get(o, f"?osd.{o}") for o in acting}
        if len(acting) < 3 or len(dcs) != len(acting) or any(d.startswith("?") for d in dcs):
            bad.append(f"{pg.get('pgid')}: {sorted(dcs)}")
    detail = f"{len(stats) - len(bad)}/{len(stats)} PGs have each copy in a different datacenter (≥ 3)"
    if bad:
        detail += "; e.g. " + "; ".join(bad[:5])
    return Check("ceph", "pg datacenter spread", bool(stats) and not bad, detail)


def _pools(a: dict[str, Any], plan: dict[str, Any]) -> Check:
    pools, rules = a.get("pools"), a.get("rules")
    if not isinstance(pools, list) or not isinstance(rules, list):
        return Check("ceph", "pools", False, "osd pool ls or crush rule dump failed")
    by_name = {p["pool_name"]: p for p in pools}
    rule_by_id = {r["rule_id"]: r for r in rules}
    problems = []
    for want in plan.get("pools", []):
        have = by_name.get(want["name"])
        if have is None:
            problems.append(f"{want['name']}: missing")
            continue
        rule = rule_by_id.get(have.get("crush_rule"), {})
        domains = {s.get("type") for s in rule.get("steps", []) if str(s.get("op", "")).startswith("choose")}
        for key in ("size", "min_size"):
            if have.get(key) != want[key]:
                problems.append(f"{want['name']}: {key} {have.get(key)}, planned {want[key]}")
        if rule.get("rule_name") != want["crush_rule"]:
            problems.append(f"{want['name']}: rule {rule.get('rule_name')}, planned {want['crush_rule']}")
        if domains != {"datacenter"}:
            problems.append(f"{want['name']}: rule failure domain {sorted(d or '?' for d in domains)}")
        if have.get("min_size", 0) < 2:
            problems.append(f"{want['name']}: min_size {have.get('min_size')} accepts single-copy writes")
    names = ", ".join(p["name"] for p in plan.get("pools", []))
    return Check(
        "ceph", "pools", not problems, "; ".join(problems) or f"{names}: size/min_size and datacenter rule as planned"
    )


def _subtree_limit(a: dict[str, Any], plan: dict[str, Any]) -> Check:
    want = plan.get("crush", {}).get("mon_osd_down_out_subtree_limit", "datacenter")
    have = a.get("subtree_limit")
    if isinstance(have, _Error):
        return Check("ceph", "down-out subtree limit", False, f"config get failed: {have}")
    have = str(have).strip().strip('"')
    return Check(
        "ceph", "down-out subtree limit", have == want, f"mon_osd_down_out_subtree_limit = {have} (planned {want})"
    )


def run(ctx: CheckContext) -> list[Check]:
    plan = ctx.plan
    mons = _mons(plan)
    if not mons:
        return [Check("ceph", "monitors planned", False, "the plan names no Ceph monitors")]
    host, answers, errors = _ask(ctx, mons)
    if host is None:
        return [Check("ceph", "reachable", False, "no monitor host answered: " + "; ".join(errors))]
    started = time.monotonic()
    while (_settling(answers) or _mapping_lags(answers)) and time.monotonic() - started < SETTLE_SECONDS:
        time.sleep(SETTLE_POLL_SECONDS)
        again_host, again, _ = _ask(ctx, [host])
        if again_host is None:
            break
        answers = again
    site_names = [s["name"] for s in plan.get("sites", []) if s.get("hosts")]
    return [
        _health(answers),
        _quorum(answers, mons),
        _mons_per_site(answers, mons, _host_sites(plan), site_names),
        _pgs_clean(answers),
        _pg_spread(answers),
        _pools(answers, plan),
        _subtree_limit(answers, plan),
    ]


def ceph_json(ctx: CheckContext, host: str, *args: str) -> Any:
    """One `ceph ... --format json` query on a host; None when it fails or answers no JSON
    (operations that poll the cluster while parts of it are away)."""
    command = " ".join(
        shlex.quote(a) for a in ["ceph", "--connect-timeout", str(CONNECT_TIMEOUT), *args, "--format", "json"]
    )
    result = ctx.ssh(host, command, timeout=40)
    try:
        return json.loads(result.stdout)
    except ValueError:
        return None
