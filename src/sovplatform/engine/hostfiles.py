"""Put files (certificates, private keys) on hosts over SSH, without Ansible ever seeing them.

Private keys must not pass through Ansible variables: ansible-runner records the command line
and environment of every run in its artifacts. Here content goes over SSH on stdin, is
written atomically with its mode, and only when its sha256 differs (so a second run changes
nothing and triggers no restart).
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sovplatform.engine.ssh import ssh_argv


@dataclass(frozen=True)
class HostFile:
    path: str  # absolute path on the host
    content: bytes
    mode: int = 0o644


class PushError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _ssh(
    host: dict[str, Any], known_hosts: Path, command: str, data: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ssh_argv(host, known_hosts, command),
        input=data,
        capture_output=True,
        timeout=120,
        check=False,
    )


def _push_host(host: dict[str, Any], files: list[HostFile], known_hosts: Path) -> tuple[list[str], list[str]]:
    """Returns (changed paths, problems)."""
    paths = " ".join(shlex.quote(f.path) for f in files)
    probe = _ssh(host, known_hosts, f"sha256sum {paths} 2>/dev/null; true")
    if probe.returncode != 0:
        return [], [f"{host['name']}: cannot reach over SSH: {probe.stderr.decode(errors='replace').strip()[:200]}"]
    have = {}
    for line in probe.stdout.decode().splitlines():
        digest, _, path = line.partition("  ")
        have[path] = digest
    changed, problems = [], []
    for f in files:
        if have.get(f.path) == hashlib.sha256(f.content).hexdigest():
            continue
        target = shlex.quote(f.path)
        tmp = shlex.quote(f.path + ".sovtmp")
        script = (
            f"umask 077 && mkdir -p {shlex.quote(str(Path(f.path).parent))} && cat > {tmp} && "
            f"chmod {f.mode:o} {tmp} && mv -f {tmp} {target}"
        )
        result = _ssh(host, known_hosts, script, f.content)
        if result.returncode != 0:
            problems.append(
                f"{host['name']}: writing {f.path} failed: {result.stderr.decode(errors='replace').strip()[:200]}"
            )
        else:
            changed.append(f.path)
    return changed, problems


def push(hosts: list[dict[str, Any]], files: dict[str, list[HostFile]], known_hosts: Path) -> dict[str, list[str]]:
    """Push every host's files in parallel; return changed paths per host or raise PushError."""
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    by_name = {h["name"]: h for h in hosts}
    results: dict[str, list[str]] = {}
    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_push_host, by_name[name], fs, known_hosts) for name, fs in files.items() if fs}
        for name, future in futures.items():
            changed, errs = future.result()
            results[name] = changed
            problems += errs
    if problems:
        raise PushError(problems)
    return results
