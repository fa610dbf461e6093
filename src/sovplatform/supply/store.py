"""Where built artefacts live in the user's cache, and the keys that address them.

A key is the sha256 of every input that can change the output: the wrapper module's go.mod and
go.sum, the Go toolchain, the package, flags, tags and cgo. Equal key, equal bytes (the builds
are reproducible), so a hit is used without running the compiler at all.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sovplatform import paths

REPO_ROOT = Path(__file__).resolve().parents[3]


def default_root() -> Path:
    return paths.cache_dir() / "supply"


def digest_of(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Store:
    def __init__(self, root: Path | None = None, *, gomodcache: Path | None = None) -> None:
        self.root = root or default_root()
        # Sources only (checked against go.sum on every build): a second store may share them.
        self._gomodcache = gomodcache

    @property
    def gomodcache(self) -> Path:
        return self._gomodcache or self.root / "go" / "mod"

    @property
    def gocache(self) -> Path:
        return self.root / "go" / "build"

    def built(self, component: str, version: str, key: str) -> Path:
        return self.root / "built" / component / version / key[:20]

    def image(self, name: str, version: str, key: str) -> Path:
        return self.root / "images" / name / version / key[:20]

    def base_layer(self, key: str) -> Path:
        return self.root / "base" / key[:20]

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def lock(self) -> Path:
        return self.root / "lock"
