"""Facts about a blueprint's topology that both the rules and the plan rely on (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sovplatform.blueprint.models import Blueprint

# Ceph warns at 85 % full (mon_osd_nearfull_ratio) and stops writes at 95 %; plan to the warning.
NEARFULL_RATIO = 0.85


@dataclass(frozen=True)
class QuorumFacts:
    members: tuple[str, ...]
    members_per_site: dict[str, int]
    majority: int
    survives_loss_of_any_site: bool


def quorum_facts(members: list[str], host_site: dict[str, str], site_names: list[str]) -> QuorumFacts:
    per_site = Counter(host_site.get(m, "?") for m in members)
    size = len(members)
    majority = size // 2 + 1
    survives = size >= 3 and all(size - per_site.get(s, 0) >= majority for s in site_names)
    return QuorumFacts(
        members=tuple(members),
        members_per_site={s: per_site.get(s, 0) for s in site_names},
        majority=majority,
        survives_loss_of_any_site=survives,
    )


def raw_capacity_gb(bp: Blueprint) -> dict[str, int]:
    """Raw OSD capacity per site: every data disk of every storage host."""
    out = {s.name: 0 for s in bp.sites}
    for _, _, site, host in bp.hosts():
        if "storage" in host.roles:
            out[site.name] += sum(d.size_gb for d in host.disks)
    return out


def osd_sites(bp: Blueprint) -> list[str]:
    return [s.name for s in bp.sites if any("storage" in h.roles and h.disks for h in s.hosts)]


def capacity_after_loss(bp: Blueprint, lost: str | None) -> tuple[float, float]:
    """(usable GB that can hold replicas, GB needed to keep every pool at min_size).

    With failure domain datacenter one site holds at most one copy of each object, so a site
    contributes at most one full copy of the data however large it is. With ``lost=None``
    the need is every pool at ``size`` on the healthy platform.
    """
    total_data = sum(p.capacity_gb for p in bp.ceph.pools)
    usable = 0.0
    for site, raw in raw_capacity_gb(bp).items():
        if site != lost:
            usable += min(raw * NEARFULL_RATIO, float(total_data))
    if lost is None:
        need = sum(p.size * p.capacity_gb for p in bp.ceph.pools)
    else:
        need = sum(p.min_size * p.capacity_gb for p in bp.ceph.pools)
    return usable, float(need)


def pool_survives_loss_of_any_site(bp: Blueprint, pool_name: str) -> bool:
    pool = next(p for p in bp.ceph.pools if p.name == pool_name)
    if pool.failure_domain != "datacenter" or pool.min_size < 2:
        return False
    sites = osd_sites(bp)
    if len(sites) < pool.size or pool.size - 1 < pool.min_size:
        return False
    for site in bp.sites:
        usable, need = capacity_after_loss(bp, site.name)
        if usable < need:
            return False
    return True
