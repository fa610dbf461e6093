"""What an operation killed outright (SIGKILL, a lost terminal, a CI timeout) left behind, so
its rerun can say what it resumes and clear what would get in its way.

The journal tells where the last run stopped: a 'started' entry with no 'done' after it, and no
final entry for the operation itself. Its ansible-playbook children outlive it (they are not
killed with their parent) and would race the rerun on the same hosts; they are recognised by
the platform's state dir on their command line (their inventory lives there) and stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sovplatform.engine.journal import read_journal
from sovplatform.substrate.lab import processes


@dataclass(frozen=True)
class Interrupted:
    run: str
    completed: tuple[str, ...]  # steps done before it stopped
    stopped_during: str | None  # the step it was in, if any

    def describe(self) -> str:
        where = f"during {self.stopped_during}" if self.stopped_during else "between steps"
        done = ", ".join(self.completed) or "nothing"
        return f"the previous run ({self.run}) was interrupted {where}; it had completed: {done}"


def interrupted(journal: Path, operation: str) -> Interrupted | None:
    """The last run of `operation` if it neither finished nor failed cleanly."""
    entries = [e for e in read_journal(journal) if e.get("operation") == operation]
    if not entries:
        return None
    run = entries[-1].get("run")
    mine = [e for e in entries if e.get("run") == run]
    if any(e.get("step") == operation for e in mine):
        return None  # it recorded its own end
    if any(e.get("status") == "failed" for e in mine):
        return None  # it failed and said so: a normal rerun, nothing to resume
    status: dict[str, str] = {}
    for e in mine:
        status[str(e.get("step"))] = str(e.get("status"))
    completed = tuple(s for s, st in status.items() if st == "done")
    open_steps = [s for s, st in status.items() if st == "started"]
    return Interrupted(str(run), completed, open_steps[-1] if open_steps else None)


def orphaned_playbooks(state: Path) -> list[int]:
    """ansible-playbook processes working for this platform's state dir, now without a parent run."""
    marker = str(state)

    def ours(argv: list[str]) -> bool:
        return any("ansible-playbook" in a for a in argv[:2]) and any(marker in a for a in argv)

    # Whoever runs us may itself be an ansible-playbook naming the state dir (a molecule
    # scenario's create step runs `sovplatform up`): never our own ancestors.
    mine = ancestors()
    return [pid for pid in processes.find(ours) if pid not in mine]


def ancestors(pid: int | None = None) -> set[int]:
    """This process and every process above it, up to init."""
    chain: set[int] = set()
    current = pid or os.getpid()
    while current > 1 and current not in chain:
        chain.add(current)
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
        except OSError:
            break
        current = int(stat.rsplit(")", 1)[1].split()[1])
    return chain


def stop(pids: list[int], grace_s: float = 10.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(processes.start_ticks(p) is not None for p in pids):
            time.sleep(0.2)


def summary(found: Interrupted | None, orphans: list[int]) -> dict[str, Any]:
    return {
        "previous_run": found.run if found else None,
        "stopped_during": found.stopped_during if found else None,
        "completed_before": list(found.completed) if found else [],
        "orphaned_playbooks_stopped": len(orphans),
    }
