"""A mirror's inventory as an operator audits it: every artefact with its version, digest,
origin and licences (from the SBOM published beside each program built from source)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sovplatform.mirror import layout
from sovplatform.mirror.manifest import MirrorManifest
from sovplatform.supply import sbom


@dataclass(frozen=True)
class Row:
    kind: str
    name: str
    version: str
    digest: str
    source: str
    licence: str  # the artefact's own licence, "" when the mirror does not know it
    licences: dict[str, int]  # licence -> components carrying it, from the SBOM
    sbom: str  # path relative to the mirror, "" when there is none

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rows(mirror: Path) -> tuple[list[Row], MirrorManifest]:
    manifest = MirrorManifest.from_json((mirror / layout.MANIFEST).read_text())
    out = []
    for a in manifest.artefacts:
        if a.kind == "deb":
            continue
        rel = f"{a.filename}{layout.SBOM_SUFFIX}" if a.kind == "build" else ""
        counts: dict[str, int] = {}
        own = ""
        if rel and (mirror / rel).is_file():
            counts = sbom.licences(mirror / rel)
            own = sbom.main_licence(mirror / rel)
        else:
            rel = ""
        out.append(Row(a.kind, a.name, a.version, f"sha256:{a.sha256}", a.source, own, counts, rel))
    return out, manifest
