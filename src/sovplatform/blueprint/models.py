"""The blueprint schema (apiVersion sovplatform/v1, kind Platform).

Every model forbids unknown keys: a typo in a blueprint must be an error, not a silently
ignored setting on a platform that is then built without it.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ROLES: tuple[str, ...] = ("control", "etcd", "storage", "compute", "kms", "gateway")
Role = Literal["control", "etcd", "storage", "compute", "kms", "gateway"]

# DNS label: hosts and sites become hostnames, CRUSH buckets and Kubernetes zone labels.
Label = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")]
PoolName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
Version = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+){1,3}([.+~-][0-9A-Za-z.+~-]+)?$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Link(Strict):
    """Path between two sites as measured (or contracted) between the datacenters."""

    rtt_ms: float = Field(ge=0, le=1000)
    jitter_ms: float = Field(default=0, ge=0, le=1000)
    loss_percent: float = Field(default=0, ge=0, le=100)


class Network(Strict):
    cidr: IPv4Network
    gateway: IPv4Address | None = None  # default: first usable address of the network
    vlan: int | None = Field(default=None, ge=1, le=4094)


class SiteNetworks(Strict):
    management: Network
    storage: Network | None = None  # Ceph replication traffic; on management when absent


class Addresses(Strict):
    management: IPv4Address
    storage: IPv4Address | None = None


class Bmc(Strict):
    """Out-of-band controller; the credentials themselves never live in the blueprint."""

    address: IPv4Address
    driver: Literal["redfish", "ipmi"] = "redfish"
    credentials_ref: str = Field(min_length=1, description="name of the secret holding the credentials")


class Disk(Strict):
    size_gb: int = Field(gt=0, le=1_000_000)
    device: Annotated[str, StringConstraints(pattern=r"^/dev/[A-Za-z0-9/_.-]+$")] | None = None


class Host(Strict):
    name: Label
    roles: list[Role] = Field(min_length=1)
    addresses: Addresses
    bmc: Bmc | None = None
    disks: list[Disk] = Field(default_factory=list)


class Site(Strict):
    name: Label
    region: Label
    networks: SiteNetworks
    links: dict[Label, Link] = Field(default_factory=dict)
    hosts: list[Host] = Field(min_length=1)


class Substrate(Strict):
    kind: Literal["lab", "openstack", "baremetal"] = "lab"


class Pool(Strict):
    name: PoolName
    application: Literal["rbd", "rgw", "cephfs"]
    size: int = Field(default=3, ge=1, le=10)
    min_size: int = Field(default=2, ge=1, le=10)
    failure_domain: Literal["datacenter", "host", "osd"] = "datacenter"
    capacity_gb: int = Field(default=0, ge=0, description="data the pool must hold, before replication")
    pg_num: int = Field(default=32, ge=1, le=32768)


class Ceph(Strict):
    monitors: list[Label] | None = None  # default: the first storage host of every site
    pools: list[Pool] = Field(min_length=1)


class OpenBao(Strict):
    voters: list[Label] | None = None  # default: every host with the kms role


class Custodian(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    pgp_public_key: Annotated[str, StringConstraints(min_length=1)]


class CustomerKms(Strict):
    """The customer's own KMS, outside the platform: it holds the key that unseals OpenBao."""

    endpoint: Annotated[str, StringConstraints(pattern=r"^https://[^\s/]+(:[0-9]{1,5})?/?$")]
    mount: Label = "transit"
    transit_key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    custodians: list[Custodian] = Field(min_length=1)
    recovery_threshold: int = Field(default=1, ge=1)


class Versions(Strict):
    debian: Literal["trixie", "bookworm"] = "trixie"  # blueprint/suites.py: what each delivers
    ceph: Version
    etcd: Version
    openbao: Version
    haproxy: Version
    kubernetes: Version
    containerd: Version
    kubevirt: Version
    cdi: Version
    ceph_csi: Version


class Kubernetes(Strict):
    """The Kubernetes + KubeVirt layer (docs/kubernetes.md). Its binaries and images come from
    an artefact bundle; without one the layer is reported "not available", never silently left out."""

    enabled: bool = False  # true: `up` stops before touching hosts unless every artefact is present


class Blueprint(Strict):
    apiVersion: Literal["sovplatform/v1"]
    kind: Literal["Platform"]
    name: Label
    substrate: Substrate = Field(default_factory=Substrate)
    versions: Versions
    sites: list[Site] = Field(min_length=1)
    ceph: Ceph
    openbao: OpenBao = Field(default_factory=OpenBao)
    customer_kms: CustomerKms
    kubernetes: Kubernetes = Field(default_factory=Kubernetes)

    # Derived views used by rules and the plan; kept here so both agree on one definition.
    def hosts(self) -> list[tuple[int, int, Site, Host]]:
        return [(si, hi, s, h) for si, s in enumerate(self.sites) for hi, h in enumerate(s.hosts)]

    def host_site(self) -> dict[str, str]:
        return {h.name: s.name for _, _, s, h in self.hosts()}

    def hosts_with_role(self, role: str) -> list[str]:
        return [h.name for _, _, _, h in self.hosts() if role in h.roles]

    def etcd_members(self) -> list[str]:
        return self.hosts_with_role("etcd")

    def ceph_monitors(self) -> list[str]:
        if self.ceph.monitors is not None:
            return list(self.ceph.monitors)
        out: list[str] = []
        for site in self.sites:
            first = next((h.name for h in site.hosts if "storage" in h.roles), None)
            if first:
                out.append(first)
        return out

    def openbao_voters(self) -> list[str]:
        if self.openbao.voters is not None:
            return list(self.openbao.voters)
        return self.hosts_with_role("kms")

    def quorums(self) -> dict[str, list[str]]:
        return {
            "etcd": self.etcd_members(),
            "ceph_mon": self.ceph_monitors(),
            "openbao": self.openbao_voters(),
        }

    def link(self, a: str, b: str) -> Link | None:
        """The link between two sites, declared on either side."""
        by_name = {s.name: s for s in self.sites}
        for x, y in ((a, b), (b, a)):
            site = by_name.get(x)
            if site and y in site.links:
                return site.links[y]
        return None
