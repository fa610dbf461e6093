"""`sovplatform artefacts build`: every artefact of the blueprint's Kubernetes release built
from pinned source into the user's cache, with SBOMs, the images pushed into the store's
registry; the report lists name, version, digest, licences and build time of each."""

from __future__ import annotations

import time
from typing import Any

from sovplatform.mirror.errors import MirrorError
from sovplatform.operations.context import Context
from sovplatform.operations.errors import OperationError, Refused
from sovplatform.plan.source_catalog import ETCD_RELEASES, STACKS, stack
from sovplatform.plan.source_catalog import etcd as etcd_components
from sovplatform.supply import build as supply_build
from sovplatform.supply import gobuild, sbom
from sovplatform.supply.store import Store


def store_of(ctx: Context) -> Store:
    return Store(ctx.cache / "supply")


def ensure_base(ctx: Context) -> list[str]:
    """The programs every platform runs that are built from source (etcd and etcdctl): found in
    the store, or built now (a few minutes, once per machine). Names of what is ready."""
    version = ctx.blueprint.versions.etcd
    if version not in ETCD_RELEASES:
        raise Refused(
            [f"versions.etcd: {version} is not an etcd the catalogue builds (known: {', '.join(ETCD_RELEASES)})"]
        )
    store = store_of(ctx)
    say = ctx.progress.update
    ready: list[str] = []
    try:
        with supply_build.locked(store, say):
            cdx = supply_build.tool("cyclonedx-gomod", store, say)
            for c in etcd_components(version):
                ready += [b.name for b in gobuild.ensure_component(c, store, say, cyclonedx=cdx)]
    except MirrorError as exc:
        raise OperationError(
            list(exc.problems), hint="the Go toolchain builds etcd from source (docs/supply-chain.md)"
        ) from None
    return ready


def build(ctx: Context, only: set[str] | None = None) -> dict[str, Any]:
    version = ctx.blueprint.versions.kubernetes
    chosen = stack(version)
    if chosen is None:
        raise Refused(
            [f"versions.kubernetes: {version} is not in the artefact catalogue (known: {', '.join(sorted(STACKS))})"]
        )
    unknown = supply_build.unknown_names(chosen, only or set())
    if unknown:
        raise Refused(
            [f"--only {n}: not a component, program or image of Kubernetes {version}" for n in unknown],
            hint="names: "
            + ", ".join(sorted({c.name for c in chosen.components()} | {r.name for r in chosen.images()})),
        )
    started = time.monotonic()
    try:
        result = supply_build.build(chosen, store_of(ctx), ctx.progress.update, only=only)
    except MirrorError as exc:
        raise OperationError(list(exc.problems)) from None
    rows: list[dict[str, Any]] = []
    for b in result.programs:
        rows.append(
            {
                "kind": "program",
                "name": b.name,
                "component": b.component,
                "version": b.version,
                "sha256": b.sha256,
                "size": b.size,
                "licence": b.licence,
                "licences": sbom.licences(b.sbom) if b.sbom else {},
                "sbom": str(b.sbom) if b.sbom else None,
                "path": str(b.path),
            }
        )
    for i in result.images:
        rows.append(
            {"kind": "image", "name": i.name, "ref": i.ref, "version": i.ref.rsplit(":", 1)[1], "digest": i.digest}
        )
    return {
        "kubernetes": version,
        "artefacts": rows,
        "seconds": result.seconds,
        "total_seconds": round(time.monotonic() - started, 1),
        "store": str(store_of(ctx).root),
    }
