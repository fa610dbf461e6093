"""Whether the Kubernetes + KubeVirt layer can be deployed, and what `up` and `verify` say about it.

Kubernetes, its runtime and kubeadm's images are built from pinned source (`sovplatform
artefacts build`); the add-ons (Calico, ceph-csi, metrics, logs, KubeVirt, CDI) still come from
upstream through an artefact bundle (`up --bundle`). Without its built artefacts the layer is
reported as not available with the count of what is missing, in `up`'s output and in every
`verify` report, never silently left out; the add-ons still missing are counted apart. A
blueprint that enables the layer while a built artefact is missing makes `up` stop before it
touches a host; with everything built, `up` deploys it (operations/kubernetes.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sovplatform.mirror.manifest import MirrorManifest, MissingArtefact
from sovplatform.operations.context import Context
from sovplatform.operations.errors import Refused
from sovplatform.plan.artefacts import BUILT_PREFIXES
from sovplatform.plan.kube_catalog import KUBERNETES_STACK

LAYER = "kubernetes"
# Every built program, file and image of the artefact list belongs to this layer; the other
# layers need only Debian packages and checked binaries, which a mirror build never skips.
KINDS = ("build", "file", "image")


def is_core(m: MissingArtefact) -> bool:
    """Built from source (Kubernetes itself) rather than an upstream add-on."""
    return m.source.startswith(BUILT_PREFIXES)


@dataclass(frozen=True)
class Availability:
    """The layer as `up` and `verify` report it."""

    enabled: bool
    missing: tuple[MissingArtefact, ...] = field(default=())
    unknown: str = ""  # why the artefacts could not be looked at, or not even be listed
    addons_missing: tuple[MissingArtefact, ...] = field(default=())  # upstream add-ons, apart

    @property
    def reason(self) -> str:
        if self.unknown:
            return f"not available: {self.unknown}"
        if self.missing:
            return f"not available: artefacts missing ({len(self.missing)}; `sovplatform artefacts build` builds them)"
        addons = f"; add-ons still missing ({len(self.addons_missing)})" if self.addons_missing else ""
        if not self.enabled:
            return f"not deployed: every Kubernetes artefact is built{addons}; set kubernetes.enabled in the blueprint"
        return f"enabled, every Kubernetes artefact is built{addons}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": LAYER,
            "enabled": self.enabled,
            "reason": self.reason,
            "missing": [m.line() for m in self.missing],
            "addons_missing": [m.line() for m in self.addons_missing],
        }


def availability(enabled: bool, missing: Iterable[MissingArtefact], kubernetes: str = "") -> Availability:
    """``kubernetes``: the pinned release; one the catalogue does not know has no artefact list
    at all, which must not read as "nothing missing"."""
    if kubernetes and kubernetes not in KUBERNETES_STACK:
        known = ", ".join(sorted(KUBERNETES_STACK))
        why = f"versions.kubernetes {kubernetes} is not in the artefact catalogue (known: {known})"
        return Availability(enabled, unknown=why)
    layer = sorted(m for m in missing if m.kind in KINDS)
    return Availability(
        enabled, tuple(m for m in layer if is_core(m)), addons_missing=tuple(m for m in layer if not is_core(m))
    )


def refusal(avail: Availability) -> Refused | None:
    """Why `up` must stop before the hosts, or None (the layer is deployed or simply left out)."""
    if not avail.enabled:
        return None
    if avail.unknown:
        return Refused([f"kubernetes.enabled: {avail.reason}"])
    if avail.missing:
        return Refused(
            [f"kubernetes.enabled: {m.line()}" for m in avail.missing],
            hint="build them with `sovplatform artefacts build BLUEPRINT` (docs/supply-chain.md); "
            "or set kubernetes.enabled: false to bring the platform up without the layer",
        )
    return None


def of_manifest(ctx: Context, manifest: MirrorManifest) -> Availability:
    return availability(ctx.blueprint.kubernetes.enabled, manifest.missing, ctx.blueprint.versions.kubernetes)


def from_state(ctx: Context) -> Availability:
    """The layer as the last mirror build left it; a platform never brought up has no mirror."""
    try:
        manifest = MirrorManifest.from_json((ctx.state / "mirror" / "manifest.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return Availability(ctx.blueprint.kubernetes.enabled, unknown="no mirror built yet (run `sovplatform up`)")
    return of_manifest(ctx, manifest)
