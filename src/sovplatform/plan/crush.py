"""The Ceph CRUSH hierarchy (root -> datacenter -> host) and the rule that spreads copies
over datacenters."""

from __future__ import annotations

from typing import Any

from sovplatform.blueprint.models import Blueprint

CRUSH_ROOT = "default"
RULE_NAME = "replicated_datacenter"


def crush_location(site: str, host: str) -> dict[str, str]:
    return {"root": CRUSH_ROOT, "datacenter": site, "host": host}


def plan_crush(bp: Blueprint) -> dict[str, Any]:
    datacenters = []
    for site in bp.sites:
        hosts = [h.name for h in site.hosts if "storage" in h.roles]
        if hosts:
            datacenters.append({"name": site.name, "hosts": hosts})
    rule_text = "\n".join(
        [
            f"rule {RULE_NAME} {{",
            "    type replicated",
            f"    step take {CRUSH_ROOT}",
            "    step chooseleaf firstn 0 type datacenter",
            "    step emit",
            "}",
        ]
    )
    return {
        "root": CRUSH_ROOT,
        "datacenters": datacenters,
        "rule": {
            "name": RULE_NAME,
            "failure_domain": "datacenter",
            "text": rule_text,
            # `ceph osd crush rule create-replicated <name> <root> <type>` builds the same rule
            "create_replicated": [RULE_NAME, CRUSH_ROOT, "datacenter"],
        },
        # A whole datacenter going dark must not trigger re-replication into the survivors:
        # that would fill them and cannot restore the datacenter failure domain anyway.
        "mon_osd_down_out_subtree_limit": "datacenter",
        "election_strategy": "connectivity",
    }
