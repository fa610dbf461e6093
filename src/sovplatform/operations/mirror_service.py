"""The offline mirror as an operation sees it: build it, serve it on the management network."""

from __future__ import annotations

from pathlib import Path

from sovplatform.mirror import serve
from sovplatform.mirror.build import build_mirror
from sovplatform.mirror.errors import MirrorError
from sovplatform.operations.context import Context
from sovplatform.operations.errors import OperationError, Refused
from sovplatform.plan.artefacts import Artefact

MIRROR_PORT = 8080


def artefacts_of(ctx: Context) -> list[Artefact]:
    return [Artefact(**{**a, "roles": tuple(a["roles"])}) for a in ctx.plan.data["artefacts"]]


def build(ctx: Context, out_dir: Path) -> Path:
    # The build swaps the whole directory in: never let that swallow something that is not a mirror.
    if out_dir.exists() and (
        not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / "manifest.json").exists())
    ):
        raise Refused(
            [f"--out: {out_dir} exists and is not a mirror built by sovplatform; choose an empty or new directory"]
        )
    try:
        build_mirror(artefacts_of(ctx), out_dir, ctx.cache / "mirror", ctx.progress.update)
    except MirrorError as exc:
        raise OperationError([f"mirror: {p}" for p in exc.problems]) from None
    return out_dir / "manifest.json"


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
