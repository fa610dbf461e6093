"""The impact of taking hosts out: verdicts and reasons on the shipped blueprints and small layouts."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from sovplatform.blueprint import load_blueprint
from sovplatform.plan.build import build_plan, render_files
from sovplatform.plan.impact import assess_impact, assess_site_loss, pg_copies
from sovplatform.plan.impact_report import impact_lines, impact_to_dict
from sovplatform.plan.layout import HostRef, OpsInputError, PlatformLayout, PoolSpec, layout_from_plan, select_hosts
from sovplatform.plan.observed import Observed
from tests.helpers import LAB
from tests.unit.ops_topologies import lab_layout, odc_layout

NONE = Observed()


def down(*hosts: str, out: tuple[str, ...] = ()) -> Observed:
    return Observed(down=frozenset(hosts), osds_out=frozenset(out))


def test_one_host_of_a_two_host_site_is_allowed_degraded() -> None:
    impact = assess_impact(lab_layout(), NONE, ["dc1-b"])
    assert impact.allowed, impact.reasons
    assert impact.noout == ("dc1-b",)
    for pool in impact.pools:
        assert (pool.copies_before, pool.copies_after, pool.best_copies_after) == (3, 2, 3)
        assert pool.active_after and pool.degraded_after
        assert pool.impaired_after == ("dc1",)
    assert all(q.holds_after and not q.taken_out for q in impact.quorums)


def test_a_whole_site_is_allowed() -> None:
    impact = assess_site_loss(lab_layout(), NONE, "dc1")
    assert impact.allowed, impact.reasons
    assert impact.newly_down == ("dc1-a", "dc1-b")
    assert {q.key: (len(q.up_after), q.majority) for q in impact.quorums} == {
        "etcd": (2, 2),
        "ceph_mon": (2, 2),
        "openbao": (2, 2),
    }
    assert impact.mgr.sites_after == ("dc2", "dc3")
    assert impact.warnings == ()  # the drained site's own gateway going away is the point, not news


def test_a_second_site_while_one_is_down_is_refused() -> None:
    impact = assess_site_loss(lab_layout(), down("dc1-a", "dc1-b"), "dc2")
    assert not impact.allowed
    assert "etcd: 1 of 3 members would remain, quorum needs 2" in impact.reasons
    assert "ceph mon: 1 of 3 members would remain, quorum needs 2" in impact.reasons
    assert "openbao: 1 of 3 members would remain, quorum needs 2" in impact.reasons
    assert (
        "pool rbd: 1 copy would remain, min_size is 2 — PGs would go inactive (copies down in dc1, dc2)"
        in impact.reasons
    )
    assert any(r.startswith("ceph mgr: mgrs would remain only in dc3") for r in impact.reasons)


def test_hosts_in_two_sites_are_refused_by_placement_even_with_every_quorum_intact() -> None:
    # Some PG has its dc1 copy on dc1-b and its dc2 copy on dc2-b: it would keep one copy.
    impact = assess_impact(lab_layout(), down("dc1-b"), ["dc2-b"])
    assert [r.split(":")[0] for r in impact.reasons] == ["pool rbd", "pool default.rgw.buckets.data"]
    assert all(q.holds_after for q in impact.quorums)


def test_a_host_whose_data_was_recovered_elsewhere_costs_no_copy() -> None:
    impact = assess_impact(lab_layout(), down("dc1-b", out=("dc1-b",)), ["dc2-b"])
    assert impact.allowed, impact.reasons
    assert all(p.copies_before == 3 and p.copies_after == 2 for p in impact.pools)


def test_untouched_broken_quorum_is_a_warning_touched_one_a_refusal() -> None:
    layout = odc_layout()
    broken = down("noord-cp1", "midden-cp1")  # etcd and openbao: 1 of 3 up
    compute = assess_impact(layout, broken, ["zuid-cmp1"])
    assert compute.allowed
    assert any(w.startswith("etcd: already without quorum (1 of 3 members up") for w in compute.warnings)
    member = assess_impact(layout, broken, ["zuid-cp1"])
    assert not member.allowed
    assert "etcd: 0 of 3 members would remain, quorum needs 2 (only 1 up already)" in member.reasons


def test_a_member_with_one_other_member_down_is_refused() -> None:
    impact = assess_impact(odc_layout(), down("noord-cp1"), ["midden-cp1"])
    assert impact.reasons == (
        "etcd: 1 of 3 members would remain, quorum needs 2",
        "openbao: 1 of 3 members would remain, quorum needs 2",
    )


def test_storage_hosts_of_one_site_are_allowed_of_two_sites_refused() -> None:
    layout = odc_layout()
    assert assess_impact(layout, NONE, ["noord-st1", "noord-st2", "noord-st3"]).allowed
    two = assess_impact(layout, NONE, ["noord-st2", "midden-st3"])
    assert not two.allowed
    assert all(r.startswith("pool ") for r in two.reasons)


def test_gateways() -> None:
    layout = odc_layout()
    one = assess_impact(layout, NONE, ["noord-gw1"])
    assert one.allowed
    assert one.warnings == (
        "gateway: site odc-noord would have no local gateway; its clients go to other sites' gateways",
    )
    every = assess_impact(layout, NONE, ["noord-gw1", "midden-gw1", "zuid-gw1"])
    assert every.reasons == ("gateway: no gateway would remain; S3 and the OpenBao endpoint would be unreachable",)
    assert not every.gateway_available_after


def test_mgrs_must_stay_in_two_sites() -> None:
    layout = layout_from_plan(build_plan(load_blueprint(LAB)), mgr_hosts=["dc1-a", "dc2-a"])
    impact = assess_impact(layout, NONE, ["dc2-a"])
    assert impact.reasons == (
        "ceph mgr: mgrs would remain only in dc1; 2 sites are needed so that losing one more site still leaves a mgr",
    )
    gone = assess_impact(replace(layout, mgr_hosts=("dc1-a",)), NONE, ["dc1-a"])
    assert "ceph mgr: no mgr would remain (no status, metrics or balancer)" in gone.reasons


def test_requests_that_change_nothing() -> None:
    layout = lab_layout()
    empty = assess_impact(layout, NONE, [])
    assert empty.allowed and empty.warnings == ("no host to take out: nothing changes",)
    again = assess_impact(layout, down("dc1-b"), ["dc1-b"])
    assert again.allowed and again.newly_down == () and again.noout == ()
    assert again.warnings == ("dc1-b is already down: nothing changes for it",)


def test_unknown_names_are_input_errors() -> None:
    layout = lab_layout()
    with pytest.raises(OpsInputError, match="unknown host\\(s\\): nope"):
        assess_impact(layout, NONE, ["nope"])
    with pytest.raises(OpsInputError, match="unknown down host"):
        assess_impact(layout, down("ghost"), [])
    with pytest.raises(OpsInputError, match="unknown site 'dc9'; sites are dc1, dc2, dc3"):
        assess_site_loss(layout, NONE, "dc9")
    with pytest.raises(OpsInputError, match="unknown site"):
        select_hosts(layout, sites=["dc9"])
    assert select_hosts(layout, hosts=["dc2-a"], sites=["dc1"]) == {"dc1-a", "dc1-b", "dc2-a"}


@pytest.mark.parametrize(
    ("size", "buckets", "impaired", "expected"),
    [
        (3, 3, 0, (3, 3)),
        (3, 3, 1, (2, 2)),
        (3, 3, 2, (1, 1)),
        (3, 5, 2, (1, 3)),  # a PG may land on both impaired sites, or on neither
        (3, 5, 3, (0, 2)),
        (4, 5, 2, (2, 3)),
        (3, 2, 0, (2, 2)),  # fewer buckets than copies: undersized for good
    ],
)
def test_pg_copies(size: int, buckets: int, impaired: int, expected: tuple[int, int]) -> None:
    assert pg_copies(size, buckets, impaired) == expected


def test_pg_copies_partly_impaired_buckets() -> None:
    # one host of a two-host site down: some PGs lose their copy there, others keep all three
    assert pg_copies(3, 3, 1, 0) == (2, 3)
    assert pg_copies(3, 3, 1, 0, shared_buckets=True) == (0, 3)


def _five_sites(pool: PoolSpec) -> PlatformLayout:
    sites = tuple(f"s{i}" for i in range(5))
    hosts = tuple(HostRef(f"{s}-a", s, frozenset({"etcd", "kms", "storage", "gateway"})) for s in sites)
    names = tuple(h.name for h in hosts)
    return PlatformLayout(
        sites=sites,
        hosts=hosts,
        quorums={"etcd": names, "ceph_mon": names, "openbao": names},
        pools=(pool,),
        osd_hosts=names,
        mgr_hosts=names,
        gateway_hosts=names,
    )


def test_five_sites_lose_two_only_where_the_pools_allow() -> None:
    observed = down("s0-a")
    size3 = assess_impact(_five_sites(PoolSpec("rbd", "rbd", 3, 2, "datacenter")), observed, ["s1-a"])
    assert size3.reasons == (
        "pool rbd: 1 copy would remain, min_size is 2 — PGs would go inactive (copies down in s0, s1)",
    )
    assert size3.pools[0].copies_after_recovery == 3  # had the down OSDs been marked out and recovered
    size4 = assess_impact(_five_sites(PoolSpec("rbd", "rbd", 4, 2, "datacenter")), observed, ["s1-a"])
    assert size4.allowed, size4.reasons


def test_failure_domains_host_and_osd() -> None:
    host = assess_impact(replace(lab_layout(), pools=(PoolSpec("h", "rbd", 3, 2, "host"),)), NONE, ["dc1-a", "dc1-b"])
    assert host.pools[0].copies_after == 1 and not host.allowed  # both hosts of one site may hold copies of a PG
    osd = assess_impact(replace(lab_layout(), pools=(PoolSpec("o", "rbd", 3, 2, "osd"),)), NONE, ["dc1-b"])
    assert osd.pools[0].copies_after == 0  # every copy of a PG may sit on one host


def test_layout_from_plan_json_equals_layout_from_plan() -> None:
    plan = build_plan(load_blueprint(LAB))
    assert layout_from_plan(json.loads(render_files(plan)["plan.json"])) == layout_from_plan(plan)


def test_table_and_dict() -> None:
    impact = assess_site_loss(lab_layout(), down("dc1-a", "dc1-b"), "dc2")
    lines = impact_lines(impact)
    assert lines[0] == "take out: dc2-a, dc2-b"
    assert lines[1] == "already down: dc1-a, dc1-b"
    header = next(line for line in lines if line.startswith("CHECK"))
    etcd = next(line for line in lines if line.startswith("etcd "))
    assert etcd.index("2/3") == header.index("BEFORE")
    assert etcd.endswith("REFUSED: quorum lost")
    verdict = lines.index("verdict: refused")
    assert lines[verdict + 1 :] == [f"  - {r}" for r in impact.reasons]
    data = json.loads(json.dumps(impact_to_dict(impact)))
    assert data["allowed"] is False
    assert data["quorums"]["etcd"]["up_after"] == ["dc3-a"]
    assert data["pools"][0]["copies_after"] == 1
    assert data["gateways"]["available_after"] is True

    allowed = impact_lines(assess_impact(lab_layout(), NONE, ["dc1-b"]))
    assert allowed[-1] == "verdict: allowed"
    assert "set noout on: dc1-b (Ceph must not re-replicate their data meanwhile)" in allowed
    assert any(line.endswith("ok, degraded (2 of 3 copies in the worst-placed PG)") for line in allowed)
