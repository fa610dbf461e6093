"""The pure parts of `upgrade`: which steps a rerun skips (from the journal), Debian versions
compared by their upstream part, and a live probe for every gate a rollout can name."""

from __future__ import annotations

from typing import Any

from sovplatform.operations.gates import PROBES
from sovplatform.operations.upgrade import OPERATION, completed_steps, upstream
from sovplatform.plan.observed import Leaders
from sovplatform.plan.rollout import COMPONENTS, plan_rollout
from tests.unit.ops_topologies import lab_layout, odc_layout


def entry(run: str, step: str, status: str, component: str = "openbao", version: str = "2.7.2") -> dict[str, Any]:
    return {
        "operation": OPERATION,
        "run": run,
        "step": step,
        "status": status,
        "component": component,
        "version": version,
    }


def test_a_killed_run_leaves_its_done_steps_for_the_rerun() -> None:
    entries = [
        entry("r1", "openbao/2.7.2/openbao/a", "started"),
        entry("r1", "openbao/2.7.2/openbao/a", "done"),
        entry("r1", "openbao/2.7.2/openbao/b", "started"),  # killed here
    ]
    assert completed_steps(entries, "openbao", "2.7.2") == ({"openbao/2.7.2/openbao/a"}, "r1")


def test_a_failed_gate_then_a_rerun_then_another_stop_accumulate() -> None:
    entries = [
        entry("r1", "openbao/2.7.2/openbao/a", "done"),
        entry("r1", "openbao/2.7.2/openbao/b", "failed"),
        entry("r2", "openbao/2.7.2/openbao/a", "skipped"),
        entry("r2", "openbao/2.7.2/openbao/b", "done"),
    ]
    done, source = completed_steps(entries, "openbao", "2.7.2")
    assert done == {"openbao/2.7.2/openbao/a", "openbao/2.7.2/openbao/b"} and source == "r2"


def test_a_finished_run_starts_the_next_one_from_scratch() -> None:
    entries = [
        entry("r1", "etcd/3.4.23/etcd/a", "done", "etcd", "3.4.23"),
        entry("r1", OPERATION, "done", "etcd", "3.4.23"),
    ]
    assert completed_steps(entries, "etcd", "3.4.23") == (set(), None)


def test_other_components_versions_and_operations_do_not_count() -> None:
    entries = [
        entry("r1", "openbao/2.7.1/openbao/a", "done", version="2.7.1"),
        entry("r2", "etcd/3.4.23/etcd/a", "done", "etcd", "3.4.23"),
        {"operation": "up", "run": "r3", "step": "openbao/2.7.2/openbao/a", "status": "done"},
    ]
    assert completed_steps(entries, "openbao", "2.7.2") == (set(), None)


def test_upstream_part_of_debian_versions() -> None:
    assert upstream("16.2.15+ds-0+deb12u1") == "16.2.15"
    assert upstream("3.4.23-4+b6") == "3.4.23"
    assert upstream("1:2.6.12-1+deb12u1") == "2.6.12"
    assert upstream("2.7.2") == "2.7.2"


def test_every_gate_a_rollout_names_has_a_probe() -> None:
    names = set()
    for layout in (lab_layout(), odc_layout()):
        for component in COMPONENTS:
            for step in plan_rollout(layout, component, Leaders()).steps:
                names |= {g.name for g in (*step.before, *step.after)}
    assert names and names <= set(PROBES), sorted(names - set(PROBES))
