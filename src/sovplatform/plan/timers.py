"""Consensus timers tuned to the slowest inter-site path, never below upstream defaults.

etcd's tuning guide: heartbeat interval about the round-trip time between members, election
timeout at least ten times that (defaults 100 ms / 1000 ms). OpenBao's raft timers are its
base values (heartbeat 1 s, election 1 s, leader lease 0.5 s) times performance_multiplier;
1 is the fastest failover and is kept unless the paths are too slow for it.
"""

from __future__ import annotations

import math
from typing import Any

from sovplatform.blueprint.models import Blueprint

ETCD_DEFAULT_HEARTBEAT_MS = 100
ETCD_DEFAULT_ELECTION_MS = 1000
OPENBAO_BASE_HEARTBEAT_MS = 1000
OPENBAO_BASE_ELECTION_MS = 1000
OPENBAO_BASE_LEASE_MS = 500
CEPH_OSD_HEARTBEAT_GRACE_S = 20
CEPH_MON_LEASE_S = 5
CEPH_DOWN_OUT_INTERVAL_S = 600


def worst_rtt_ms(bp: Blueprint) -> float:
    """Slowest path between two sites; jitter applies in each direction, so twice."""
    names = [s.name for s in bp.sites]
    worst = 0.0
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            link = bp.link(a, b)
            if link is not None:
                worst = max(worst, link.rtt_ms + 2 * link.jitter_ms)
    return worst


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def plan_timers(bp: Blueprint) -> dict[str, Any]:
    rtt = worst_rtt_ms(bp)
    heartbeat = max(ETCD_DEFAULT_HEARTBEAT_MS, _round_up(rtt, 10))
    election = max(ETCD_DEFAULT_ELECTION_MS, 10 * heartbeat)
    multiplier = max(1, math.ceil(10 * rtt / OPENBAO_BASE_ELECTION_MS))
    return {
        "worst_rtt_ms": round(rtt, 3),
        "etcd": {"heartbeat_interval_ms": heartbeat, "election_timeout_ms": election},
        "openbao": {
            "performance_multiplier": multiplier,
            "heartbeat_timeout_ms": OPENBAO_BASE_HEARTBEAT_MS * multiplier,
            "election_timeout_ms": OPENBAO_BASE_ELECTION_MS * multiplier,
            "leader_lease_timeout_ms": OPENBAO_BASE_LEASE_MS * multiplier,
        },
        "ceph": {
            "osd_heartbeat_grace_s": CEPH_OSD_HEARTBEAT_GRACE_S,
            "mon_lease_s": CEPH_MON_LEASE_S,
            "mon_osd_down_out_interval_s": CEPH_DOWN_OUT_INTERVAL_S,
        },
    }
