"""The drill's bookkeeping: acknowledged-write times, gaps, endpoint failover, and which services a
second fault is expected to stop."""

from __future__ import annotations

import ssl

from sovplatform.operations.drill import bring_back, check_recorder, expected_stops, take_away
from sovplatform.operations.writers import Acks, Failover
from sovplatform.plan.impact import assess_impact
from sovplatform.plan.observed import Observed
from tests.unit.ops_topologies import lab_layout


def test_first_ack_after_a_moment_and_the_longest_gap() -> None:
    acks = Acks()
    for seq, at in enumerate([10.0, 10.5, 11.0, 19.0, 19.5], start=1):
        acks.add(seq, at)
    assert acks.after(11.2) == 19.0
    assert acks.after(20.0) is None
    assert acks.max_gap(10.0, 20.0) == 8.0
    # no ack at all in the window: the whole window is the gap
    assert acks.max_gap(30.0, 42.0) == 12.0


def test_failover_sticks_to_the_endpoint_that_answered() -> None:
    tried: list[str] = []

    def attempt(endpoint: str) -> bool:
        tried.append(endpoint)
        if endpoint == "a":
            raise ssl.SSLError("handshake failed")
        return endpoint == "c"

    failover = Failover(["a", "b", "c"])
    assert failover.call(attempt)
    assert tried == ["a", "b", "c"]
    tried.clear()
    assert failover.call(attempt)
    assert tried == ["c"]


def test_failover_reports_failure_when_no_endpoint_answers() -> None:
    assert not Failover(["a", "b"]).call(lambda _endpoint: False)


def test_writes_taken_wholly_inside_a_window() -> None:
    acks = Acks()
    acks.add(1, at=10.5, sent=9.0)  # in flight when the window opened: not counted
    acks.add(2, at=12.0, sent=11.0)  # sent and acknowledged inside: counted
    acks.add(3, at=25.0, sent=15.0)  # held until after the window closed: not counted
    acks.add(4, at=30.0)  # no send time known: the ack time stands for it
    assert acks.sent_and_acked_within(10.0, 20.0) == [2]
    assert acks.sent_and_acked_within(0.0, 40.0) == [1, 2, 3, 4]


def test_a_second_site_loss_is_expected_to_stop_every_service() -> None:
    layout = lab_layout()
    first = frozenset(h.name for h in layout.hosts if h.site == layout.sites[0])
    second = frozenset(h.name for h in layout.hosts if h.site == layout.sites[1])
    impact = assess_impact(layout, Observed(down=first), second)
    assert expected_stops(impact) == {"etcd": True, "ceph": True, "s3": True, "openbao": True, "kubernetes": True}


def test_one_host_out_then_a_site_keeps_the_quorums_of_single_member_sites() -> None:
    layout = lab_layout()
    # a storage host that is no quorum member: losing a whole other site still leaves majorities
    spare = next(h.name for h in layout.hosts if h.site == layout.sites[2] and h.name not in layout.quorums["etcd"])
    second = frozenset(h.name for h in layout.hosts if h.site == layout.sites[0])
    stops = expected_stops(assess_impact(layout, Observed(down=frozenset({spare})), second))
    assert not stops["etcd"] and not stops["openbao"]


class FakeLab:
    """Records what the drill asks of the substrate (the real one is exercised on the lab)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def power(self, action: str, site: str, progress: object) -> None:
        self.calls.append(("power", action, site))

    def partition(self, site: str) -> None:
        self.calls.append(("partition", site))

    def heal(self) -> None:
        self.calls.append(("heal",))


def test_faults_and_their_undoing_per_mode() -> None:
    lab = FakeLab()
    for mode in ("power", "partition"):
        take_away(lab, mode, "dc2", print)  # type: ignore[arg-type]
        bring_back(lab, mode, "dc2", print)  # type: ignore[arg-type]
    assert lab.calls == [("power", "off", "dc2"), ("power", "on", "dc2"), ("partition", "dc2"), ("heal",)]


def test_checks_are_recorded_and_said() -> None:
    checks: list[dict[str, object]] = []
    said: list[str] = []
    check = check_recorder(checks, said.append)
    check("etcd keeps a leader", True, "after 0.1s")
    check("no OSD marked out", False, "out: [3]")
    assert checks == [
        {"name": "etcd keeps a leader", "ok": True, "detail": "after 0.1s"},
        {"name": "no OSD marked out", "ok": False, "detail": "out: [3]"},
    ]
    assert said == ["drill: ok   etcd keeps a leader: after 0.1s", "drill: FAIL no OSD marked out: out: [3]"]
