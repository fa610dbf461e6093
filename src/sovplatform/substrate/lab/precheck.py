"""Can this machine run the lab substrate? One clear line per problem, all reported at once.

Debian packages the lab needs on the controller (for CI images):

    apt-get install -y --no-install-recommends \\
        systemd-container debootstrap iproute2 iptables openssh-client util-linux

systemd-container provides systemd-nspawn; iproute2 provides ip; iptables feeds inter-site traffic
to the WAN delay daemon (the kernel needs bridge, veth and NFQUEUE support, which Debian's stock
kernels have; sch_netem is not needed); openssh-client provides ssh-keygen and the ssh client the
tests use. systemd as PID 1 is optional: without it hosts run as
detached processes instead of transient units.
"""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path

MIN_FREE_DISK_GB = 10.0
MIN_AVAILABLE_MEMORY_GB = 2.0

REQUIRED_COMMANDS: dict[str, str] = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "ip": "iproute2",
    "iptables": "iptables",
    "ssh-keygen": "openssh-client",
    "nsenter": "util-linux",
}


class PrecheckFailed(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _available_memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        return None
    return None


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def problems(state_dir: Path, cache_dir: Path) -> list[str]:
    found: list[str] = []
    if platform.system() != "Linux":
        found.append(f"the lab substrate needs Linux (this is {platform.system()})")
        return found
    if os.geteuid() != 0:
        found.append("the lab substrate needs root (bridges, network namespaces, systemd-nspawn)")
    for command, package in REQUIRED_COMMANDS.items():
        if shutil.which(command) is None:
            found.append(f"command {command!r} not found: install the Debian package {package}")
    for label, directory in (("state dir", state_dir), ("cache dir", cache_dir)):
        usage = shutil.disk_usage(_existing_ancestor(directory))
        free_gb = usage.free / 1024**3
        if free_gb < MIN_FREE_DISK_GB:
            found.append(f"{label} {directory}: only {free_gb:.1f} GB free, need {MIN_FREE_DISK_GB:.0f} GB")
    memory = _available_memory_gb()
    if memory is not None and memory < MIN_AVAILABLE_MEMORY_GB:
        found.append(f"only {memory:.1f} GB memory available, need {MIN_AVAILABLE_MEMORY_GB:.0f} GB")
    return found


def check(state_dir: Path, cache_dir: Path) -> None:
    found = problems(state_dir, cache_dir)
    if found:
        raise PrecheckFailed(found)
