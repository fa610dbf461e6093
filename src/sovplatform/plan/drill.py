"""Which site a site-loss drill takes down when asked for ``auto-leader`` (pure).

The hardest site to lose is the one holding leaders: each leader lost forces an election
in its layer, so that site exercises the most failover at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sovplatform.plan.layout import OpsInputError, PlatformLayout
from sovplatform.plan.observed import Leaders

# Tie-break order: etcd first, because Kubernetes writes every object through it; then the
# KMS, whose failover decides when encrypted volumes and secrets can be read again.
LEADER_KINDS: tuple[tuple[str, str], ...] = (
    ("etcd_leader", "etcd leader"),
    ("openbao_active", "openbao active node"),
    ("ceph_leader_mon", "ceph leader mon"),
)


@dataclass(frozen=True)
class DrillTarget:
    site: str
    held: tuple[str, ...]  # e.g. ("etcd leader dc1-a", "ceph leader mon dc1-a")
    leaders_per_site: dict[str, int]
    reason: str


def choose_auto_leader_site(layout: PlatformLayout, leaders: Leaders) -> DrillTarget:
    """The site holding the most leaders; ties go to the etcd leader's site, then OpenBao's,
    then Ceph's, then blueprint order. Raises OpsInputError when no leader was observed."""
    held: dict[str, list[str]] = {s: [] for s in layout.sites}
    rank: dict[str, int] = {}
    for i, (attr, label) in enumerate(LEADER_KINDS):
        host = getattr(leaders, attr)
        if host is None:
            continue
        site = layout.site_of(host)
        held[site].append(f"{label} {host}")
        rank.setdefault(site, i)
    if not any(held.values()):
        raise OpsInputError("no leader observed (etcd, openbao, ceph mon): auto-leader has nothing to choose by")
    order = {s: i for i, s in enumerate(layout.sites)}
    site = min(layout.sites, key=lambda s: (-len(held[s]), rank.get(s, len(LEADER_KINDS)), order[s]))
    total = sum(len(v) for v in held.values())
    reason = f"{site} holds {len(held[site])} of {total} observed leaders ({', '.join(held[site])})"
    tied = [s for s in layout.sites if s != site and len(held[s]) == len(held[site])]
    if tied:
        reason += f"; tied with {', '.join(tied)}, chosen by leader kind (etcd, then openbao, then ceph)"
    return DrillTarget(
        site=site,
        held=tuple(held[site]),
        leaders_per_site={s: len(v) for s, v in held.items()},
        reason=reason,
    )
