"""The platform as day-2 operations see it: which host runs what, in which site (pure).

Drain, upgrade and drill decisions need only a small part of the plan. This view is built
from the plan's data (``Plan.data`` or the ``plan.json`` it was rendered to), so a decision
made later is made against the same topology ``up`` built, not against a re-read blueprint
that may have changed since.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sovplatform.plan.build import Plan

# The plan's quorum keys, in the order reports list them.
QUORUM_KEYS: tuple[str, ...] = ("etcd", "ceph_mon", "openbao")
QUORUM_LABELS: dict[str, str] = {"etcd": "etcd", "ceph_mon": "ceph mon", "openbao": "openbao"}


class OpsInputError(ValueError):
    """A request that names something the plan does not have; the message is one line for the user."""


@dataclass(frozen=True)
class HostRef:
    name: str
    site: str
    roles: frozenset[str]


@dataclass(frozen=True)
class PoolSpec:
    name: str
    application: str
    size: int
    min_size: int
    failure_domain: str  # "datacenter" for every valid blueprint; "host"/"osd" handled conservatively


@dataclass(frozen=True)
class PlatformLayout:
    """Sites and hosts in blueprint order, plus who holds each Ceph, quorum and gateway duty."""

    sites: tuple[str, ...]
    hosts: tuple[HostRef, ...]
    quorums: Mapping[str, tuple[str, ...]]  # QUORUM_KEYS -> member host names
    pools: tuple[PoolSpec, ...]
    osd_hosts: tuple[str, ...]
    mgr_hosts: tuple[str, ...]
    gateway_hosts: tuple[str, ...]  # HAProxy + RGW

    def site_of(self, host: str) -> str:
        for h in self.hosts:
            if h.name == host:
                return h.site
        raise OpsInputError(f"unknown host {host!r}")

    def hosts_in_site(self, site: str) -> tuple[str, ...]:
        if site not in self.sites:
            raise OpsInputError(f"unknown site {site!r}; sites are {', '.join(self.sites)}")
        return tuple(h.name for h in self.hosts if h.site == site)

    def host_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts)


def _plan_data(plan: Plan | Mapping[str, Any]) -> Mapping[str, Any]:
    return plan.data if isinstance(plan, Plan) else plan


def layout_from_plan(plan: Plan | Mapping[str, Any], *, mgr_hosts: Sequence[str] | None = None) -> PlatformLayout:
    """The layout of a plan (a ``Plan`` or the dict in ``plan.json``).

    Ceph managers are not planned separately: like ceph-ansible and cephadm's default
    placement, one runs beside every monitor, which puts one in every site. Pass
    ``mgr_hosts`` when they were placed otherwise.
    """
    data = _plan_data(plan)
    sites = tuple(s["name"] for s in data["sites"])
    hosts = tuple(HostRef(h["name"], h["site"], frozenset(h["roles"])) for h in data["hosts"])
    quorums = {key: tuple(data["quorums"][key]["members"]) for key in QUORUM_KEYS}
    pools = tuple(
        PoolSpec(p["name"], p["application"], int(p["size"]), int(p["min_size"]), p["failure_domain"])
        for p in data["pools"]
    )
    # The CRUSH map is what Ceph places copies on: a storage host without disks holds none.
    crush = data.get("crush", {}).get("datacenters")
    if crush is not None:
        osd = tuple(h for dc in crush for h in dc["hosts"])
    else:
        osd = tuple(h.name for h in hosts if "storage" in h.roles)
    layout = PlatformLayout(
        sites=sites,
        hosts=hosts,
        quorums=quorums,
        pools=pools,
        osd_hosts=osd,
        mgr_hosts=tuple(mgr_hosts) if mgr_hosts is not None else quorums["ceph_mon"],
        gateway_hosts=tuple(h.name for h in hosts if "gateway" in h.roles),
    )
    check_names(layout, layout.mgr_hosts, "mgr host")
    return layout


def check_names(layout: PlatformLayout, names: Iterable[str], what: str = "host") -> None:
    known = set(layout.host_names())
    unknown = sorted(set(names) - known)
    if unknown:
        raise OpsInputError(f"unknown {what}(s): {', '.join(unknown)}; hosts are {', '.join(sorted(known))}")


def select_hosts(layout: PlatformLayout, *, hosts: Iterable[str] = (), sites: Iterable[str] = ()) -> frozenset[str]:
    """The hosts a ``--host H`` / ``--site S`` request names; unknown names are refused."""
    chosen = set(hosts)
    check_names(layout, chosen)
    for site in sites:
        chosen.update(layout.hosts_in_site(site))
    return frozenset(chosen)
