"""Where things live (pure): in the cache shared by builds, and in a published mirror.

The published layout is a contract with the hosts' playbooks, so it is spelled out here once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sovplatform import paths
from sovplatform.mirror.versions import split_epoch

# Published mirror (relative to out_dir).
REPO_DIR = "debian"  # flat apt repo: `deb [signed-by=…] http://<mirror>/debian ./`
POOL_DIR = "pool"  # inside REPO_DIR
BINARIES_DIR = "binaries"
FILES_DIR = "files"  # upstream release files: files/<name>/<version>/<file name in the URL>
MANIFEST = "manifest.json"
KEYRING = "mirror-keyring.gpg"  # binary OpenPGP key, for apt's signed-by
KEY_ASC = "mirror-key.asc"  # same key, armoured, for humans
SUMS = "SHA256SUMS"
SBOM_SUFFIX = ".cdx.json"  # CycloneDX SBOM beside every program built from source
REGISTRY_DIR = "registry"  # the OCI registry's storage tree (CNCF distribution layout)


def default_cache_dir() -> Path:
    return paths.cache_dir() / "mirror"


def deb_pool_name(name: str, version: str, arch: str) -> str:
    """The .deb file name as Debian's own pool spells it: no epoch, so no ':' in URLs."""
    return f"{name}_{split_epoch(version)[1]}_{arch}.deb"


def apt_archive_name(name: str, version: str, arch: str) -> str:
    """The name apt gives a downloaded .deb in its archives dir (epoch colon quoted)."""
    return f"{name}_{version.replace(':', '%3a')}_{arch}.deb"


def binary_path(name: str, version: str) -> str:
    return f"{BINARIES_DIR}/{name}/{version}/{name}"


def file_path(name: str, version: str, file_name: str) -> str:
    return f"{FILES_DIR}/{name}/{version}/{file_name}"


def apt_source_line(base_url: str, keyring: str = "/etc/apt/keyrings/sovplatform-mirror.gpg") -> str:
    """The sources.list line a host uses for this mirror (base_url like http://10.0.0.1:8080)."""
    return f"deb [signed-by={keyring}] {base_url.rstrip('/')}/{REPO_DIR} ./"


class CacheLayout:
    """The shared cache: downloads survive between builds, keyed so different inputs never collide."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    def apt_root(self, sources: str) -> Path:
        # One private apt state per sources list: changing the archive URL never mixes indexes.
        return self.root / "apt" / hashlib.sha256(sources.encode()).hexdigest()[:16]

    @property
    def debs(self) -> Path:
        return self.root / "debs"  # apt's archives dir, shared by every apt root

    @property
    def wheels(self) -> Path:
        return self.root / "wheels"

    def binary(self, name: str, version: str) -> Path:
        return self.root / binary_path(name, version)

    def file(self, name: str, version: str, file_name: str) -> Path:
        return self.root / file_path(name, version, file_name)

    @property
    def gnupg(self) -> Path:
        return self.root / "signing" / "gnupg"
