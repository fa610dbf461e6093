"""The pure parts of the Ceph checks: reading `pg ls` answers and telling passing PG states
from lasting ones (verify asks again only for the former)."""

from __future__ import annotations

from typing import Any

from sovplatform.checks import ceph


def _answers(*states: str) -> dict[str, Any]:
    return {"pgs": {"pg_stats": [{"pgid": f"1.{i}", "state": s} for i, s in enumerate(states)]}}


def test_clean_pgs_pass_and_are_not_settling() -> None:
    a = _answers("active+clean", "active+clean")
    assert ceph._pgs_clean(a).ok
    assert not ceph._settling(a)


def test_scrubbing_is_routine_work_on_a_clean_pg() -> None:
    # Seen on Ceph 18 right after a drill: a scheduled scrub is no reason to fail verify.
    a = _answers("active+clean", "active+clean+scrubbing", "active+clean+scrubbing+deep", "active+clean+snaptrim")
    check = ceph._pgs_clean(a)
    assert check.ok, check.detail
    assert check.detail == (
        "1 active+clean, 1 active+clean+scrubbing, 1 active+clean+scrubbing+deep, 1 active+clean+snaptrim"
    )
    # What a scrub finds is not routine, and neither is anything without "clean".
    assert not ceph._pgs_clean(_answers("active+clean+scrubbing+inconsistent")).ok
    assert not ceph._pgs_clean(_answers("active+scrubbing")).ok
    assert not ceph.pg_is_clean("active+clean+remapped")


def test_new_pool_pgs_are_settling_and_fail_until_clean() -> None:
    a = _answers("active+clean", "creating+peering", "peering")
    check = ceph._pgs_clean(a)
    assert not check.ok
    assert check.detail == "1 active+clean, 1 creating+peering, 1 peering"
    assert ceph._settling(a)


def test_degraded_pgs_are_reported_at_once() -> None:
    a = _answers("active+clean", "active+undersized+degraded")
    assert not ceph._pgs_clean(a).ok
    assert not ceph._settling(a)


def test_failed_pg_query_is_not_settling() -> None:
    a = {"pgs": ceph._Error("exit 1")}
    assert not ceph._settling(a)
    assert not ceph._pgs_clean(a).ok


def test_framed_script_output_parses_per_query() -> None:
    out = "\n".join(
        [
            f"{ceph.MARK} health",
            '{"status": "HEALTH_OK"}',
            f"{ceph.MARK} rc 0",
            f"{ceph.MARK} pgs",
            "",
            f"{ceph.MARK} rc 1",
            f"{ceph.MARK} err Error EACCES: denied",
        ]
    )
    parsed = ceph._parse(out)
    assert parsed["health"] == {"status": "HEALTH_OK"}
    assert isinstance(parsed["pgs"], ceph._Error) and "EACCES" in parsed["pgs"]


def _tree() -> dict[str, Any]:
    # `ceph osd tree --format json` shape: root -> datacenter -> host -> osd, by child ids.
    nodes: list[dict[str, Any]] = [{"id": -1, "name": "default", "type": "root", "children": [-2, -3, -4]}]
    for i, dc in enumerate(("dc1", "dc2", "dc3")):
        nodes.append({"id": -2 - i, "name": dc, "type": "datacenter", "children": [-10 - i]})
        nodes.append({"id": -10 - i, "name": f"{dc}-a", "type": "host", "children": [i]})
        nodes.append({"id": i, "name": f"osd.{i}", "type": "osd"})
    return {"nodes": nodes}


def _placed(*acting: list[int]) -> dict[str, Any]:
    stats = [{"pgid": f"1.{i}", "state": "active+clean", "acting": a} for i, a in enumerate(acting)]
    return {"pgs": {"pg_stats": stats}, "osd_tree": _tree()}


def test_clean_pgs_off_the_rule_are_asked_again_spread_ones_are_not() -> None:
    assert ceph._pg_spread(_placed([0, 1, 2])).ok
    assert not ceph._mapping_lags(_placed([0, 1, 2]))
    lagging = _placed([0, 1, 2], [0, 0, 2])
    assert not ceph._pg_spread(lagging).ok
    assert ceph._mapping_lags(lagging)


def test_degraded_pgs_off_the_rule_are_not_a_lag() -> None:
    # A site away: PGs are undersized, not clean; verify reports that at once.
    a = _placed([0, 1])
    a["pgs"]["pg_stats"][0]["state"] = "active+undersized+degraded"
    assert not ceph._mapping_lags(a)
    assert not ceph._mapping_lags({"pgs": {"pg_stats": [{"state": "active+clean", "acting": [0]}]}})


def test_a_pool_still_splitting_or_merging_is_not_settled() -> None:
    steady = {
        "pool_name": "rbd",
        "pg_num": 32,
        "pg_placement_num": 32,
        "pg_num_target": 32,
        "pg_placement_num_target": 32,
        "pg_num_pending": 32,
    }
    assert ceph.pools_still_resizing([steady]) == []
    splitting = {**steady, "pool_name": "default.rgw.log", "pg_placement_num": 16}
    merging = {**steady, "pool_name": "default.rgw.meta", "pg_num_target": 8, "pg_placement_num_target": 8}
    pending = {**steady, "pool_name": "x", "pg_num_pending": 31}
    assert ceph.pools_still_resizing([steady, splitting, merging, pending]) == [
        "default.rgw.log: pg_num 32 -> 32, pgp_num 16 -> 32",
        "default.rgw.meta: pg_num 32 -> 8, pgp_num 32 -> 8",
        "x: pg_num 32 -> 32, pgp_num 32 -> 32, merging to 31",
    ]
    # A failed query is never taken for "nothing resizing".
    assert ceph.pools_still_resizing(None) == ["osd pool ls detail: no answer"]
