"""Fencing's pure parts: which addresses a host's Ceph clients come from, and the blocklist
entry that covers every client instance from one address."""

from __future__ import annotations

from sovplatform.blueprint import load_blueprint
from sovplatform.operations.fence import (
    blocklist_entries,
    entry,
    host_addresses,
    running_managers,
    still_answering,
    stopped_units,
)
from tests.helpers import ROOT


def test_entry_covers_every_client_from_an_address() -> None:
    assert entry("198.18.53.11") == "198.18.53.11:0/0"


def test_host_addresses_are_the_management_and_storage_addresses() -> None:
    bp = load_blueprint(ROOT / "blueprints" / "odc-reference.yaml")
    for _, _, _, h in bp.hosts():
        want = {str(h.addresses.management)} | ({str(h.addresses.storage)} if h.addresses.storage else set())
        assert set(host_addresses(bp, h.name)) == want


def test_blocklist_listing_of_pacific_is_two_arrays_back_to_back() -> None:
    # As printed by ceph 16.2.15 (Debian bookworm) on the lab: address entries, then ranges.
    out = (
        '[{"addr":"198.18.61.22:0/0","until":"2026-11-24T06:35:03.877984+0000"},'
        '{"addr":"198.18.63.11:6801/3971","until":"2026-11-25T05:32:19.139194+0000"}][]\n'
    )
    assert blocklist_entries(out) == {"198.18.61.22:0/0", "198.18.63.11:6801/3971"}
    assert blocklist_entries("[][]") == set()
    assert blocklist_entries('[{"addr":"10.0.0.1:0/0"}]\n[{"addr":"10.0.0.0/24"}]') == {"10.0.0.1:0/0", "10.0.0.0/24"}
    assert blocklist_entries("") == set()


def test_only_hosts_that_are_gone_may_be_fenced() -> None:
    site_of = {"dc1-a": "dc1", "dc2-a": "dc2", "dc2-b": "dc2", "dc3-a": "dc3"}

    def host(name: str, running: bool = True, reachable: bool = True) -> dict[str, object]:
        return {"name": name, "running": running, "reachable": reachable}

    hosts = [host("dc1-a"), host("dc2-a", running=False), host("dc2-b", reachable=False), host("dc3-a")]
    # Powered off or not answering: gone. Running and answering: refused, unless cut off or fenced.
    assert still_answering(["dc2-a", "dc2-b"], hosts, set(), site_of, set()) == []
    assert still_answering(["dc3-a", "dc2-a"], hosts, set(), site_of, set()) == ["dc3-a"]
    assert still_answering(["dc3-a"], hosts, {"dc3"}, site_of, set()) == []
    assert still_answering(["dc3-a"], hosts, set(), site_of, {"dc3-a"}) == []
    # Only the targets are judged: a running host elsewhere is none of fence's business.
    assert still_answering(["dc2-a"], hosts, set(), site_of, set()) == []


def test_unfence_starts_only_the_loaded_daemons_that_are_not_active() -> None:
    listing = (
        "ceph-mgr@dc2-a.service loaded active running Ceph cluster manager daemon\n"
        "ceph-osd@2.service loaded failed failed Ceph object storage daemon osd.2\n"
        "ceph-osd@3.service loaded inactive dead Ceph object storage daemon osd.3\n"
        "ceph-mon@dc2-a.service not-found inactive dead ceph-mon@dc2-a.service\n"
    )
    assert stopped_units(listing) == ["ceph-osd@2.service", "ceph-osd@3.service"]
    assert stopped_units("") == []
    # The running manager is restarted instead: its blocklisted sessions had failed its modules.
    assert running_managers(listing) == ["ceph-mgr@dc2-a.service"]
    assert running_managers(listing.replace("loaded active running", "loaded failed failed")) == []
