"""Which built artefacts of a plan are in the store, for the mirror to publish (never builds).

A program is found by its recipe key (the same inputs give the same bytes); an image by its
tag in the store's registry tree. What is not there is reported as missing with the command
that builds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sovplatform.mirror.errors import MirrorError
from sovplatform.mirror.manifest import MissingArtefact
from sovplatform.plan.artefacts import Artefact
from sovplatform.plan.source_catalog import TOOLS, Component, all_components
from sovplatform.supply import gobuild
from sovplatform.supply.store import REPO_ROOT, Store

NOT_BUILT = "not built yet: run `sovplatform artefacts build BLUEPRINT`"


@dataclass
class Found:
    programs: dict[Artefact, gobuild.Built] = field(default_factory=dict)
    images: dict[Artefact, str] = field(default_factory=dict)  # artefact -> manifest digest
    missing: list[MissingArtefact] = field(default_factory=list)


def component_of(a: Artefact) -> Component | None:
    for c in all_components():
        if c.version != a.version:
            continue
        for p in c.programs:
            if p.name == a.name and a.source == f"{c.language}:{c.module}@{c.pinned}#{p.package}":
                return c
    return None


def tag_digest(store: Store, ref: str) -> str:
    repo_path, tag = ref.split("/", 1)[1].rsplit(":", 1)
    link = store.registry / "docker/registry/v2/repositories" / repo_path / "_manifests/tags" / tag / "current/link"
    try:
        return link.read_text().strip()
    except OSError:
        return ""


def registry_binary(store: Store, repo: Path = REPO_ROOT) -> Path | None:
    """The registry program in the store, if it was ever built (for serving the mirror)."""
    try:
        found = gobuild.find_component(TOOLS["registry"], store, repo)
    except MirrorError:
        return None
    return found[0].path if found else None


def locate(artefacts: list[Artefact], store: Store, repo: Path = REPO_ROOT) -> Found:
    out = Found()
    for a in sorted(artefacts):
        if a.kind == "build":
            c = component_of(a)
            if c is None:
                out.missing.append(MissingArtefact(a.kind, a.name, a.version, a.source, "not in the source catalogue"))
                continue
            # Programs of one component are found one by one: `artefacts build --only` may have
            # built some of them.
            try:
                program = gobuild.find_program(c, next(p for p in c.programs if p.name == a.name), store, repo)
            except MirrorError as exc:
                out.missing.append(MissingArtefact(a.kind, a.name, a.version, a.source, "; ".join(exc.problems)))
                continue
            if program is None or program.sbom is None:
                # Never published without its SBOM.
                out.missing.append(MissingArtefact(a.kind, a.name, a.version, a.source, NOT_BUILT))
            else:
                out.programs[a] = program
        elif a.kind == "image" and a.source.startswith("built:"):
            digest = tag_digest(store, a.source.removeprefix("built:"))
            if digest:
                out.images[a] = digest
            else:
                out.missing.append(MissingArtefact(a.kind, a.name, a.version, a.source, NOT_BUILT))
    return out
