"""The one way the controller opens SSH to a host of the substrate's contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def ssh_argv(host: dict[str, Any], known_hosts: Path, command: str, connect_timeout: int = 10) -> list[str]:
    """ssh with the platform key, the platform's own known_hosts, never a password prompt."""
    return [
        "ssh",
        "-i",
        str(host["ssh_key"]),
        "-p",
        str(host["ssh_port"]),
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={connect_timeout}",
        "-o",
        "LogLevel=ERROR",
        f"{host['ssh_user']}@{host['address']}",
        command,
    ]
