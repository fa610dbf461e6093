"""Fault controls for drills: power hosts off/on, partition a site, heal."""

from __future__ import annotations

from sovplatform.engine.lock import PlatformLock
from sovplatform.operations.context import Context
from sovplatform.operations.errors import Refused
from sovplatform.operations.lab import lab_for, substrate_errors


def _check_target(ctx: Context, host: str | None, site: str | None) -> None:
    if host is not None and host not in ctx.blueprint.host_site():
        raise Refused([f"--host: no host {host!r} in platform {ctx.blueprint.name}"])
    if site is not None and site not in [s.name for s in ctx.blueprint.sites]:
        raise Refused([f"--site: no site {site!r} in platform {ctx.blueprint.name}"])


def power(ctx: Context, action: str, host: str | None, site: str | None) -> list[str]:
    _check_target(ctx, host, site)
    lab = lab_for(ctx)
    with PlatformLock(ctx.state, f"lab power {action}"), substrate_errors():
        journal = ctx.journal("lab-power")
        journal.record("power", "started", action=action, host=host, site=site)
        result = lab.power(action, host=host, site=site, progress=ctx.progress.update)
        journal.record("power", "done", action=action, host=host, site=site, result=result)
    return result


def partition(ctx: Context, site: str) -> None:
    _check_target(ctx, None, site)
    with PlatformLock(ctx.state, f"lab partition {site}"), substrate_errors():
        lab_for(ctx).partition(site)
        ctx.journal("lab-partition").record("partition", "done", site=site)


def heal(ctx: Context) -> None:
    with PlatformLock(ctx.state, "lab heal"), substrate_errors():
        lab_for(ctx).heal()
        ctx.journal("lab-heal").record("heal", "done")
