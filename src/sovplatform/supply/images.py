"""Container images assembled from built programs, without a container engine.

Layers are tar files written here in a canonical form (sorted entries, owner root, mtime 0),
so a layer's digest depends only on its content; `ocibuild` (supply/ocibuild, on
go-containerregistry) turns layers and a fixed config into an OCI image layout. An image that
needs userland tools (kube-proxy: iptables, conntrack) gets a base layer from a debootstrap'd
Debian rootfs, built once per package set and kept in the store.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sovplatform.mirror import tools
from sovplatform.mirror.binaries import sha256_file
from sovplatform.mirror.errors import MirrorError
from sovplatform.plan.source_catalog import ImageRecipe
from sovplatform.supply.store import Store, digest_of

Progress = Callable[[str], None]
DEBIAN_SUITE = "bookworm"
DEBIAN_ARCHIVE = "http://deb.debian.org/debian"
# Trimmed from the base rootfs: caches, logs and package lists differ run to run and serve no
# container.
BASE_PRUNE = (
    "var/cache/apt",
    "var/lib/apt/lists",
    "var/log",
    "var/cache/ldconfig",
    "dev",
    "proc",
    "sys",
    "run",
    "tmp",
    "debootstrap",
    "etc/machine-id",
    "etc/hostname",
    "etc/resolv.conf",
    "etc/hosts",
)


@dataclass(frozen=True)
class BuiltImage:
    name: str
    ref: str
    layout: Path
    digest: str  # the manifest's sha256 digest (sha256:…)
    key: str


def _tarinfo(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info


def write_layer(dest: Path, entries: Iterable[tuple[str, Path]]) -> None:
    """A canonical uncompressed layer tar of (path in image, file on disk) pairs, with parents."""
    files = sorted((arc.lstrip("/"), src) for arc, src in entries)
    dirs = sorted({str(Path(arc).parents[i]) for arc, _ in files for i in range(len(Path(arc).parents) - 1)})
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in dirs:
            info = _tarinfo(tarfile.TarInfo(d))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for arc, src in files:
            info = _tarinfo(tar.gettarinfo(str(src), arc))
            info.mode = 0o755 if os.access(src, os.X_OK) else 0o644
            with src.open("rb") as fh:
                tar.addfile(info, fh)


def _rootfs_layer(rootfs: Path, dest: Path) -> None:
    """The whole rootfs as a canonical layer (sorted walk, mtime 0, numeric owners kept)."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted([*dirnames, *filenames]):
                full = Path(dirpath) / name
                arc = str(full.relative_to(rootfs))
                info = tar.gettarinfo(str(full), arc)
                info.mtime = 0
                info.uname = info.gname = ""
                if info.isreg():
                    with full.open("rb") as fh:
                        tar.addfile(info, fh)
                else:
                    tar.addfile(info)


def base_layer(packages: tuple[str, ...], store: Store, say: Progress) -> Path:
    """A Debian minbase rootfs with ``packages``, as a layer tar (cached by package set)."""
    key = digest_of({"suite": DEBIAN_SUITE, "archive": DEBIAN_ARCHIVE, "packages": sorted(packages), "format": 1})
    final = store.base_layer(key)
    layer = final / "layer.tar"
    if layer.is_file():
        return layer
    tools.ensure_tools("apt-get", progress=say)
    if shutil.which("debootstrap") is None:
        raise MirrorError("debootstrap is not installed; the kube-proxy image's base layer needs it")
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=final.parent, prefix=".base-"))
    try:
        rootfs = scratch / "rootfs"
        say(f"image base: debootstrap {DEBIAN_SUITE} with {', '.join(packages)} (a few minutes, once)")
        started = time.monotonic()
        proc = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(packages)}",
                DEBIAN_SUITE,
                str(rootfs),
                DEBIAN_ARCHIVE,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise MirrorError(
                [f"image base: debootstrap: {line}" for line in tools.interesting_lines(proc.stdout + proc.stderr)]
            )
        for rel in BASE_PRUNE:
            target = rootfs / rel
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
                target.mkdir(mode=0o1777 if rel == "tmp" else 0o755)
            else:
                target.unlink(missing_ok=True)
        _rootfs_layer(rootfs, scratch / "layer.tar")
        shutil.rmtree(rootfs)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(scratch, final)
        say(f"image base: ready in {time.monotonic() - started:.0f}s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return layer


def ensure_image(
    recipe: ImageRecipe,
    programs: dict[str, Path],
    store: Store,
    ocibuild: Path,
    say: Progress,
) -> BuiltImage:
    """The image's OCI layout in the store, assembled first if it is not there."""
    missing = [name for name, _ in recipe.programs if name not in programs]
    if missing:
        raise MirrorError(f"image {recipe.name}: programs not built: {', '.join(missing)}")
    base = base_layer(recipe.base_packages, store, say) if recipe.base_packages else None
    spec_inputs = {
        "format": 1,
        "ref": recipe.ref,
        "programs": [(name, at, sha256_file(programs[name])) for name, at in recipe.programs],
        "base": sha256_file(base) if base else None,
        "entrypoint": recipe.entrypoint,
        "env": recipe.env,
        "user": recipe.user,
        "ocibuild": sha256_file(ocibuild),
    }
    key = digest_of(spec_inputs)
    final = store.image(recipe.name, recipe.version, key)
    digest_file = final / "digest"
    if digest_file.is_file() and (final / "layout" / "index.json").is_file():
        return BuiltImage(recipe.name, recipe.ref, final / "layout", digest_file.read_text().strip(), key)
    say(f"image {recipe.name}: assembling {recipe.ref}")
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=final.parent, prefix=".image-"))
    try:
        layers = [str(base)] if base else []
        write_layer(scratch / "programs.tar", [(at, programs[name]) for name, at in recipe.programs])
        layers.append(str(scratch / "programs.tar"))
        spec = {
            "layers": layers,
            "entrypoint": list(recipe.entrypoint),
            "env": list(recipe.env),
            "user": recipe.user,
            "working_dir": "/",
            "labels": {
                "org.opencontainers.image.source": "sovplatform supply chain",
                "org.opencontainers.image.version": recipe.version,
            },
            "ref_name": recipe.ref,
        }
        (scratch / "spec.json").write_text(json.dumps(spec, sort_keys=True))
        digest = tools.run(
            [str(ocibuild), "build", str(scratch / "spec.json"), str(scratch / "layout")], f"image {recipe.name}"
        ).strip()
        (scratch / "programs.tar").unlink()
        (scratch / "digest").write_text(digest + "\n")
        os.chmod(scratch, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(scratch, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return BuiltImage(recipe.name, recipe.ref, final / "layout", digest, key)
