"""The golden image every lab host boots from: a debootstrapped Debian (the blueprint's suite,
Debian 13 by default) with systemd and sshd.

The image lives in the user's cache dir under a name derived from a hash of the recipe, so editing
the recipe (packages, masked units, this module's customisation version) builds a new image and a
warm start reuses the old one. Building happens in a scratch directory beside the final one and
is renamed into place only when complete: a crash or Ctrl-C never leaves an image that looks done.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

Progress = Callable[[str], None]

MIRROR = "http://deb.debian.org/debian"

# python3-apt lets Ansible's apt module work without bootstrapping; procps gives roles `ps`/`sysctl`.
PACKAGES: tuple[str, ...] = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-apt",
    "iproute2",
    "iputils-ping",
    "ca-certificates",
    "apt-utils",
    "procps",
)

# Units that either fail inside a container, wait for things a container never gets, or would
# make apt busy in the background while a playbook wants the dpkg lock.
MASKED_UNITS: tuple[str, ...] = (
    "systemd-networkd-wait-online.service",
    "console-getty.service",
    "getty@.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
    "systemd-timesyncd.service",
)

ENABLED_UNITS: tuple[str, ...] = ("ssh.service", "systemd-networkd.service", "sovplatform-hostkeys.service")

# Host keys must differ per host, so the image carries none; this unit creates them on first boot.
HOSTKEYS_UNIT = """\
[Unit]
Description=Generate this host's SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""

# Bump when the customisation below changes in a way the recipe fields do not capture.
CUSTOMISATION_VERSION = 1


def default_cache_dir() -> Path:
    override = os.environ.get("SOVPLATFORM_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sovplatform"


def recipe(suite: str) -> dict[str, object]:
    return {
        "suite": suite,
        "mirror": MIRROR,
        "variant": "minbase",
        "packages": sorted(PACKAGES),
        "masked": sorted(MASKED_UNITS),
        "enabled": sorted(ENABLED_UNITS),
        "hostkeys_unit": HOSTKEYS_UNIT,
        "customisation": CUSTOMISATION_VERSION,
    }


def recipe_hash(suite: str) -> str:
    return hashlib.sha256(json.dumps(recipe(suite), sort_keys=True).encode()).hexdigest()[:12]


def image_path(cache_dir: Path, suite: str) -> Path:
    """Root filesystem of the image for the current recipe (may not exist yet)."""
    return cache_dir / "images" / f"{suite}-{recipe_hash(suite)}" / "rootfs"


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_image(cache_dir: Path, suite: str, progress: Progress | None = None) -> Path:
    """Return the image rootfs, building it first if the cache has none for this recipe."""
    say = progress or (lambda _msg: None)
    final = image_path(cache_dir, suite)
    if final.is_dir():
        return final
    images = final.parent.parent
    # Two concurrent `up`s (two platforms) must not both debootstrap the same image.
    with _locked(images / ".lock"):
        if final.is_dir():
            return final
        for leftover in images.glob(".build-*"):
            say(f"removing unfinished image build {leftover.name}")
            shutil.rmtree(leftover, ignore_errors=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".build-{recipe_hash(suite)}-", dir=images))
        try:
            rootfs = scratch / "rootfs"
            _debootstrap(rootfs, suite, say)
            _customise(rootfs)
            final.parent.mkdir(parents=True, exist_ok=True)
            (scratch / "recipe.json").write_text(json.dumps(recipe(suite), indent=2, sort_keys=True))
            os.rename(rootfs, final)
            os.rename(scratch / "recipe.json", final.parent / "recipe.json")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    say(f"golden image ready at {final}")
    return final


def _debootstrap(rootfs: Path, suite: str, say: Progress) -> None:
    cmd = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        suite,
        str(rootfs),
        MIRROR,
    ]
    say(f"building golden image (debootstrap {suite}, a few minutes on a cold cache)")
    started = time.monotonic()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        tail: list[str] = []
        last_report = 0.0
        for line in proc.stdout:
            tail = [*tail[-30:], line.rstrip()]
            # debootstrap prints hundreds of lines; relay one every few seconds to stay live but quiet.
            now = time.monotonic()
            if line.startswith("I: ") and now - last_report > 3:
                last_report = now
                say(f"debootstrap [{now - started:.0f}s]: {line[3:].strip()}")
        if proc.wait() != 0:
            raise RuntimeError("debootstrap failed:\n" + "\n".join(tail))


def _customise(rootfs: Path) -> None:
    systemd_dir = rootfs / "etc/systemd/system"
    (systemd_dir / "sovplatform-hostkeys.service").write_text(HOSTKEYS_UNIT)
    for unit in MASKED_UNITS:
        link = systemd_dir / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    subprocess.run(["systemctl", f"--root={rootfs}", "enable", *ENABLED_UNITS], check=True, capture_output=True)
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    # An empty machine-id would be filled on boot, but hosts get an explicit unique one anyway.
    (rootfs / "etc/machine-id").write_text("")
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    # Package caches are dead weight copied into every host.
    for cached in (rootfs / "var/cache/apt/archives").glob("*.deb"):
        cached.unlink()
    for lists in (rootfs / "var/lib/apt/lists").glob("*_*"):
        lists.unlink()
