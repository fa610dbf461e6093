"""Every topology rule refuses a failing example with a message that names the path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sovplatform.blueprint import BlueprintError, validate_text
from tests.helpers import LAB, ODC, dump, lab_dict


def problems_for(mutate: Callable[[dict[str, Any]], None]) -> list[str]:
    data = lab_dict()
    mutate(data)
    try:
        validate_text(dump(data))
    except BlueprintError as exc:
        return [p.render() for p in exc.problems]
    return []


def assert_refused(mutate: Callable[[dict[str, Any]], None], path: str, fragment: str) -> None:
    lines = problems_for(mutate)
    hits = [line for line in lines if line.startswith(f"{path}: ") and fragment in line]
    assert hits, f"expected '{path}: …{fragment}…' among {lines}"


def test_shipped_blueprints_are_valid() -> None:
    for path in (LAB, ODC):
        bp = validate_text(path.read_text())
        assert len(bp.sites) >= 3


def test_lab_blueprint_unchanged_is_valid() -> None:
    assert problems_for(lambda d: None) == []


def test_two_sites_refused() -> None:
    def drop_site(d: dict[str, Any]) -> None:
        d["sites"].pop()
        for site in d["sites"]:
            site.get("links", {}).pop("dc3", None)

    assert_refused(drop_site, "sites", "at least 3 are needed")


def test_duplicate_site_and_host_names() -> None:
    assert_refused(lambda d: d["sites"][2].update(name="dc1"), "sites[2].name", "duplicate site name 'dc1'")
    assert_refused(
        lambda d: d["sites"][1]["hosts"][1].update(name="dc1-b"),
        "sites[1].hosts[1].name",
        "duplicate host name 'dc1-b'",
    )


def test_unknown_role_refused() -> None:
    assert_refused(
        lambda d: d["sites"][1]["hosts"][0].update(roles=["control", "database"]),
        "sites[1].hosts[0].roles[1]",
        "'database' is not allowed",
    )


def test_unknown_key_refused_with_allowed_keys() -> None:
    assert_refused(lambda d: d["sites"][0].update(colour="blue"), "sites[0].colour", "unknown key (allowed: name,")
    assert_refused(lambda d: d.update(extra=1), "extra", "unknown key")


def test_wrong_types_refused() -> None:
    assert_refused(lambda d: d.update(sites="dc1,dc2,dc3"), "sites", "expected a list")
    assert_refused(lambda d: d["ceph"]["pools"][0].update(size="three"), "ceph.pools[0].size", "integer")
    assert_refused(lambda d: d["sites"][0].pop("region"), "sites[0].region", "required key is missing")


def _concentrate_etcd(d: dict[str, Any]) -> None:
    d["sites"][1]["hosts"][0]["roles"].remove("etcd")
    d["sites"][0]["hosts"][1]["roles"].append("etcd")


def test_quorum_concentrated_in_one_site_refused() -> None:
    assert_refused(_concentrate_etcd, "sites[0]", "holds 2 of 3 etcd members")


def test_quorum_even_or_small_refused() -> None:
    def four_voters(d: dict[str, Any]) -> None:
        d["sites"][0]["hosts"][1]["roles"].append("kms")

    assert_refused(four_voters, "openbao.voters", "4 OpenBao voters")

    def one_etcd_site(d: dict[str, Any]) -> None:
        for site in d["sites"][1:]:
            site["hosts"][0]["roles"].remove("etcd")

    assert_refused(one_etcd_site, "etcd", "1 etcd members")


def test_explicit_quorum_lists_checked() -> None:
    assert_refused(
        lambda d: d["ceph"].update(monitors=["dc1-a", "dc2-a", "nope"]), "ceph.monitors[2]", "unknown host 'nope'"
    )
    assert_refused(
        lambda d: d["openbao"].update(voters=["dc1-a", "dc2-a", "dc3-b"]), "openbao.voters[2]", "lacks the 'kms' role"
    )
    assert_refused(
        lambda d: d["ceph"].update(monitors=["dc1-a", "dc1-b", "dc2-a"]), "sites[0]", "holds 2 of 3 Ceph monitors"
    )


def test_min_size_one_refused() -> None:
    assert_refused(lambda d: d["ceph"]["pools"][0].update(min_size=1), "ceph.pools[0].min_size", "single copy")


def test_size_must_exceed_min_size() -> None:
    assert_refused(
        lambda d: d["ceph"]["pools"][0].update(size=2, min_size=2), "ceph.pools[0].size", "size must exceed min_size"
    )


def test_pool_needs_size_sites_with_osds() -> None:
    def no_osds_in_dc3(d: dict[str, Any]) -> None:
        for host in d["sites"][2]["hosts"]:
            host["roles"] = [r for r in host["roles"] if r != "storage"]
            host["disks"] = []
        d["ceph"]["monitors"] = ["dc1-a", "dc2-a", "dc2-b"]

    assert_refused(no_osds_in_dc3, "ceph.pools[0].size", "needs 3 sites with OSD hosts; found 2")


def test_failure_domain_host_refused() -> None:
    assert_refused(
        lambda d: d["ceph"]["pools"][1].update(failure_domain="host"),
        "ceph.pools[1].failure_domain",
        "use 'datacenter'",
    )


def test_capacity_after_site_loss() -> None:
    # 3 sites x 20 GB raw, 17 GB usable each; 18 GB of data (16 + 2) needs 36 GB at min_size 2,
    # but each surviving site holds at most one copy: 2 x 17 GB = 34 GB.
    assert_refused(lambda d: d["ceph"]["pools"][0].update(capacity_gb=16), "ceph.pools", "after losing site 'dc1'")
    # 17 GB of data: exactly one copy fits in each surviving site.
    assert problems_for(lambda d: d["ceph"]["pools"][0].update(capacity_gb=15)) == []
    # 10 GB per copy x 2 (min_size) = 20 GB <= 34 GB usable, and one copy (16 GB) fits in each site.
    assert problems_for(lambda d: d["ceph"]["pools"][0].update(capacity_gb=10)) == []


def test_storage_host_needs_disks() -> None:
    assert_refused(
        lambda d: d["sites"][0]["hosts"][1].update(disks=[]), "sites[0].hosts[1].disks", "at least one data disk"
    )


def test_networks_overlap_and_addresses() -> None:
    def overlap(d: dict[str, Any]) -> None:
        d["sites"][1]["networks"]["management"]["cidr"] = "198.18.0.0/22"
        for i, host in enumerate(d["sites"][1]["hosts"]):
            host["addresses"]["management"] = f"198.18.0.{20 + i}"

    assert_refused(overlap, "sites[1].networks.management.cidr", "overlaps 198.18.1.0/24")
    assert_refused(
        lambda d: d["sites"][2]["hosts"][1]["addresses"].update(management="198.18.9.12"),
        "sites[2].hosts[1].addresses.management",
        "outside the site's network 198.18.3.0/24",
    )
    assert_refused(
        lambda d: d["sites"][0]["networks"]["management"].update(cidr="198.18.1.5/24"),
        "sites[0].networks.management.cidr",
        "host bits",
    )
    assert_refused(
        lambda d: d["sites"][0]["hosts"][1]["addresses"].update(management="198.18.1.11"),
        "sites[0].hosts[1].addresses.management",
        "also used by sites[0].hosts[0]",
    )
    assert_refused(
        lambda d: d["sites"][0]["hosts"][1]["addresses"].update(management="198.18.1.1"),
        "sites[0].hosts[1].addresses.management",
        "gateway",
    )


def test_links_must_cover_every_pair() -> None:
    assert_refused(lambda d: d["sites"][1].pop("links"), "sites[1].links", "no link to site 'dc3'")
    assert_refused(
        lambda d: d["sites"][0]["links"].update(dc9={"rtt_ms": 3}), "sites[0].links.dc9", "unknown site 'dc9'"
    )


def test_haven_minimums() -> None:
    def two_control(d: dict[str, Any]) -> None:
        d["sites"][2]["hosts"][0]["roles"].remove("control")

    assert_refused(two_control, "sites", "2 control-plane host(s)")

    def workers_in_one_site(d: dict[str, Any]) -> None:
        for site in d["sites"][1:]:
            for host in site["hosts"]:
                host["roles"].remove("compute")
        d["sites"][0]["hosts"].append(
            {"name": "dc1-c", "roles": ["compute"], "addresses": {"management": "198.18.1.13"}}
        )

    assert_refused(workers_in_one_site, "sites", "role 'compute' is present in 1 site(s)")


def test_customer_kms_must_be_outside_the_platform() -> None:
    assert_refused(
        lambda d: d["customer_kms"].update(endpoint="https://198.18.2.50:8200"),
        "customer_kms.endpoint",
        "inside the platform network 198.18.2.0/24",
    )
    assert_refused(
        lambda d: d["customer_kms"].update(endpoint="https://dc2-a.example.org:8200"),
        "customer_kms.endpoint",
        "names a platform host",
    )
    assert_refused(
        lambda d: d["customer_kms"].update(endpoint="http://kms.customer.example"),
        "customer_kms.endpoint",
        "does not match",
    )


def test_custodians_checked() -> None:
    assert_refused(
        lambda d: d["customer_kms"].update(recovery_threshold=4), "customer_kms.recovery_threshold", "exceeds the 3"
    )
    assert_refused(
        lambda d: d["customer_kms"]["custodians"][1].update(pgp_public_key="ssh-ed25519 AAAA"),
        "customer_kms.custodians[1].pgp_public_key",
        "PGP public key",
    )


def test_baremetal_needs_bmc_and_devices() -> None:
    assert_refused(lambda d: d["substrate"].update(kind="baremetal"), "sites[0].hosts[0].bmc", "need a BMC")
    assert_refused(
        lambda d: d["substrate"].update(kind="baremetal"), "sites[0].hosts[0].disks[0].device", "device path"
    )


def test_unpinned_openbao_version_refused() -> None:
    assert_refused(lambda d: d["versions"].update(openbao="9.9.9"), "versions.openbao", "no pinned checksum")


def test_every_problem_is_reported_not_just_the_first() -> None:
    def two_faults(d: dict[str, Any]) -> None:
        d["ceph"]["pools"][0]["min_size"] = 1
        _concentrate_etcd(d)

    lines = problems_for(two_faults)
    assert any(line.startswith("ceph.pools[0].min_size") for line in lines)
    assert any(line.startswith("sites[0]: holds 2 of 3 etcd") for line in lines)


def test_problem_lines_carry_yaml_line_numbers() -> None:
    text = LAB.read_text().replace("min_size: 2", "min_size: 1", 1)
    with pytest.raises(BlueprintError) as info:
        validate_text(text)
    (problem,) = info.value.problems
    assert problem.line is not None
    assert "min_size: 1" in text.splitlines()[problem.line - 1]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is empty"),
        ("kind: [Platform\n", "YAML syntax error"),
        ("- a\n- b\n", "expected a mapping"),
        ("a: 1\na: 2\n", "a: duplicate key 'a' (first at line 1) (line 2)"),
        ("just a string\n", "expected a mapping"),
    ],
)
def test_malformed_documents(text: str, fragment: str) -> None:
    with pytest.raises(BlueprintError) as info:
        validate_text(text)
    assert any(fragment in p.render() for p in info.value.problems)


def test_single_custodian_cannot_recover_alone() -> None:
    assert_refused(
        lambda d: d["customer_kms"].update(recovery_threshold=1),
        "customer_kms.recovery_threshold",
        "single custodian",
    )


def test_gateway_must_be_a_host_address() -> None:
    assert_refused(
        lambda d: d["sites"][2]["networks"]["management"].update(gateway="198.18.3.255"),
        "sites[2].networks.management.gateway",
        "broadcast",
    )


def test_customer_kms_needs_a_routable_address_and_valid_port() -> None:
    assert_refused(
        lambda d: d["customer_kms"].update(endpoint="https://127.0.0.1:8200"), "customer_kms.endpoint", "not a routable"
    )
    assert_refused(
        lambda d: d["customer_kms"].update(endpoint="https://198.18.250.10:99999"),
        "customer_kms.endpoint",
        "port 99999",
    )


def test_explicit_monitor_needs_storage_role() -> None:
    def monitor_on_compute_only(d: dict[str, Any]) -> None:
        d["sites"][2]["hosts"].append(
            {"name": "dc3-c", "roles": ["compute"], "addresses": {"management": "198.18.3.13"}}
        )
        d["ceph"]["monitors"] = ["dc1-a", "dc2-a", "dc3-c"]

    assert_refused(monitor_on_compute_only, "ceph.monitors[2]", "lacks the 'storage' role")


def test_pins_must_be_what_the_suite_packages() -> None:
    # The shipped blueprints run Debian 13; Ceph 16 is what Debian 12 packages, not 13.
    assert_refused(lambda d: d["versions"].update(ceph="16.2.15"), "versions.ceph", "Debian 13 (trixie)")
    assert_refused(lambda d: d["versions"].update(haproxy="2.6.12"), "versions.haproxy", "delivers 3.0.11")


def test_debian_12_with_its_own_releases_is_valid() -> None:
    data = lab_dict()
    # etcd is built from source on every suite, so it keeps the catalogue's release.
    data["versions"].update(debian="bookworm", ceph="16.2.15", haproxy="2.6.12")
    validate_text(dump(data))
    data["versions"].update(ceph="18.2.7")
    with pytest.raises(BlueprintError) as err:
        validate_text(dump(data))
    assert "versions.ceph: 18.2.7 is not what Debian 12 (bookworm) packages: it delivers 16.2.15" in str(err.value)


def test_an_unknown_suite_is_refused() -> None:
    assert_refused(lambda d: d["versions"].update(debian="buster"), "versions.debian", "trixie")
