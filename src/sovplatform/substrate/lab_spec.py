"""From a blueprint to the lab's specification (pure): sites, hosts, links, the customer host."""

from __future__ import annotations

from ipaddress import IPv4Network, ip_address
from urllib.parse import urlsplit

from sovplatform.blueprint.models import Blueprint
from sovplatform.blueprint.rules import gateway_of
from sovplatform.substrate.spec import ExternalHostSpec, HostSpec, LabSpec, LinkSpec, SiteNet

CUSTOMER_KMS_HOST = "customer-kms"


def lab_spec(bp: Blueprint) -> LabSpec:
    sites = []
    for index, site in enumerate(bp.sites):
        mgmt = site.networks.management
        storage = site.networks.storage
        sites.append(
            SiteNet(
                name=site.name,
                index=index,
                management_cidr=str(mgmt.cidr),
                management_gateway=str(gateway_of(mgmt.cidr, mgmt.gateway)),
                storage_cidr=str(storage.cidr) if storage else None,
                storage_gateway=str(gateway_of(storage.cidr, storage.gateway)) if storage else None,
            )
        )
    hosts = tuple(
        HostSpec(
            name=h.name,
            site=s.name,
            management_address=str(h.addresses.management),
            storage_address=str(h.addresses.storage) if h.addresses.storage else None,
            disks_gb=tuple(d.size_gb for d in h.disks) if "storage" in h.roles else (),
            roles=tuple(sorted(h.roles)),
        )
        for _, _, s, h in bp.hosts()
    )
    links = []
    names = [s.name for s in bp.sites]
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            link = bp.link(a, b)
            if link is not None:
                links.append(
                    LinkSpec(a=a, b=b, rtt_ms=link.rtt_ms, jitter_ms=link.jitter_ms, loss_percent=link.loss_percent)
                )
    return LabSpec(
        platform=bp.name,
        sites=tuple(sites),
        hosts=hosts,
        links=tuple(links),
        customer_kms=customer_kms_host(bp),
        suite=bp.versions.debian,
    )


def customer_kms_host(bp: Blueprint) -> ExternalHostSpec | None:
    """The lab stands the customer's KMS up as a host of its own on a /24 outside the platform."""
    host = urlsplit(bp.customer_kms.endpoint).hostname or ""
    try:
        addr = ip_address(host)
    except ValueError:
        return None
    net = IPv4Network(f"{addr}/24", strict=False)
    return ExternalHostSpec(
        name=CUSTOMER_KMS_HOST, address=str(addr), cidr=str(net), gateway=str(net.network_address + 1)
    )
