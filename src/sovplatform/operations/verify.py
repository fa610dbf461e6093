"""`verify`: read-only checks of every deployed layer, from outside the platform."""

from __future__ import annotations

import importlib
from typing import Any

from sovplatform.checks.model import Check, CheckContext
from sovplatform.operations.context import Context
from sovplatform.operations.lab import lab_for, substrate_errors

# Layers `up` deploys, in dependency order, and the module holding each layer's checks.
LAYERS: dict[str, str] = {
    "etcd": "sovplatform.checks.etcd",
}


def check_context(ctx: Context) -> CheckContext:
    lab = lab_for(ctx)
    with substrate_errors():
        hosts = {str(h["name"]): h for h in lab.contract()}
    return CheckContext(hosts=hosts, plan=ctx.plan.data, state=ctx.state, known_hosts=ctx.state / "ssh" / "known_hosts")


def verify(ctx: Context) -> dict[str, Any]:
    cctx = check_context(ctx)
    checks: list[Check] = []
    for layer, module in LAYERS.items():
        ctx.progress.phase(f"verify {layer}")
        try:
            run = importlib.import_module(module).run
            checks += run(cctx)
        except Exception as exc:  # a broken probe is a failed check, not a crash
            checks.append(Check(layer, "checks ran", False, f"{type(exc).__name__}: {exc}"))  # type: ignore[arg-type]
    return {"ok": bool(checks) and all(c.ok for c in checks), "checks": [c.to_dict() for c in checks]}
