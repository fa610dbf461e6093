"""Whether the Kubernetes + KubeVirt layer can be deployed, and what `up` and `verify` say about it.

Its binaries and images come from an artefact bundle (`up --bundle`, `mirror build --bundle`):
upstream's download servers and registries are out of reach of an air-gapped site. Without
them the layer is reported as not available with the count of what is missing, in `up`'s
output and in every `verify` report, never silently left out. A blueprint that enables the
layer makes `up` stop before it touches a host.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sovplatform.mirror.manifest import MirrorManifest, MissingArtefact
from sovplatform.operations.context import Context
from sovplatform.operations.errors import Refused
from sovplatform.plan.kube_catalog import KUBERNETES_STACK

LAYER = "kubernetes"
# Every file and image of the artefact list belongs to this layer (plan/kube_catalog.py); the
# other layers need only Debian packages and checked binaries, which a mirror build never skips.
KINDS = ("file", "image")
NOT_DEPLOYABLE = (
    "kubernetes: every artefact is present, but `up` does not deploy this layer in this release "
    "(the controller does not yet ship the cluster's CA keys, KMS token and join credentials); "
    "see docs/kubernetes.md for running playbooks/kubernetes.yml by hand"
)


@dataclass(frozen=True)
class Availability:
    """The layer as `up` and `verify` report it."""

    enabled: bool
    missing: tuple[MissingArtefact, ...] = field(default=())
    unknown: str = ""  # why the artefacts could not be looked at, or not even be listed

    @property
    def reason(self) -> str:
        if self.unknown:
            return f"not available: {self.unknown}"
        if self.missing:
            return f"not available: artefacts missing ({len(self.missing)}; `sovplatform mirror build` lists them)"
        if not self.enabled:
            return "not deployed: every artefact is present; set kubernetes.enabled in the blueprint"
        return "enabled, every artefact is present"

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": LAYER,
            "enabled": self.enabled,
            "reason": self.reason,
            "missing": [m.line() for m in self.missing],
        }


def availability(enabled: bool, missing: Iterable[MissingArtefact], kubernetes: str = "") -> Availability:
    """``kubernetes``: the pinned release; one the catalogue does not know has no artefact list
    at all, which must not read as "nothing missing"."""
    if kubernetes and kubernetes not in KUBERNETES_STACK:
        known = ", ".join(sorted(KUBERNETES_STACK))
        why = f"versions.kubernetes {kubernetes} is not in the artefact catalogue (known: {known})"
        return Availability(enabled, unknown=why)
    return Availability(enabled, tuple(sorted(m for m in missing if m.kind in KINDS)))


def refusal(avail: Availability) -> Refused | None:
    """Why `up` must stop before the hosts, or None when the layer is simply left out."""
    if not avail.enabled:
        return None
    if avail.unknown:
        return Refused([f"kubernetes.enabled: {avail.reason}"])
    if avail.missing:
        return Refused(
            [f"kubernetes.enabled: {m.line()}" for m in avail.missing],
            hint="files come from `up --bundle DIR`; images must be preloaded into the site's registry "
            "(docs/kubernetes.md); or set kubernetes.enabled: false to bring the platform up without the layer",
        )
    return Refused([NOT_DEPLOYABLE])


def of_manifest(ctx: Context, manifest: MirrorManifest) -> Availability:
    return availability(ctx.blueprint.kubernetes.enabled, manifest.missing, ctx.blueprint.versions.kubernetes)


def from_state(ctx: Context) -> Availability:
    """The layer as the last mirror build left it; a platform never brought up has no mirror."""
    try:
        manifest = MirrorManifest.from_json((ctx.state / "mirror" / "manifest.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return Availability(ctx.blueprint.kubernetes.enabled, unknown="no mirror built yet (run `sovplatform up`)")
    return of_manifest(ctx, manifest)
