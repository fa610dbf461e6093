"""A check result and what every check gets to work with."""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from sovplatform.engine.ssh import ssh_argv
from sovplatform.redact import redact_text

Layer = Literal["etcd", "ceph", "openbao", "kms", "gateway", "kubernetes"]


@dataclass(frozen=True)
class Check:
    layer: Layer
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["detail"] = redact_text(self.detail)
        return data


@dataclass
class CheckContext:
    """Hosts by name (the substrate's contract), the plan, and read-only access to hosts."""

    hosts: dict[str, dict[str, Any]]
    plan: dict[str, Any]
    state: Path
    known_hosts: Path

    def address(self, host: str) -> str:
        return str(self.hosts[host]["address"])

    def ssh(
        self, host: str, command: str, timeout: float = 30, data: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        h = self.hosts[host]
        try:
            result = subprocess.run(
                ssh_argv(h, self.known_hosts, command, connect_timeout=5),
                input=data.decode() if data is not None else None,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(command, 124, "", f"timed out after {timeout:.0f}s")
        return result
