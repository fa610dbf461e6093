"""The journal: an append-only record of every step an operation started, finished or skipped.

An interrupted operation (even by SIGKILL) leaves a 'started' entry without 'done'; the
rerun reads that to say what it resumes and why it skips what is already done.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sovplatform.redact import redact


@dataclass
class Journal:
    path: Path
    operation: str
    run_id: str = ""

    def __post_init__(self) -> None:
        self.run_id = self.run_id or uuid.uuid4().hex[:12]

    def record(self, step: str, status: str, **detail: Any) -> None:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "run": self.run_id,
            "operation": self.operation,
            "step": step,
            "status": status,
            **redact(detail),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, sort_keys=True) + "\n"
        # O_APPEND keeps concurrent writers (there should be none, the lock sees to that) whole.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)


def read_journal(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a crash mid-write
    return out


def unfinished_steps(entries: list[dict[str, Any]], operation: str) -> list[str]:
    """Steps of the last run of ``operation`` that started but never finished."""
    runs = [e["run"] for e in entries if e.get("operation") == operation]
    if not runs:
        return []
    last = runs[-1]
    started: dict[str, None] = {}
    for e in entries:
        if e.get("run") != last:
            continue
        if e["status"] == "started":
            started[e["step"]] = None
        elif e["status"] in ("done", "failed", "skipped"):
            started.pop(e["step"], None)
    return list(started)
