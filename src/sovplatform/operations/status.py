"""`status`: what each host of the platform is doing, from the substrate's point of view."""

from __future__ import annotations

from typing import Any

from sovplatform.operations.context import Context
from sovplatform.operations.lab import lab_for


def status(ctx: Context) -> dict[str, Any]:
    lab = lab_for(ctx)
    raw = lab.status()
    by_name = {h["name"]: h for h in raw.get("hosts", [])}  # type: ignore[union-attr]
    hosts = []
    for name, site in ctx.blueprint.host_site().items():
        h = by_name.get(name, {})
        hosts.append(
            {
                "name": name,
                "site": site,
                "address": next(str(x.addresses.management) for _, _, _, x in ctx.blueprint.hosts() if x.name == name),
                "state": "running" if h.get("running") else "stopped",
                "reachable": bool(h.get("reachable")),
            }
        )
    return {"hosts": hosts}
