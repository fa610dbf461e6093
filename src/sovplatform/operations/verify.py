"""`verify`: read-only checks of every deployed layer, from outside the platform."""

from __future__ import annotations

import importlib
import json
from typing import Any

from sovplatform.checks import s3, s3_encryption
from sovplatform.checks.model import Check, CheckContext, Layer
from sovplatform.engine.lock import PlatformLock
from sovplatform.files import write_atomic
from sovplatform.operations import kube_layer
from sovplatform.operations.context import Context
from sovplatform.operations.errors import Refused
from sovplatform.operations.lab import lab_for, substrate_errors

# Layers `up` deploys after the hosts, in dependency order (`up --until` stops after one), and
# the modules holding each layer's checks.
LAYERS: dict[str, tuple[str, ...]] = {
    "etcd": ("sovplatform.checks.etcd",),
    "ceph": ("sovplatform.checks.ceph",),
    "openbao": ("sovplatform.checks.openbao",),  # layers openbao and kms
    # layers gateway and kms
    "s3": ("sovplatform.checks.gateway", "sovplatform.checks.s3", "sovplatform.checks.s3_encryption"),
    # only where the blueprint enables it (kubernetes.enabled)
    "kubernetes": ("sovplatform.checks.kubernetes",),
}
LAYER_ORDER: tuple[str, ...] = tuple(LAYERS)
# The report's layer names (verify's JSON contract) for a probe that crashed.
REPORTED_AS: dict[str, Layer] = {
    "etcd": "etcd",
    "ceph": "ceph",
    "openbao": "openbao",
    "s3": "gateway",
    "kubernetes": "kubernetes",
}
LAYERS_FILE = "layers.json"


def record_layers(ctx: Context, layers: tuple[str, ...]) -> None:
    """What the last `up` deployed, so a later `verify` checks exactly that."""
    write_atomic(ctx.state / LAYERS_FILE, (json.dumps({"deployed": list(layers)}) + "\n").encode())


def planned_layers(ctx: Context, until: str | None = None) -> tuple[str, ...]:
    """The layers `up --until` deploys: Kubernetes only where the blueprint enables it."""
    upto = LAYER_ORDER[: LAYER_ORDER.index(until) + 1] if until else LAYER_ORDER
    return tuple(layer for layer in upto if layer != "kubernetes" or ctx.blueprint.kubernetes.enabled)


def deployed_layers(ctx: Context) -> tuple[str, ...]:
    try:
        recorded = json.loads((ctx.state / LAYERS_FILE).read_text())["deployed"]
    except (OSError, ValueError, KeyError, TypeError):
        return planned_layers(ctx)  # nothing recorded: expect everything
    return tuple(layer for layer in LAYER_ORDER if layer in recorded)


def check_context(ctx: Context) -> CheckContext:
    lab = lab_for(ctx)
    with substrate_errors():
        hosts = {str(h["name"]): h for h in lab.contract()}
    return CheckContext(hosts=hosts, plan=ctx.plan.data, state=ctx.state, known_hosts=ctx.state / "ssh" / "known_hosts")


def verify(ctx: Context, layers: tuple[str, ...] | None = None) -> dict[str, Any]:
    chosen = layers if layers is not None else deployed_layers(ctx)
    cctx = check_context(ctx)
    checks: list[Check] = []
    for layer in chosen:
        ctx.progress.phase(f"verify {layer}")
        for module in LAYERS[layer]:
            try:
                checks += importlib.import_module(module).run(cctx)
            except Exception as exc:  # a broken probe is a failed check, not a crash
                checks.append(Check(REPORTED_AS[layer], "checks ran", False, f"{module}: {type(exc).__name__}: {exc}"))
    return {
        "ok": bool(checks) and all(c.ok for c in checks),
        "layers": list(chosen),
        "checks": [c.to_dict() for c in checks],
        # Layers of the platform that are not deployed, each with the reason: reported, not failed.
        "not_deployed": [] if "kubernetes" in chosen else [kube_layer.from_state(ctx).to_dict()],
    }


def verify_kill_switch(ctx: Context) -> dict[str, Any]:
    """Every check of `verify`, then the sovereignty kill switch (operations/openbao.kill_switch)."""
    from sovplatform.operations.openbao import kill_switch

    if "openbao" not in deployed_layers(ctx):
        raise Refused(["--kill-switch: the platform's OpenBao is not deployed (the last up stopped before it)"])
    with PlatformLock(ctx.state, "verify --kill-switch " + ctx.blueprint.name):
        report = verify(ctx)
        lab = lab_for(ctx)
        with substrate_errors():
            hosts = lab.contract()
        ctx.progress.phase("verify kill switch")
        found: list[Check] = []
        probe = s3.probe_for(check_context(ctx)) if "s3" in deployed_layers(ctx) else None
        objects = s3_encryption.probe_for(check_context(ctx)) if "s3" in deployed_layers(ctx) else None
        if isinstance(probe, Check):
            found.append(probe)
            probe = None
        if isinstance(objects, Check):
            found.append(objects)
            objects = None
        try:
            if probe is not None:
                found.append(probe.write())
            if objects is not None:
                found += objects.write()

            def while_sealed() -> list[Check]:
                sealed = []
                if probe is not None:
                    sealed.append(
                        probe.read("kill switch: SSE-KMS object unreadable while sealed", expect_readable=False)
                    )
                if objects is not None:
                    sealed += objects.unreadable("kill switch: unreadable while sealed")
                return sealed

            found += kill_switch(ctx, hosts, while_sealed=while_sealed)
            if probe is not None:
                found.append(probe.read("kill switch: SSE-KMS object readable again", wait_s=60))
            if objects is not None:
                found += objects.readable_again("kill switch: readable again", wait_s=60)
        finally:
            if probe is not None:
                probe.delete()
            if objects is not None:
                objects.delete()
        extra = [c.to_dict() for c in found]
    report["checks"] += extra
    report["ok"] = report["ok"] and all(c["ok"] for c in extra)
    return report
