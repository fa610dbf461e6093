"""What taking hosts out of service would do to every quorum, pool and service (pure).

The verdict answers one question: after these hosts stop, does every quorum keep a strict
majority, does every Ceph placement group keep at least min_size copies, is a Ceph manager
left in two sites and a gateway somewhere? A request that breaks any of them, or that takes
yet another member from something already broken, is refused with one line per reason.
Something already broken that the request does not touch is only a warning: draining a
compute host must stay possible while an unrelated quorum is being repaired.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sovplatform.plan.layout import QUORUM_KEYS, QUORUM_LABELS, OpsInputError, PlatformLayout, PoolSpec, check_names
from sovplatform.plan.observed import Observed

MIN_MGR_SITES = 2


@dataclass(frozen=True)
class QuorumImpact:
    key: str  # a QUORUM_KEYS entry
    label: str
    members: tuple[str, ...]
    majority: int  # of the configured members: a Raft/Paxos vote counts absent members as "no"
    up_before: tuple[str, ...]
    up_after: tuple[str, ...]
    taken_out: tuple[str, ...]  # members up now that this request stops

    @property
    def holds_before(self) -> bool:
        return len(self.up_before) >= self.majority

    @property
    def holds_after(self) -> bool:
        return len(self.up_after) >= self.majority


@dataclass(frozen=True)
class PoolImpact:
    """Copies of the worst-placed placement group (PG), before and after the request.

    CRUSH puts each copy of a PG in a different failure-domain bucket (a site, for
    ``datacenter``) on one OSD host there. With enough PGs every combination of buckets and
    hosts occurs, so some PG has its copy on each down host of as many impaired buckets as it
    can: that PG decides whether I/O stops. Copies on down OSDs are not re-created elsewhere
    while ``noout`` is set or, for a whole site, ever (mon_osd_down_out_subtree_limit).
    """

    pool: PoolSpec
    copies_before: int
    copies_after: int  # worst-placed PG
    best_copies_after: int  # best-placed PG
    copies_after_recovery: int  # if the down OSDs were marked out and recovery completed
    impaired_after: tuple[str, ...]  # buckets where some copy-holding OSD host is down
    taken_out: tuple[str, ...]  # copy-holding OSD hosts up now that this request stops

    @property
    def active_before(self) -> bool:
        return self.copies_before >= self.pool.min_size

    @property
    def active_after(self) -> bool:
        return self.copies_after >= self.pool.min_size

    @property
    def degraded_after(self) -> bool:
        return self.copies_after < self.pool.size


@dataclass(frozen=True)
class MgrImpact:
    hosts: tuple[str, ...]
    up_before: tuple[str, ...]
    up_after: tuple[str, ...]
    sites_before: tuple[str, ...]
    sites_after: tuple[str, ...]
    taken_out: tuple[str, ...]

    @property
    def ok_before(self) -> bool:
        return len(self.sites_before) >= MIN_MGR_SITES

    @property
    def ok_after(self) -> bool:
        return len(self.sites_after) >= MIN_MGR_SITES


@dataclass(frozen=True)
class GatewaySiteImpact:
    """HAProxy + RGW in one site; clients of a site without one fail over to other sites."""

    site: str
    hosts: tuple[str, ...]
    up_before: tuple[str, ...]
    up_after: tuple[str, ...]
    site_serving_after: bool  # any host of the site still up

    @property
    def local_after(self) -> bool:
        return bool(self.up_after)


@dataclass(frozen=True)
class Impact:
    requested: tuple[str, ...]
    newly_down: tuple[str, ...]  # requested and up now
    already_down: tuple[str, ...]
    down_after: tuple[str, ...]
    quorums: tuple[QuorumImpact, ...]
    pools: tuple[PoolImpact, ...]
    mgr: MgrImpact
    gateways: tuple[GatewaySiteImpact, ...]
    noout: tuple[str, ...]  # OSD hosts to flag noout so Ceph does not start re-replicating their data
    allowed: bool
    reasons: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def gateway_available_after(self) -> bool:
        return any(g.up_after for g in self.gateways)


def pg_copies(
    size: int, buckets: int, impaired: int, dark: int | None = None, *, shared_buckets: bool = False
) -> tuple[int, int]:
    """(worst, best) copies of a PG whose ``size`` copies sit in distinct buckets of ``buckets``.

    ``impaired`` buckets have some copy-holding host down (some PGs lost their copy there);
    ``dark`` of them (default: all) have every such host down (every PG lost its copy there).
    ``shared_buckets``: copies may share a host (failure domain ``osd``), so one impaired
    bucket can hold every copy of a PG.
    """
    placed = min(size, buckets)
    dark = impaired if dark is None else dark
    if shared_buckets:
        return (0 if impaired else placed), placed
    return placed - min(placed, impaired), min(placed, buckets - dark)


def _ordered(layout: PlatformLayout, names: Iterable[str]) -> tuple[str, ...]:
    wanted = set(names)
    return tuple(h for h in layout.host_names() if h in wanted)


def _quorum(layout: PlatformLayout, key: str, down: frozenset[str], out: frozenset[str]) -> QuorumImpact:
    members = layout.quorums[key]
    up_before = tuple(m for m in members if m not in down)
    return QuorumImpact(
        key=key,
        label=QUORUM_LABELS[key],
        members=members,
        majority=len(members) // 2 + 1,
        up_before=up_before,
        up_after=tuple(m for m in up_before if m not in out),
        taken_out=tuple(m for m in up_before if m in out),
    )


def _pool(layout: PlatformLayout, pool: PoolSpec, observed: Observed, out: frozenset[str]) -> PoolImpact:
    site = {h.name: h.site for h in layout.hosts}

    def bucket(host: str) -> str:
        return site[host] if pool.failure_domain == "datacenter" else host

    holders = [h for h in layout.osd_hosts if h not in observed.osds_out]
    buckets = {bucket(h) for h in holders}
    shared = pool.failure_domain == "osd"
    impaired_before = {bucket(h) for h in holders if h in observed.down}
    down_after = observed.down | out
    impaired_after = {bucket(h) for h in holders if h in down_after}
    dark_after = buckets - {bucket(h) for h in holders if h not in down_after}
    worst_before, _ = pg_copies(pool.size, len(buckets), len(impaired_before), shared_buckets=shared)
    worst_after, best_after = pg_copies(
        pool.size, len(buckets), len(impaired_after), len(dark_after), shared_buckets=shared
    )
    serving = {bucket(h) for h in layout.osd_hosts if h not in down_after and h not in observed.osds_out}
    return PoolImpact(
        pool=pool,
        copies_before=worst_before,
        copies_after=worst_after,
        best_copies_after=best_after,
        copies_after_recovery=min(pool.size, len(serving)),
        impaired_after=tuple(b for b in (*layout.sites, *layout.host_names()) if b in impaired_after),
        taken_out=_ordered(layout, (h for h in holders if h in out and h not in observed.down)),
    )


def _mgr(layout: PlatformLayout, down: frozenset[str], out: frozenset[str]) -> MgrImpact:
    site = {h.name: h.site for h in layout.hosts}
    up_before = tuple(m for m in layout.mgr_hosts if m not in down)
    up_after = tuple(m for m in up_before if m not in out)

    def sites(hosts: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(s for s in layout.sites if any(site[h] == s for h in hosts))

    return MgrImpact(
        hosts=layout.mgr_hosts,
        up_before=up_before,
        up_after=up_after,
        sites_before=sites(up_before),
        sites_after=sites(up_after),
        taken_out=tuple(m for m in up_before if m in out),
    )


def _gateways(layout: PlatformLayout, down: frozenset[str], out: frozenset[str]) -> tuple[GatewaySiteImpact, ...]:
    result = []
    for s in layout.sites:
        in_site = layout.hosts_in_site(s)
        gws = tuple(h for h in layout.gateway_hosts if h in in_site)
        up_before = tuple(h for h in gws if h not in down)
        result.append(
            GatewaySiteImpact(
                site=s,
                hosts=gws,
                up_before=up_before,
                up_after=tuple(h for h in up_before if h not in out),
                site_serving_after=any(h not in down and h not in out for h in in_site),
            )
        )
    return tuple(result)


def _copies(n: int) -> str:
    return f"{n} copy" if n == 1 else f"{n} copies"


def assess_impact(layout: PlatformLayout, observed: Observed, take_out: Iterable[str]) -> Impact:
    """The impact of stopping ``take_out`` on top of what ``observed`` says is already out.

    Raises OpsInputError when a host name is not in the plan.
    """
    requested = frozenset(take_out)
    check_names(layout, requested)
    check_names(layout, observed.down, "down host")
    check_names(layout, observed.osds_out, "out OSD host")
    down = frozenset(observed.down)
    out = requested - down
    reasons: list[str] = []
    warnings: list[str] = []
    if not requested:
        warnings.append("no host to take out: nothing changes")
    for host in _ordered(layout, requested & down):
        warnings.append(f"{host} is already down: nothing changes for it")

    quorums = tuple(_quorum(layout, key, down, out) for key in QUORUM_KEYS)
    for q in quorums:
        if q.holds_after:
            continue
        if q.taken_out:
            already = "" if q.holds_before else f" (only {len(q.up_before)} up already)"
            reasons.append(
                f"{q.label}: {len(q.up_after)} of {len(q.members)} members would remain, "
                f"quorum needs {q.majority}{already}"
            )
        else:
            warnings.append(
                f"{q.label}: already without quorum ({len(q.up_before)} of {len(q.members)} members up, "
                f"quorum needs {q.majority}); this request does not change it"
            )

    pools = tuple(_pool(layout, p, observed, out) for p in layout.pools)
    for p in pools:
        if p.active_after:
            continue
        if p.taken_out:
            where = ", ".join(p.impaired_after)
            reasons.append(
                f"pool {p.pool.name}: {_copies(p.copies_after)} would remain, min_size is {p.pool.min_size} — "
                f"PGs would go inactive (copies down in {where})"
            )
        else:
            warnings.append(
                f"pool {p.pool.name}: PGs already inactive ({_copies(p.copies_before)} up, "
                f"min_size {p.pool.min_size}); this request does not change it"
            )

    mgr = _mgr(layout, down, out)
    if not mgr.ok_after:
        if not mgr.up_after:
            problem = "no mgr would remain (no status, metrics or balancer)"
        else:
            problem = (
                f"mgrs would remain only in {', '.join(mgr.sites_after)}; {MIN_MGR_SITES} sites are needed "
                "so that losing one more site still leaves a mgr"
            )
        if mgr.taken_out:
            reasons.append(f"ceph mgr: {problem}")
        elif mgr.hosts:
            warnings.append(f"ceph mgr: already below {MIN_MGR_SITES} sites; this request does not change it")

    gateways = _gateways(layout, down, out)
    took_gateway = any(g.up_before != g.up_after for g in gateways)
    if layout.gateway_hosts and not any(g.up_after for g in gateways):
        if took_gateway:
            reasons.append("gateway: no gateway would remain; S3 and the OpenBao endpoint would be unreachable")
        else:
            warnings.append("gateway: none is up already; this request does not change it")
    for g in gateways:
        if g.up_before and not g.up_after and g.site_serving_after:
            warnings.append(
                f"gateway: site {g.site} would have no local gateway; its clients go to other sites' gateways"
            )

    noout = _ordered(layout, (h for h in layout.osd_hosts if h in out and h not in observed.osds_out))
    return Impact(
        requested=_ordered(layout, requested),
        newly_down=_ordered(layout, out),
        already_down=_ordered(layout, down),
        down_after=_ordered(layout, down | out),
        quorums=quorums,
        pools=pools,
        mgr=mgr,
        gateways=gateways,
        noout=noout,
        allowed=not reasons,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
    )


def assess_site_loss(layout: PlatformLayout, observed: Observed, site: str) -> Impact:
    """Shorthand for taking out every host of one site."""
    if site not in layout.sites:
        raise OpsInputError(f"unknown site {site!r}; sites are {', '.join(layout.sites)}")
    return assess_impact(layout, observed, layout.hosts_in_site(site))
