"""Build the lab substrate object for a platform (the substrate kind the lab CI uses)."""

from __future__ import annotations

from sovplatform.operations.context import Context
from sovplatform.operations.errors import Refused
from sovplatform.substrate.lab import LabSubstrate
from sovplatform.substrate.lab_spec import lab_spec


def lab_for(ctx: Context) -> LabSubstrate:
    if ctx.blueprint.substrate.kind != "lab":
        raise Refused(
            [
                f"substrate.kind: {ctx.blueprint.substrate.kind!r} is not available in this release; "
                "only 'lab' can be brought up (openstack and baremetal are planned, see docs/lab.md)"
            ]
        )
    return LabSubstrate(lab_spec(ctx.blueprint), ctx.state / "lab", ctx.cache)
