"""Processes that must outlive the Python process that starts them, and finding them again.

A PID alone is not an identity (PIDs are recycled), so every record pairs it with the process's
start time from /proc; a process whose start time differs is someone else.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None  # exited, waiting to be reaped: as good as gone
    return int(fields[19])


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def find(predicate: Callable[[list[str]], bool]) -> list[int]:
    """PIDs whose argv satisfies predicate(argv)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            argv = cmdline(int(entry.name))
            if argv and argv[0] and predicate(argv):
                found.append(int(entry.name))
    return found


def spawn_detached(argv: list[str], log: Path) -> int:
    """Start argv in its own session, orphaned to init, output appended to log; return its PID."""
    # The shell backgrounds the command and exits at once, so init (not us) becomes its parent:
    # it survives our exit and never lingers as our zombie.
    shell = '"$@" </dev/null >>"$SOVPLATFORM_LOG" 2>&1 & echo $!'
    proc = subprocess.run(
        ["sh", "-c", shell, "sh", *argv],
        capture_output=True,
        text=True,
        start_new_session=True,
        env={**os.environ, "SOVPLATFORM_LOG": str(log)},
        check=True,
    )
    return int(proc.stdout.strip())


def reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
