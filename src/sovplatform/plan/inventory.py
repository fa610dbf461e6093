"""The Ansible inventory: groups per role and per site, host vars with topology labels."""

from __future__ import annotations

from typing import Any

from sovplatform.blueprint.models import ROLES, Blueprint
from sovplatform.plan.crush import crush_location

REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"


def site_group(site: str) -> str:
    # Ansible group names may not contain '-'; site names are DNS labels, so this is injective.
    return "site_" + site.replace("-", "_")


def plan_inventory(bp: Blueprint) -> dict[str, Any]:
    hostvars: dict[str, dict[str, Any]] = {}
    for _, _, site, host in bp.hosts():
        net = site.networks
        storage_net = net.storage.cidr if net.storage else net.management.cidr
        hostvars[host.name] = {
            "ansible_host": str(host.addresses.management),
            "sov_site": site.name,
            "sov_region": site.region,
            "sov_roles": sorted(host.roles),
            "sov_management_address": str(host.addresses.management),
            "sov_management_cidr": str(net.management.cidr),
            "sov_storage_address": str(host.addresses.storage or host.addresses.management),
            "sov_storage_cidr": str(storage_net),
            "sov_node_labels": {REGION_LABEL: site.region, ZONE_LABEL: site.name},
            "sov_crush_location": crush_location(site.name, host.name),
            "sov_disks": [{"size_gb": d.size_gb, **({"device": d.device} if d.device else {})} for d in host.disks],
        }
    children: dict[str, Any] = {}
    for role in ROLES:
        members = bp.hosts_with_role(role)
        children[role] = {"hosts": {m: None for m in members}}
    quorum_groups = {
        "etcd_members": bp.etcd_members(),
        "ceph_mon": bp.ceph_monitors(),
        "openbao_voters": bp.openbao_voters(),
    }
    for group, members in quorum_groups.items():
        children[group] = {"hosts": {m: None for m in members}}
    for site in bp.sites:
        children[site_group(site.name)] = {"hosts": {h.name: None for h in site.hosts}}
    return {"all": {"hosts": hostvars, "children": children, "vars": {"sov_platform": bp.name}}}
