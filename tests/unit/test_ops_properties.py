"""Property-based tests for the day-2 decisions on random valid 3-5 site topologies.

The PG oracle enumerates every placement CRUSH could choose (one copy per distinct site, on
any OSD host there) instead of reusing the impact module's counting.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sovplatform.plan.drill import choose_auto_leader_site
from sovplatform.plan.impact import MIN_MGR_SITES, assess_impact, assess_site_loss
from sovplatform.plan.layout import QUORUM_KEYS, PlatformLayout, PoolSpec
from sovplatform.plan.observed import Leaders, Observed
from sovplatform.plan.rollout import COMPONENTS, Component, Rollout, plan_rollout, resume_rollout
from tests.unit.ops_topologies import three_site_layouts, valid_layouts

SETTINGS = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
HEALTHY = Observed()
RolloutCase = tuple[PlatformLayout, Component, Leaders, Rollout]


def placement_copies(layout: PlatformLayout, pool: PoolSpec, down: set[str], out: set[str]) -> tuple[int, int]:
    """(fewest, most) up copies over every placement of a PG: `size` distinct sites, one holder in each."""
    site = {h.name: h.site for h in layout.hosts}
    holders = {s: [h for h in layout.osd_hosts if site[h] == s and h not in out] for s in layout.sites}
    eligible = [s for s in layout.sites if holders[s]]
    counts = [
        sum(1 for h in pick if h not in down)
        for chosen in itertools.combinations(eligible, min(pool.size, len(eligible)))
        for pick in itertools.product(*(holders[s] for s in chosen))
    ]
    return min(counts), max(counts)


def healthy_after(layout: PlatformLayout, gone: set[str]) -> bool:
    """Every safety line holds once `gone` is down, judged from the layout alone."""
    for key in QUORUM_KEYS:
        members = layout.quorums[key]
        if 2 * sum(1 for m in members if m not in gone) <= len(members):
            return False
    for pool in layout.pools:
        if placement_copies(layout, pool, gone, set())[0] < pool.min_size:
            return False
    site = {h.name: h.site for h in layout.hosts}
    if len({site[m] for m in layout.mgr_hosts if m not in gone}) < MIN_MGR_SITES:
        return False
    return any(g not in gone for g in layout.gateway_hosts)


def site_hosts(layout: PlatformLayout, site: str) -> list[str]:
    return list(layout.hosts_in_site(site))


# --------------------------------------------------------------------------- impact


@SETTINGS
@given(valid_layouts)
def test_any_single_site_or_host_of_a_valid_platform_can_be_taken_out(layout: PlatformLayout) -> None:
    event(f"{len(layout.sites)} sites, {len(layout.quorums['ceph_mon'])} mons, {len(layout.host_names())} hosts")
    for site in layout.sites:
        impact = assess_site_loss(layout, HEALTHY, site)
        assert impact.allowed, (site, impact.reasons)
    for host in layout.host_names():
        assert assess_impact(layout, HEALTHY, [host]).allowed, host


@SETTINGS
@given(three_site_layouts)
def test_two_sites_of_three_are_always_refused(layout: PlatformLayout) -> None:
    for a, b in itertools.permutations(layout.sites, 2):
        both = assess_impact(layout, HEALTHY, site_hosts(layout, a) + site_hosts(layout, b))
        assert not both.allowed, (a, b)
        second = assess_site_loss(layout, Observed(down=frozenset(site_hosts(layout, a))), b)
        assert not second.allowed, (a, b)
        assert any(r.startswith("etcd:") for r in second.reasons)


@st.composite
def layout_and_hosts(draw: st.DrawFn) -> tuple[PlatformLayout, set[str], set[str], set[str]]:
    layout = draw(valid_layouts)
    names = list(layout.host_names())
    down = draw(st.sets(st.sampled_from(names), max_size=3))
    out = draw(st.sets(st.sampled_from(names), max_size=2)) & set(layout.osd_hosts)
    request = draw(st.sets(st.sampled_from(names), min_size=1, max_size=4))
    return layout, down, out, request


@SETTINGS
@given(layout_and_hosts())
def test_copies_match_every_crush_placement(case: tuple[PlatformLayout, set[str], set[str], set[str]]) -> None:
    layout, down, out, request = case
    impact = assess_impact(layout, Observed(frozenset(down), frozenset(out)), request)
    for pool in impact.pools:
        worst, best = placement_copies(layout, pool.pool, down | request, out)
        assert (pool.copies_after, pool.best_copies_after) == (worst, best)
        assert pool.copies_before == placement_copies(layout, pool.pool, down, out)[0]


@SETTINGS
@given(valid_layouts, st.data())
def test_from_a_healthy_platform_allowed_means_every_safety_line_holds(
    layout: PlatformLayout, data: st.DataObject
) -> None:
    request = data.draw(st.sets(st.sampled_from(layout.host_names()), max_size=6))
    impact = assess_impact(layout, HEALTHY, request)
    event("allowed" if impact.allowed else "refused")
    assert impact.allowed == healthy_after(layout, request)
    assert impact.allowed == (not impact.reasons)


@SETTINGS
@given(layout_and_hosts(), st.data())
def test_a_smaller_request_is_never_refused_where_a_larger_one_is_allowed(
    case: tuple[PlatformLayout, set[str], set[str], set[str]], data: st.DataObject
) -> None:
    layout, down, out, request = case
    observed = Observed(frozenset(down), frozenset(out))
    allowed = assess_impact(layout, observed, request).allowed
    event(f"allowed={allowed}, request of {len(request)}")
    if not allowed:
        return
    subset = data.draw(st.sets(st.sampled_from(sorted(request)))) if request else set()
    assert assess_impact(layout, observed, subset).allowed


# --------------------------------------------------------------------------- rollout


@st.composite
def rollouts(draw: st.DrawFn) -> RolloutCase:
    layout = draw(valid_layouts)
    component = draw(st.sampled_from(COMPONENTS))

    def maybe(hosts: tuple[str, ...]) -> str | None:
        return draw(st.one_of(st.none(), st.sampled_from(hosts)))

    leaders = Leaders(
        etcd_leader=maybe(layout.quorums["etcd"]),
        openbao_active=maybe(layout.quorums["openbao"]),
        ceph_leader_mon=maybe(layout.quorums["ceph_mon"]),
        ceph_active_mgr=maybe(layout.mgr_hosts),
    )
    return layout, component, leaders, plan_rollout(layout, component, leaders, draw(st.sampled_from([None, "9.9.9"])))


@SETTINGS
@given(rollouts())
def test_rollout_order(case: RolloutCase) -> None:
    layout, component, leaders, rollout = case
    expected = {
        "etcd": {"etcd": layout.quorums["etcd"]},
        "openbao": {"openbao": layout.quorums["openbao"]},
        "ceph": {
            "mgr": layout.mgr_hosts,
            "mon": layout.quorums["ceph_mon"],
            "osd": layout.osd_hosts,
            "rgw": layout.gateway_hosts,
        },
    }[component]
    leader_of = {
        "etcd": leaders.etcd_leader,
        "openbao": leaders.openbao_active,
        "mgr": leaders.ceph_active_mgr,
        "mon": leaders.ceph_leader_mon,
    }
    kinds = [s.daemon for s in rollout.steps]
    assert [k for k, _ in itertools.groupby(kinds)] == [k for k in expected if expected[k]]  # kinds never interleave
    assert len(set(rollout.step_ids())) == len(rollout.steps)
    order = {h: i for i, h in enumerate(layout.host_names())}
    for daemon, members in expected.items():
        steps = [s for s in rollout.steps if s.daemon == daemon]
        assert sorted(s.host for s in steps) == sorted(members)  # every host exactly once
        sites = [s.site for s in steps]
        runs = [site for site, _ in itertools.groupby(sites)]
        assert len(runs) == len(set(runs)), f"{daemon}: sites not contiguous: {sites}"
        leader = leader_of.get(daemon)
        if leader is not None:
            assert steps[-1].host == leader and steps[-1].leader
            assert sum(s.leader for s in steps) == 1
        for _, group in itertools.groupby(steps, key=lambda s: s.site):
            followers = [s.host for s in group if not s.leader]
            assert followers == sorted(followers, key=order.__getitem__)
    if component in ("etcd", "openbao") and leader_of[component] is not None:
        assert rollout.steps[-1].host == leader_of[component]


@SETTINGS
@given(rollouts(), st.data())
def test_resume_keeps_order_and_skips_exactly_the_completed(case: RolloutCase, data: st.DataObject) -> None:
    rollout = case[3]
    ids = list(rollout.step_ids())
    completed = data.draw(st.sets(st.sampled_from(ids))) if ids else set()
    resume = resume_rollout(rollout, completed)
    assert [s.id for s in resume.remaining] == [i for i in ids if i not in completed]
    assert [s.id for s in resume.done] == [i for i in ids if i in completed]
    assert resume.unknown == ()


# --------------------------------------------------------------------------- drill


@SETTINGS
@given(rollouts())
def test_auto_leader_takes_a_site_holding_the_most_leaders(case: RolloutCase) -> None:
    layout, _, leaders, _ = case
    observed = [h for h in (leaders.etcd_leader, leaders.openbao_active, leaders.ceph_leader_mon) if h]
    if not observed:
        return
    target = choose_auto_leader_site(layout, leaders)
    assert sum(target.leaders_per_site.values()) == len(observed)
    assert target.leaders_per_site[target.site] == max(target.leaders_per_site.values())
    assert choose_auto_leader_site(layout, leaders) == target
