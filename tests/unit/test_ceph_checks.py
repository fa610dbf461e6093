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
