"""Facts the live probes report, as plain values the pure decisions take as input.

Host names are the names the plan gives: etcd member names, OpenBao raft node ids and Ceph
mon ids are all the inventory host name on this platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Observed:
    """What is already out of service before an operation starts.

    ``down``: hosts not serving (powered off, drained, unreachable). Their OSDs still hold
    their copies unless listed in ``osds_out``: hosts whose OSDs are marked out and whose data
    Ceph has already re-replicated elsewhere (PGs back to active+clean), so losing them costs
    no copy. A host may be out while still up (emptied by reweighting).
    """

    down: frozenset[str] = field(default_factory=frozenset)
    osds_out: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Leaders:
    """Who leads right now; None when the probe found none (or did not look)."""

    etcd_leader: str | None = None
    openbao_active: str | None = None
    ceph_leader_mon: str | None = None
    ceph_active_mgr: str | None = None
