"""Files fetched from upstream release pages (Kubernetes binaries, runtime, manifests).

The pin is the trust anchor, as for binaries from wheels: a file is published only when its
sha256 equals the catalogue's. What cannot be had - no pinned sha256, no route to upstream, an
image the mirror has no registry for - is collected as ``Missing`` instead of failing the build,
so a mirror for a site without those layers is still made, and says exactly what it lacks.
A file whose bytes do not match its pin is never "missing": that is tampering or a wrong pin,
and it stops the build.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from sovplatform.mirror.binaries import sha256_file
from sovplatform.mirror.errors import MirrorError
from sovplatform.mirror.manifest import MissingArtefact as Missing
from sovplatform.plan.artefacts import Artefact

Fetch = Callable[[str, Path], None]
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20
TIMEOUT_S = 30


def file_name(url: str) -> str:
    name = Path(urlsplit(url).path).name
    if not name or name in (".", ".."):
        raise MirrorError(f"{url}: the URL names no file")
    return name


def check_source(a: Artefact) -> list[str]:
    """Problems with a file/image artefact visible without any download."""
    label = f"{a.kind} {a.name} {a.version}"
    if a.kind == "file":
        problems = [] if a.source.startswith("https://") else [f"{label}: source must be an https:// URL"]
        if a.sha256 is not None and not _SHA256.fullmatch(a.sha256):
            problems.append(f"{label}: sha256 {a.sha256!r} is not 64 lowercase hex digits")
        if a.sha256 is None and not a.note:
            problems.append(f"{label}: no sha256 and no note saying why")
        return problems
    return [] if a.note else [f"{label}: an image artefact needs a note saying how the site gets it"]


def https_fetch(url: str, dest: Path) -> None:
    """Download url to dest (the caller verifies). Network problems raise OSError."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp, dest.open("wb") as out:
        shutil.copyfileobj(resp, out, _CHUNK)


def collect(
    items: list[Artefact],
    cache_path: Callable[[Artefact], Path],
    progress: Callable[[str], None],
    *,
    fetch: Fetch | None = https_fetch,
    bundle: Path | None = None,
) -> tuple[dict[Artefact, Path], list[Missing]]:
    """A verified cached copy of every file artefact that can be had, and what cannot.

    Order of sources: the cache; a bundle directory laid out like the mirror's files/ tree
    (an artefact bundle carried into an air-gapped site); upstream through ``fetch`` (None:
    do not go online at all).
    """
    ready: dict[Artefact, Path] = {}
    missing: list[Missing] = []
    for a in sorted(items):
        if a.kind == "image":
            missing.append(Missing(a.kind, a.name, a.version, a.source, a.note))
            continue
        if a.sha256 is None:
            missing.append(Missing(a.kind, a.name, a.version, a.source, f"no sha256 pinned: {a.note}"))
            continue
        target = cache_path(a)
        if target.is_file() and sha256_file(target) == a.sha256:
            ready[a] = target
            continue
        source = bundle / a.name / a.version / file_name(a.source) if bundle else None
        if source is not None and source.is_file():
            _verified_copy(a, target, lambda tmp, src=source: shutil.copyfile(src, tmp))
            ready[a] = target
            continue
        if fetch is None:
            missing.append(Missing(a.kind, a.name, a.version, a.source, "not in the cache or bundle (offline build)"))
            continue
        progress(f"files: downloading {a.name} {a.version}")
        try:
            _verified_copy(a, target, lambda tmp, url=a.source: fetch(url, tmp))
        except (OSError, urllib.error.URLError) as exc:
            missing.append(Missing(a.kind, a.name, a.version, a.source, f"download failed: {_reason(exc)}"))
            continue
        ready[a] = target
    return ready, missing


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None)
    return str(inner or exc) or type(exc).__name__


def _verified_copy(a: Artefact, target: Path, produce: Callable[[Path], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        produce(tmp)
        actual = sha256_file(tmp)
        if actual != a.sha256:
            raise MirrorError(
                f"file {a.name} {a.version}: sha256 of {a.source} is {actual}, the catalogue pins {a.sha256}; "
                "not published"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
