"""Building a stack's artefacts from source into the store: tools first (SBOM generator, image
assembler, registry), then each component, then the images, pushed into the store's registry."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sovplatform.files import exclusive
from sovplatform.mirror import tools
from sovplatform.mirror.errors import MirrorError
from sovplatform.plan.source_catalog import TOOLS, Component, ImageRecipe, Stack
from sovplatform.supply import gobuild, images, registry
from sovplatform.supply.locate import tag_digest
from sovplatform.supply.store import REPO_ROOT, Store

Progress = Callable[[str], None]


@dataclass
class Result:
    programs: list[gobuild.Built] = field(default_factory=list)
    images: list[images.BuiltImage] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per component/image: time spent here


def locked(store: Store, say: Progress) -> contextlib.AbstractContextManager[None]:
    """One build per store at a time (they share the Go caches and the registry tree)."""
    return exclusive(store.lock, lambda: say(f"waiting for another build using {store.root}"))


def tool(name: str, store: Store, say: Progress, repo: Path = REPO_ROOT) -> Path:
    """A controller tool's binary, built on first use."""
    component = TOOLS[name]
    cdx = None if name == "cyclonedx-gomod" else tool("cyclonedx-gomod", store, say, repo)
    return gobuild.ensure_component(component, store, say, cyclonedx=cdx, repo=repo)[0].path


def unknown_names(stack: Stack, only: set[str]) -> list[str]:
    comps = stack.components()
    known = {c.name for c in comps} | {p.name for c in comps for p in c.programs} | {r.name for r in stack.images()}
    return sorted(only - known)


def _selection(
    stack: Stack, only: set[str] | None
) -> tuple[list[tuple[Component, set[str] | None]], list[ImageRecipe]]:
    """Components (with the programs wanted of each, None = all) and images named by ``only``:
    component, program or image names; an image brings the programs it is made of."""
    recipes, comps = stack.images(), stack.components()
    if only is None:
        return [(c, None) for c in comps], recipes
    unknown = unknown_names(stack, only)
    if unknown:
        raise MirrorError(
            [f"--only {n}: not a component, program or image of Kubernetes {stack.kubernetes}" for n in unknown]
        )
    chosen = [r for r in recipes if r.name in only]
    programs = (only - {c.name for c in comps}) | {name for r in chosen for name, _ in r.programs}
    out: list[tuple[Component, set[str] | None]] = []
    for c in comps:
        if c.name in only:
            out.append((c, None))
        elif names := {p.name for p in c.programs} & programs:
            out.append((c, names))
    return out, chosen


def build(stack: Stack, store: Store, say: Progress, *, only: set[str] | None = None, repo: Path = REPO_ROOT) -> Result:
    """Build (or find in the store) every component and image of the stack, or those ``only`` names."""
    result = Result()
    with locked(store, say):
        wanted, recipes = _selection(stack, only)
        cdx = tool("cyclonedx-gomod", store, say, repo)
        for c, names in wanted:
            started = time.monotonic()
            result.programs += gobuild.ensure_component(c, store, say, cyclonedx=cdx, repo=repo, names=names)
            result.seconds[f"{c.name} {c.version}"] = round(time.monotonic() - started, 1)
        if not recipes:
            return result
        ocibuild = tool("ocibuild", store, say, repo)
        by_name = {b.name: b.path for b in result.programs}
        for r in recipes:
            started = time.monotonic()
            result.images.append(images.ensure_image(r, by_name, store, ocibuild, say))
            result.seconds[f"image {r.name}"] = round(time.monotonic() - started, 1)
        stale = [i for i in result.images if tag_digest(store, i.ref) != i.digest]
        if stale:
            binary = tool("registry", store, say, repo)
            say(f"registry: pushing {len(stale)} image(s) into {store.registry}")
            with registry.private(binary, store.registry, store.root / "registry-run") as addr:
                for i in stale:
                    target = f"{addr}/{i.ref.split('/', 1)[1]}"
                    tools.run([str(ocibuild), "push", str(i.layout), target], f"push {i.ref}")
    return result
