"""The drill's bookkeeping: acknowledged-write times, gaps, endpoint failover."""

from __future__ import annotations

import ssl

from sovplatform.operations.drill import Acks, Failover


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
