"""`status`: what each host of the platform is doing, from the substrate's point of view."""

from __future__ import annotations

from typing import Any

from sovplatform.operations.context import Context
from sovplatform.operations.drain import drained_hosts
from sovplatform.operations.fence import fenced_hosts
from sovplatform.operations.lab import lab_for, substrate_errors


def status(ctx: Context) -> dict[str, Any]:
    lab = lab_for(ctx)
    with substrate_errors():
        raw = lab.status()
    by_name = {h["name"]: h for h in raw.get("hosts", [])}  # type: ignore[union-attr]
    hosts = []
    drained, fenced = drained_hosts(ctx), fenced_hosts(ctx)
    for name, site in ctx.blueprint.host_site().items():
        h = by_name.get(name, {})
        hosts.append(
            {
                "name": name,
                "site": site,
                "address": next(str(x.addresses.management) for _, _, _, x in ctx.blueprint.hosts() if x.name == name),
                "state": "running" if h.get("running") else "stopped",
                "reachable": bool(h.get("reachable")),
                # What an operator declared (`drain`, `fence`): drill and upgrade refuse while any is set.
                "drained": name in drained,
                "fenced": name in fenced,
            }
        )
    kms = by_name.get("customer-kms")
    return {
        "hosts": hosts,
        # The lab's own view: its network ("ok" or what is wrong) and the sites cut off now.
        "network": raw.get("network"),
        "partitioned": raw.get("partitioned", []),
        "customer_kms": (
            {
                "address": kms.get("address"),
                "state": "running" if kms.get("running") else "stopped",
                "reachable": bool(kms.get("reachable")),
            }
            if kms
            else None
        ),
    }
