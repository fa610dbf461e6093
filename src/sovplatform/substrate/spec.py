"""What a substrate needs to know to build hosts: derived from the plan, free of I/O.

Every substrate kind (lab, openstack, baremetal) consumes this and returns the same
host contract (name, site, management address, SSH user, port, key path).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SiteNet:
    """One site's layer-3 networks; sites never share a layer-2 segment."""

    name: str
    index: int  # 0-based position of the site in the blueprint; stable, used for short interface names
    management_cidr: str  # e.g. "198.18.1.0/24"
    management_gateway: str  # router address inside management_cidr, e.g. "198.18.1.1"
    storage_cidr: str | None = None
    storage_gateway: str | None = None


@dataclass(frozen=True)
class HostSpec:
    name: str
    site: str
    management_address: str  # plain IPv4 address, prefix comes from the site's network
    storage_address: str | None = None
    disks_gb: tuple[int, ...] = ()  # data disks; the lab backs them with sparse files
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class LinkSpec:
    """Inter-site path characteristics; the lab applies rtt/2 of delay in each direction."""

    a: str
    b: str
    rtt_ms: float
    jitter_ms: float = 0.0
    loss_percent: float = 0.0


@dataclass(frozen=True)
class ExternalHostSpec:
    """A host outside every site (the customer's KMS), on its own network."""

    name: str
    address: str
    cidr: str
    gateway: str


@dataclass(frozen=True)
class LabSpec:
    platform: str
    sites: tuple[SiteNet, ...]
    hosts: tuple[HostSpec, ...]
    links: tuple[LinkSpec, ...]
    customer_kms: ExternalHostSpec | None = None
    ssh_user: str = "root"
    suite: str = "trixie"  # the Debian suite every host boots (the golden image's)
    extra: dict[str, str] = field(default_factory=dict)
