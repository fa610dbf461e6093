"""The offline mirror as an operation sees it: build it, serve it on the management network."""

from __future__ import annotations

from pathlib import Path

from sovplatform.mirror import serve
from sovplatform.mirror.build import build_mirror
from sovplatform.mirror.errors import MirrorError
from sovplatform.mirror.manifest import MirrorManifest
from sovplatform.mirror.remote import Fetch, https_fetch
from sovplatform.operations.context import Context
from sovplatform.operations.errors import OperationError, Refused
from sovplatform.plan.artefacts import Artefact
from sovplatform.supply import registry
from sovplatform.supply.locate import registry_binary
from sovplatform.supply.store import Store

MIRROR_PORT = 8080
REGISTRY_PORT = 5000


def artefacts_of(ctx: Context) -> list[Artefact]:
    return [Artefact(**{**a, "roles": tuple(a["roles"])}) for a in ctx.plan.data["artefacts"]]


def build(ctx: Context, out_dir: Path, bundle: Path | None = None) -> MirrorManifest:
    """The mirror `up` serves, built offline from the cache and an optional artefact bundle
    (the lab runs no layer that needs upstream files). What is missing is in the manifest;
    what that means for `up` is operations/kube_layer's call, and `up` says it."""
    return _build(ctx, out_dir, fetch=None, bundle=bundle)


def build_report(ctx: Context, out_dir: Path, *, online: bool = True, bundle: Path | None = None) -> MirrorManifest:
    """The mirror for an air-gapped site: fetch what can be had, list the rest in manifest.missing."""
    return _build(ctx, out_dir, fetch=https_fetch if online else None, bundle=bundle)


def _build(ctx: Context, out_dir: Path, *, fetch: Fetch | None, bundle: Path | None) -> MirrorManifest:
    # The build swaps the whole directory in: never let that swallow something that is not a mirror.
    if out_dir.exists() and (
        not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / "manifest.json").exists())
    ):
        raise Refused(
            [f"--out: {out_dir} exists and is not a mirror built by sovplatform; choose an empty or new directory"]
        )
    if bundle is not None and not bundle.is_dir():
        raise Refused([f"--bundle: {bundle} is not a directory"])
    try:
        return build_mirror(
            artefacts_of(ctx),
            out_dir,
            ctx.cache / "mirror",
            ctx.progress.update,
            fetch=fetch,
            bundle=bundle,
            store=Store(ctx.cache / "supply"),
        )
    except MirrorError as exc:
        raise OperationError([f"mirror: {p}" for p in exc.problems]) from None


def ensure_registry(ctx: Context, bind: str) -> str | None:
    """Serve the mirror's registry tree read-only on bind:REGISTRY_PORT when the mirror has one
    (images were built); idempotent. Returns host:port, or None when there is nothing to serve."""
    tree = ctx.state / "mirror" / "registry"
    run_dir = ctx.state / "registry-server"
    if not tree.is_dir():
        registry.stop(run_dir)
        return None
    binary = registry_binary(Store(ctx.cache / "supply"))
    if binary is None:
        raise OperationError(
            [
                "registry: the mirror holds images but the registry program is not built; "
                "run `sovplatform artefacts build BLUEPRINT`"
            ]
        )
    try:
        return registry.serve(binary, tree, bind, REGISTRY_PORT, run_dir)
    except MirrorError as exc:
        raise OperationError([f"registry: {p}" for p in exc.problems]) from None


def ensure(ctx: Context, bind: str) -> str:
    """Serve <state>/mirror on bind:MIRROR_PORT; idempotent. Returns the base URL."""
    run_dir = ctx.state / "mirror-server"
    directory = ctx.state / "mirror"
    current = serve.status(run_dir)
    if current and current.bind == bind and Path(current.directory) == directory and current.port == MIRROR_PORT:
        return current.url
    if current:
        serve.stop(run_dir)
    try:
        info = serve.start(directory, bind, MIRROR_PORT, run_dir)
    except MirrorError as exc:
        raise OperationError([f"mirror server: {p}" for p in exc.problems]) from None
    return info.url


def stop(ctx: Context) -> None:
    serve.stop(ctx.state / "mirror-server")
    registry.stop(ctx.state / "registry-server")
