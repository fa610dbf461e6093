"""Rolling order, health gates and resumable step ids; auto-leader site choice for the drill."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from sovplatform.plan.drill import choose_auto_leader_site
from sovplatform.plan.layout import OpsInputError
from sovplatform.plan.observed import Leaders
from sovplatform.plan.rollout import (
    RolloutStep,
    plan_rollout,
    remaining_steps,
    resume_rollout,
    rollout_lines,
    rollout_to_dict,
)
from tests.unit.ops_topologies import lab_layout, odc_layout


def hosts(steps: Iterable[RolloutStep]) -> list[str]:
    return [s.host for s in steps]


def test_etcd_followers_first_leader_site_last() -> None:
    rollout = plan_rollout(lab_layout(), "etcd", Leaders(etcd_leader="dc1-a"), "3.4.30")
    assert hosts(rollout.steps) == ["dc2-a", "dc3-a", "dc1-a"]
    assert [s.leader for s in rollout.steps] == [False, False, True]
    assert rollout.step_ids() == ("etcd/3.4.30/etcd/dc2-a", "etcd/3.4.30/etcd/dc3-a", "etcd/3.4.30/etcd/dc1-a")
    step = rollout.steps[0]
    assert step.units == ("etcd.service",)
    assert [g.name for g in step.before] == ["etcd.all-healthy", "etcd.leader-present"]
    assert [g.name for g in step.after] == ["etcd.all-healthy", "etcd.leader-present"]
    assert rollout.hold_flags == () and rollout.notes == ()


def test_openbao_active_node_last_and_back_unsealed() -> None:
    rollout = plan_rollout(lab_layout(), "openbao", Leaders(openbao_active="dc2-a"))
    assert hosts(rollout.steps) == ["dc1-a", "dc3-a", "dc2-a"]
    assert rollout.steps[0].id == "openbao/restart/openbao/dc1-a"
    last = rollout.steps[-1]
    assert [g.name for g in last.before] == ["openbao.autopilot-healthy", "openbao.active-unsealed"]
    assert ("openbao.unsealed", "dc2-a") in [(g.name, g.target) for g in last.after]


def test_no_leader_observed_keeps_blueprint_order_and_says_so() -> None:
    rollout = plan_rollout(lab_layout(), "etcd", Leaders())
    assert hosts(rollout.steps) == ["dc1-a", "dc2-a", "dc3-a"]
    assert rollout.notes == ("no etcd leader observed: sites go in blueprint order",)


def test_ceph_goes_by_daemon_kind_one_site_at_a_time() -> None:
    leaders = Leaders(ceph_leader_mon="noord-st1", ceph_active_mgr="midden-st1")
    rollout = plan_rollout(odc_layout(), "ceph", leaders, "16.2.15")
    kinds = [s.daemon for s in rollout.steps]
    assert kinds == ["mgr"] * 3 + ["mon"] * 3 + ["osd"] * 9 + ["rgw"] * 3
    assert hosts(rollout.steps[:3]) == ["noord-st1", "zuid-st1", "midden-st1"]  # active mgr last
    assert hosts(rollout.steps[3:6]) == ["midden-st1", "zuid-st1", "noord-st1"]  # leader mon last
    osd_sites = [s.site for s in rollout.steps if s.daemon == "osd"]
    assert osd_sites == ["odc-midden"] * 3 + ["odc-zuid"] * 3 + ["odc-noord"] * 3
    assert hosts(rollout.steps[-3:]) == ["midden-gw1", "zuid-gw1", "noord-gw1"]
    assert rollout.hold_flags == ("noout",)
    osd = next(s for s in rollout.steps if s.daemon == "osd")
    assert [(g.name, g.target) for g in osd.before] == [
        ("ceph.osd-ok-to-stop", osd.host),
        ("ceph.pgs-active-clean", None),
    ]
    assert [g.name for g in osd.after] == ["ceph.osds-up", "ceph.pgs-active-clean"]
    mon = next(s for s in rollout.steps if s.daemon == "mon")
    assert [g.name for g in mon.before] == ["ceph.mon-ok-to-stop", "ceph.pgs-active-clean"]
    assert mon.units == ("ceph-mon.target",)


def test_bad_requests_are_input_errors() -> None:
    with pytest.raises(OpsInputError, match="unknown component 'kafka'"):
        plan_rollout(lab_layout(), "kafka", Leaders())  # type: ignore[arg-type]
    with pytest.raises(OpsInputError, match="leader 'dc1-b' is not one of dc1-a, dc2-a, dc3-a"):
        plan_rollout(lab_layout(), "etcd", Leaders(etcd_leader="dc1-b"))


def test_step_ids_do_not_depend_on_the_leader_but_on_the_version() -> None:
    a = plan_rollout(lab_layout(), "ceph", Leaders(ceph_leader_mon="dc1-a"), "16.2.15")
    b = plan_rollout(lab_layout(), "ceph", Leaders(ceph_leader_mon="dc3-a"), "16.2.15")
    assert set(a.step_ids()) == set(b.step_ids()) and a.step_ids() != b.step_ids()
    c = plan_rollout(lab_layout(), "ceph", Leaders(ceph_leader_mon="dc1-a"), "17.2.7")
    assert not set(a.step_ids()) & set(c.step_ids())
    assert len(set(a.step_ids())) == len(a.steps)


def test_resume_skips_completed_steps_even_after_the_leader_moved() -> None:
    first = plan_rollout(lab_layout(), "etcd", Leaders(etcd_leader="dc1-a"), "3.4.30")
    completed = first.step_ids()[:2]  # dc2-a, dc3-a done; then the run was interrupted
    rerun = plan_rollout(lab_layout(), "etcd", Leaders(etcd_leader="dc2-a"), "3.4.30")
    resume = resume_rollout(rerun, [*completed, "etcd/3.4.29/etcd/dc1-a"])
    assert hosts(resume.remaining) == ["dc1-a"]
    assert hosts(resume.done) == ["dc3-a", "dc2-a"]
    assert resume.unknown == ("etcd/3.4.29/etcd/dc1-a",)
    assert remaining_steps(rerun, rerun.step_ids()) == ()


def test_rollout_renderings() -> None:
    rollout = plan_rollout(lab_layout(), "ceph", Leaders(ceph_leader_mon="dc2-a"))
    data = json.loads(json.dumps(rollout_to_dict(rollout)))
    assert data["component"] == "ceph" and data["version"] is None
    assert [s["id"] for s in data["steps"]] == list(rollout.step_ids())
    assert data["steps"][0]["before"][0]["name"] == "ceph.mgr-ok-to-stop"
    lines = rollout_lines(rollout)
    assert lines[0] == "ceph restart: 15 step(s)"
    assert lines[1] == "hold: noout set before the first step, unset after the last"
    assert "  6. mon on dc2-a [dc2] (leader): restart ceph-mon.target" in lines


# --------------------------------------------------------------------------- drill target


def test_auto_leader_picks_the_site_with_most_leaders() -> None:
    target = choose_auto_leader_site(
        lab_layout(), Leaders(etcd_leader="dc2-a", openbao_active="dc3-a", ceph_leader_mon="dc3-a")
    )
    assert target.site == "dc3"
    assert target.held == ("openbao active node dc3-a", "ceph leader mon dc3-a")
    assert target.leaders_per_site == {"dc1": 0, "dc2": 1, "dc3": 2}
    assert target.reason == "dc3 holds 2 of 3 observed leaders (openbao active node dc3-a, ceph leader mon dc3-a)"


@pytest.mark.parametrize(
    ("leaders", "site"),
    [
        (Leaders(etcd_leader="dc3-a", openbao_active="dc1-a", ceph_leader_mon="dc2-a"), "dc3"),
        (Leaders(openbao_active="dc2-a", ceph_leader_mon="dc1-a"), "dc2"),
        (Leaders(ceph_leader_mon="dc2-a"), "dc2"),
    ],
)
def test_auto_leader_ties_go_by_leader_kind(leaders: Leaders, site: str) -> None:
    target = choose_auto_leader_site(lab_layout(), leaders)
    assert target.site == site
    if sum(target.leaders_per_site.values()) > 1:
        assert "chosen by leader kind (etcd, then openbao, then ceph)" in target.reason


def test_auto_leader_needs_a_leader() -> None:
    with pytest.raises(OpsInputError, match="no leader observed"):
        choose_auto_leader_site(lab_layout(), Leaders(ceph_active_mgr="dc1-a"))
    with pytest.raises(OpsInputError, match="unknown host 'x'"):
        choose_auto_leader_site(lab_layout(), Leaders(etcd_leader="x"))
