"""Build the plan from a validated blueprint and render it to files (pure, deterministic).

Same blueprint, byte-identical files: every mapping is emitted with sorted keys and nothing
depends on time, environment or host state.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import yaml

from sovplatform.blueprint.models import Blueprint
from sovplatform.blueprint.rules import gateway_of
from sovplatform.blueprint.topology import (
    capacity_after_loss,
    pool_survives_loss_of_any_site,
    quorum_facts,
    raw_capacity_gb,
)
from sovplatform.plan.artefacts import artefact_list
from sovplatform.plan.crush import plan_crush
from sovplatform.plan.inventory import plan_inventory
from sovplatform.plan.kube_files import documents as kube_documents
from sovplatform.plan.timers import plan_timers

PLAN_FORMAT = 1


@dataclass(frozen=True)
class Plan:
    platform: str
    data: dict[str, Any]  # everything below, JSON-compatible
    inventory: dict[str, Any]


def blueprint_digest(bp: Blueprint) -> str:
    canonical = json.dumps(bp.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _quorums(bp: Blueprint) -> dict[str, Any]:
    host_site = bp.host_site()
    names = [s.name for s in bp.sites]
    out = {}
    for key, members in bp.quorums().items():
        facts = quorum_facts(members, host_site, names)
        out[key] = {
            "members": list(facts.members),
            "size": len(facts.members),
            "majority": facts.majority,
            "members_per_site": facts.members_per_site,
            "survives_loss_of_any_site": facts.survives_loss_of_any_site,
        }
    return out


def _pools(bp: Blueprint, rule: str) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "application": p.application,
            "size": p.size,
            "min_size": p.min_size,
            "failure_domain": p.failure_domain,
            "crush_rule": rule,
            "pg_num": p.pg_num,
            "capacity_gb": p.capacity_gb,
            "survives_loss_of_any_site": pool_survives_loss_of_any_site(bp, p.name),
        }
        for p in bp.ceph.pools
    ]


def _sites(bp: Blueprint) -> list[dict[str, Any]]:
    raw = raw_capacity_gb(bp)
    out = []
    for index, site in enumerate(bp.sites):
        nets = site.networks
        entry: dict[str, Any] = {
            "name": site.name,
            "index": index,
            "region": site.region,
            "hosts": [h.name for h in site.hosts],
            "raw_capacity_gb": raw[site.name],
            "management": {
                "cidr": str(nets.management.cidr),
                "gateway": str(gateway_of(nets.management.cidr, nets.management.gateway)),
            },
            "storage": None,
            "links": {},
        }
        if nets.storage:
            entry["storage"] = {
                "cidr": str(nets.storage.cidr),
                "gateway": str(gateway_of(nets.storage.cidr, nets.storage.gateway)),
            }
        for other in bp.sites:
            link = bp.link(site.name, other.name) if other.name != site.name else None
            if link is not None:
                entry["links"][other.name] = link.model_dump(mode="json")
        out.append(entry)
    return out


def build_plan(bp: Blueprint) -> Plan:
    crush = plan_crush(bp)
    roles_in_use = {r for _, _, _, h in bp.hosts() for r in h.roles}
    versions = bp.versions.model_dump(mode="json")
    loss = {}
    for site in bp.sites:
        usable, need = capacity_after_loss(bp, site.name)
        raw_left = sum(gb for name, gb in raw_capacity_gb(bp).items() if name != site.name)
        loss[site.name] = {
            "raw_gb": raw_left,
            "replica_capacity_gb": round(usable, 1),
            "needed_at_min_size_gb": round(need, 1),
        }
    data: dict[str, Any] = {
        "format": PLAN_FORMAT,
        "platform": bp.name,
        "blueprint_sha256": blueprint_digest(bp),
        "substrate": bp.substrate.kind,
        "versions": versions,
        "sites": _sites(bp),
        "hosts": [
            {
                "name": h.name,
                "site": s.name,
                "roles": sorted(h.roles),
                "management_address": str(h.addresses.management),
            }
            for _, _, s, h in bp.hosts()
        ],
        "quorums": _quorums(bp),
        "pools": _pools(bp, crush["rule"]["name"]),
        "capacity_after_site_loss": loss,
        "crush": crush,
        "timers": plan_timers(bp),
        "customer_kms": {
            "endpoint": bp.customer_kms.endpoint,
            "mount": bp.customer_kms.mount,
            "transit_key": bp.customer_kms.transit_key,
            "recovery_threshold": bp.customer_kms.recovery_threshold,
            "custodians": [
                {"name": c.name, "pgp_public_key": c.pgp_public_key.strip() + "\n"} for c in bp.customer_kms.custodians
            ],
        },
        "artefacts": [a.to_dict() for a in artefact_list(roles_in_use, versions, bp.versions.debian)],
    }
    return Plan(platform=bp.name, data=data, inventory=plan_inventory(bp))


class _Dumper(yaml.CSafeDumper):
    """libyaml's emitter: a plan writes thousands of files for a large platform, and the pure
    Python one took most of `plan`'s time (benchmarks/plan_scale.py)."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Multi-line values (keys, ceph.conf) as one double-quoted line with \n, not folded.
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"' if "\n" in data else None)


_Dumper.add_representer(str, _str)


def _yaml(data: Any) -> str:
    return yaml.dump(
        _sorted(data), Dumper=_Dumper, default_flow_style=False, width=4096, sort_keys=False, allow_unicode=True
    )


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def render_files(plan: Plan) -> dict[str, bytes]:
    """Relative path -> content; the caller writes them (atomically) where it wants."""
    d = plan.data
    group_vars = {
        "sov_platform": d["platform"],
        "sov_versions": d["versions"],
        "sov_quorums": {k: v["members"] for k, v in d["quorums"].items()},
        "sov_timers": d["timers"],
        "sov_crush": d["crush"],
        "sov_pools": d["pools"],
        "sov_customer_kms": d["customer_kms"],
        "sov_artefacts": d["artefacts"],
        "sov_sites": d["sites"],
        "sov_substrate": d["substrate"],
    }
    header = f"# Generated by sovplatform plan from blueprint sha256 {d['blueprint_sha256']}; do not edit.\n"
    kube = {
        f"kubernetes/{path}": (header + "---\n".join(_yaml(doc) for doc in docs)).encode()
        for path, docs in sorted(kube_documents(d, plan.inventory).items())
    }
    return {
        **kube,
        "plan.json": (json.dumps(d, sort_keys=True, indent=2) + "\n").encode(),
        "inventory/hosts.yml": (header + _yaml(plan.inventory)).encode(),
        "inventory/group_vars/all.yml": (header + _yaml(group_vars)).encode(),
        "artefacts.json": (json.dumps(d["artefacts"], sort_keys=True, indent=2) + "\n").encode(),
    }


def summary(plan: Plan) -> dict[str, Any]:
    d = plan.data
    return {
        "platform": d["platform"],
        "substrate": d["substrate"],
        "sites": [
            {"name": s["name"], "region": s["region"], "hosts": s["hosts"], "raw_capacity_gb": s["raw_capacity_gb"]}
            for s in d["sites"]
        ],
        "quorums": d["quorums"],
        "pools": d["pools"],
        "timers": d["timers"],
        "capacity_after_site_loss": d["capacity_after_site_loss"],
        "artefacts": len(d["artefacts"]),
    }
