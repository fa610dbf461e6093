"""Build the lab substrate object for a platform (the substrate kind the lab CI uses)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sovplatform.operations.context import Context
from sovplatform.operations.errors import OperationError, Refused
from sovplatform.substrate.lab import LabBusy, LabSubstrate, PrecheckFailed
from sovplatform.substrate.lab.commands import CommandFailed
from sovplatform.substrate.lab.hosts import HostError
from sovplatform.substrate.lab.network import NetworkError
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


@contextlib.contextmanager
def substrate_errors() -> Iterator[None]:
    """The lab's own failures, as one-line problems with the right exit code."""
    try:
        yield
    except (LabBusy, ValueError) as exc:
        raise Refused([f"lab: {exc}"]) from None
    except PrecheckFailed as exc:
        raise Refused([f"lab: {p}" for p in exc.problems]) from None
    except (NetworkError, HostError, CommandFailed) as exc:
        raise OperationError([f"lab: {exc}"]) from None
