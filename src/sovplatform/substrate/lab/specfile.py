"""LabSpec to and from JSON (``dataclasses.asdict`` form), for the CLI entry and the state dir."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from sovplatform.substrate.spec import ExternalHostSpec, HostSpec, LabSpec, LinkSpec, SiteNet


def spec_to_dict(spec: LabSpec) -> dict[str, Any]:
    return dataclasses.asdict(spec)


def spec_from_dict(data: dict[str, Any]) -> LabSpec:
    kms = data.get("customer_kms")
    return LabSpec(
        platform=data["platform"],
        sites=tuple(SiteNet(**site) for site in data["sites"]),
        hosts=tuple(
            HostSpec(**{**host, "disks_gb": tuple(host.get("disks_gb", ())), "roles": tuple(host.get("roles", ()))})
            for host in data["hosts"]
        ),
        links=tuple(LinkSpec(**link) for link in data.get("links", ())),
        customer_kms=ExternalHostSpec(**kms) if kms else None,
        ssh_user=data.get("ssh_user", "root"),
        # Spec files written before hosts could run another suite were all Debian 12.
        suite=data.get("suite", "bookworm"),
        extra=dict(data.get("extra", {})),
    )


def load_spec(path: Path) -> LabSpec:
    return spec_from_dict(json.loads(path.read_text()))


def spec_hash(spec: LabSpec) -> str:
    return hashlib.sha256(json.dumps(spec_to_dict(spec), sort_keys=True).encode()).hexdigest()[:16]
