"""Shared by the lab integration tests: skip reasons, the machine footprint, SSH and ping."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sovplatform.substrate.lab.image import default_cache_dir
from sovplatform.substrate.lab.precheck import problems


def skip_reason(tmp: Path) -> str | None:
    found = problems(tmp, default_cache_dir())
    return "lab substrate unavailable: " + "; ".join(found) if found else None


def footprint(prefix: str, state_dir: Path) -> dict[str, list[str]]:
    """Everything on the machine that carries this lab's prefix or lives under its state dir."""

    def lines(*argv: str) -> list[str]:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.splitlines()

    mounts = [m for m in Path("/proc/mounts").read_text().splitlines() if prefix in m or str(state_dir) in m]
    processes = [p for p in lines("ps", "-eww", "-o", "pid,args") if prefix in p or str(state_dir) in p]
    units = [u for u in lines("systemctl", "list-units", "--all", "--plain", "--no-legend") if prefix in u]
    return {
        "links": [line for line in lines("ip", "-o", "link") if prefix in line],
        "netns": [line for line in lines("ip", "netns") if prefix in line],
        "mounts": mounts,
        "processes": processes,
        "units": units,
        "routes": [r for r in lines("ip", "route") if prefix in r],
    }


def ssh(key: Path, address: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ssh",
            "-i",
            str(key),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "BatchMode=yes",
            f"root@{address}",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ping_avg_ms(key: Path, source: str, target: str, count: int = 10) -> float | None:
    """Median round trip over `count` pings: robust to the odd packet delayed by a busy machine."""
    out = ssh(key, source, f"ping -n -c {count} -i 0.2 -W 1 {target}").stdout
    samples = sorted(float(m) for m in re.findall(r"time=([\d.]+) ms", out))
    return statistics.median(samples) if samples else None


SOV = str(Path(sys.executable).parent / "sovplatform")


@dataclass
class LabPlatform:
    """A platform brought up by the tests through the CLI, in a private state dir."""

    name: str
    addresses: dict[str, str]
    state_root: Path

    @property
    def state(self) -> Path:
        return self.state_root / self.name

    @property
    def key(self) -> Path:
        return self.state / "lab" / "ssh" / "id_ed25519"

    def sov(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SOVPLATFORM_STATE_DIR": str(self.state_root)}
        return subprocess.run([SOV, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)

    def ssh(self, host: str, command: str) -> subprocess.CompletedProcess[str]:
        return ssh(self.key, self.addresses[host], command)
