"""An Impact as a human table (plain lines) and as a JSON-compatible dict."""

from __future__ import annotations

from typing import Any

from sovplatform.plan.impact import MIN_MGR_SITES, Impact, PoolImpact

HEADER = ("CHECK", "BEFORE", "AFTER", "NEEDS", "RESULT")


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(names) if names else "none"


def _result(ok: bool, touched: bool, refused: str, already: str) -> str:
    if ok:
        return "ok"
    return refused if touched else already


def _sites(n: int) -> str:
    return "1 site" if n == 1 else f"{n} sites"


def _pool_result(p: PoolImpact) -> str:
    if not p.active_after:
        return "REFUSED: PGs inactive" if p.taken_out else "inactive already"
    if p.degraded_after:
        return f"ok, degraded ({p.copies_after} of {p.pool.size} copies in the worst-placed PG)"
    return "ok"


def impact_rows(impact: Impact) -> list[tuple[str, str, str, str, str]]:
    rows: list[tuple[str, str, str, str, str]] = []
    for q in impact.quorums:
        total = len(q.members)
        result = _result(q.holds_after, bool(q.taken_out), "REFUSED: quorum lost", "no quorum already")
        rows.append((q.label, f"{len(q.up_before)}/{total}", f"{len(q.up_after)}/{total}", str(q.majority), result))
    for p in impact.pools:
        size = p.pool.size
        rows.append(
            (
                f"pool {p.pool.name}",
                f"{p.copies_before}/{size}",
                f"{p.copies_after}/{size}",
                str(p.pool.min_size),
                _pool_result(p),
            )
        )
    m = impact.mgr
    result = _result(m.ok_after, bool(m.taken_out), "REFUSED", "below already")
    rows.append(("ceph mgr", _sites(len(m.sites_before)), _sites(len(m.sites_after)), _sites(MIN_MGR_SITES), result))
    any_after = impact.gateway_available_after
    for g in impact.gateways:
        if not g.hosts:
            continue
        if g.local_after:
            result = "ok"
        elif any_after:
            result = "ok, via other sites" if g.site_serving_after else "ok, site out"
        else:
            result = "REFUSED: none left" if g.up_before else "none up already"
        total = len(g.hosts)
        rows.append((f"gateway {g.site}", f"{len(g.up_before)}/{total}", f"{len(g.up_after)}/{total}", "-", result))
    return rows


def impact_lines(impact: Impact) -> list[str]:
    """The table an operator reads before confirming; the last line is the verdict."""
    rows = [HEADER, *impact_rows(impact)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    lines = [
        f"take out: {_names(impact.requested)}",
        f"already down: {_names(impact.already_down)}",
        "",
    ]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.append("")
    if impact.allowed and impact.noout:
        lines.append(f"set noout on: {', '.join(impact.noout)} (Ceph must not re-replicate their data meanwhile)")
    for w in impact.warnings:
        lines.append(f"note: {w}")
    if impact.allowed:
        lines.append("verdict: allowed")
    else:
        lines.append("verdict: refused")
        lines.extend(f"  - {r}" for r in impact.reasons)
    return lines


def impact_to_dict(impact: Impact) -> dict[str, Any]:
    return {
        "allowed": impact.allowed,
        "reasons": list(impact.reasons),
        "warnings": list(impact.warnings),
        "requested": list(impact.requested),
        "newly_down": list(impact.newly_down),
        "already_down": list(impact.already_down),
        "down_after": list(impact.down_after),
        "noout": list(impact.noout),
        "quorums": {
            q.key: {
                "members": list(q.members),
                "majority": q.majority,
                "up_before": list(q.up_before),
                "up_after": list(q.up_after),
                "taken_out": list(q.taken_out),
                "quorum_before": q.holds_before,
                "quorum_after": q.holds_after,
            }
            for q in impact.quorums
        },
        "pools": [
            {
                "name": p.pool.name,
                "application": p.pool.application,
                "size": p.pool.size,
                "min_size": p.pool.min_size,
                "failure_domain": p.pool.failure_domain,
                "copies_before": p.copies_before,
                "copies_after": p.copies_after,
                "best_copies_after": p.best_copies_after,
                "copies_after_recovery": p.copies_after_recovery,
                "impaired_after": list(p.impaired_after),
                "taken_out": list(p.taken_out),
                "active_before": p.active_before,
                "active_after": p.active_after,
                "degraded_after": p.degraded_after,
            }
            for p in impact.pools
        ],
        "mgr": {
            "hosts": list(impact.mgr.hosts),
            "up_before": list(impact.mgr.up_before),
            "up_after": list(impact.mgr.up_after),
            "sites_before": list(impact.mgr.sites_before),
            "sites_after": list(impact.mgr.sites_after),
            "ok_after": impact.mgr.ok_after,
        },
        "gateways": {
            "available_after": impact.gateway_available_after,
            "sites": [
                {
                    "site": g.site,
                    "hosts": list(g.hosts),
                    "up_before": list(g.up_before),
                    "up_after": list(g.up_after),
                    "local_after": g.local_after,
                    "site_serving_after": g.site_serving_after,
                }
                for g in impact.gateways
            ],
        },
    }
