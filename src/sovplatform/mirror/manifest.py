"""What a built mirror holds (pure): every requested artefact resolved to an exact version and
file, plus the whole deb closure. Deterministic JSON, so an unchanged rebuild is byte-identical."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT = 1


@dataclass(frozen=True, order=True)
class DebFile:
    name: str
    version: str  # exact Debian version, epoch included
    arch: str
    filename: str  # relative to the mirror root
    sha256: str
    size: int


@dataclass(frozen=True, order=True)
class ResolvedArtefact:
    kind: str
    name: str
    requested: str  # the plan's pin (upstream version; "" = distribution candidate)
    version: str  # what the mirror serves
    filename: str
    sha256: str
    size: int
    roles: tuple[str, ...]
    source: str


@dataclass(frozen=True, order=True)
class MissingArtefact:
    """Requested but not in the mirror, with the reason and the source it would need."""

    kind: str
    name: str
    version: str
    source: str
    reason: str

    def line(self) -> str:
        return f"missing {self.kind} {self.name} {self.version}: {self.reason} (needs {self.source})"


@dataclass(frozen=True)
class MirrorManifest:
    suite: str
    artefacts: tuple[ResolvedArtefact, ...]
    debs: tuple[DebFile, ...] = ()
    signing_key: str | None = None  # OpenPGP fingerprint that signs debian/InRelease
    sources: tuple[str, ...] = field(default=())  # the apt lines the closure was resolved from
    missing: tuple[MissingArtefact, ...] = ()

    def __post_init__(self) -> None:
        # Canonical order, so equal content means equal manifests and byte-identical JSON.
        object.__setattr__(self, "artefacts", tuple(sorted(self.artefacts)))
        object.__setattr__(self, "debs", tuple(sorted(self.debs)))
        object.__setattr__(self, "missing", tuple(sorted(self.missing)))

    @property
    def total_bytes(self) -> int:
        binaries = sum(a.size for a in self.artefacts if a.kind != "deb")
        return binaries + sum(d.size for d in self.debs)

    def artefact(self, kind: str, name: str) -> ResolvedArtefact:
        for item in self.artefacts:
            if item.kind == kind and item.name == name:
                return item
        raise KeyError(f"{kind} {name}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "suite": self.suite,
            "signing_key": self.signing_key,
            "sources": list(self.sources),
            "total_bytes": self.total_bytes,
            "artefacts": [_plain(asdict(a)) for a in self.artefacts],
            "debs": [asdict(d) for d in self.debs],
            "missing": [asdict(m) for m in self.missing],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> MirrorManifest:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"manifest format {data.get('format')!r} is not {FORMAT}")
        return cls(
            suite=data["suite"],
            signing_key=data.get("signing_key"),
            sources=tuple(data.get("sources", ())),
            artefacts=tuple(ResolvedArtefact(**{**a, "roles": tuple(a["roles"])}) for a in data["artefacts"]),
            debs=tuple(DebFile(**d) for d in data["debs"]),
            missing=tuple(MissingArtefact(**m) for m in data.get("missing", ())),
        )


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def render_sums(entries: list[tuple[str, str]]) -> str:
    """sha256sum(1) format, so hosts check downloads with `sha256sum -c`."""
    return "".join(f"{digest}  {path}\n" for path, digest in sorted(entries))
