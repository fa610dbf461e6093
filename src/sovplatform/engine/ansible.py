"""Run a playbook through ansible-runner: events feed the live view, failures become a short
summary (host, task, message) plus the path of the full log."""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

from sovplatform.engine.progress import Progress
from sovplatform.redact import redact_text

PLAYBOOK_DIR = Path(__file__).resolve().parents[3] / "playbooks"


@dataclass
class Failure:
    host: str
    task: str
    message: str

    def render(self) -> str:
        return f"{self.host}: {self.task}: {self.message}"


@dataclass
class PlaybookResult:
    ok: bool
    rc: int
    status: str
    changed: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    log: Path | None = None

    @property
    def changed_total(self) -> int:
        return sum(self.changed.values())


def _message(res: dict[str, Any]) -> str:
    if res.get("_ansible_no_log"):
        return "(output hidden: no_log)"
    for key in ("msg", "stderr", "reason", "module_stderr", "stdout"):
        value = res.get(key)
        if value:
            text = str(value).strip().splitlines()
            return redact_text(text[-1] if key != "msg" else " ".join(text))[:300]
    return "failed"


def run_playbook(
    playbook: str,
    inventory: Path,
    private_dir: Path,
    progress: Progress,
    extravars: dict[str, Any] | None = None,
    limit: str | None = None,
    playbook_dir: Path = PLAYBOOK_DIR,
    tags: str | None = None,
) -> PlaybookResult:
    """Run one playbook from the project's playbooks/ against the given inventory."""
    private_dir.mkdir(parents=True, exist_ok=True)
    changed: Counter[str] = Counter()
    failures: list[Failure] = []
    tasks_done = 0

    def on_event(event: dict[str, Any]) -> bool:
        nonlocal tasks_done
        kind = event.get("event", "")
        data = event.get("event_data", {})
        host = data.get("host") or data.get("remote_addr") or ""
        task = data.get("task", "")
        if kind == "playbook_on_play_start":
            progress.log(f"play: {data.get('play', '')}")
        elif kind == "playbook_on_task_start":
            tasks_done += 1
            progress.update(f"task {tasks_done}: {task}")
        elif kind == "runner_on_ok" and data.get("res", {}).get("changed"):
            changed[host] += 1
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            failures.append(Failure(host, task, _message(data.get("res", {}))))
        elif kind == "runner_on_unreachable":
            failures.append(Failure(host, task, "unreachable: " + _message(data.get("res", {}))))
        return True

    env = {
        "ANSIBLE_CONFIG": str(playbook_dir / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(playbook_dir / "roles"),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        # the venv's ansible-playbook, not whatever is first on PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    runner = ansible_runner.run(
        private_data_dir=str(private_dir),
        project_dir=str(playbook_dir),
        playbook=playbook,
        inventory=str(inventory),
        extravars=extravars or {},
        limit=limit,
        tags=tags,
        envvars=env,
        event_handler=on_event,
        quiet=True,
        rotate_artifacts=10,
    )
    artifacts = Path(runner.config.artifact_dir)
    # The heartbeat must not go on naming the last task as if it were still running.
    progress.update(f"{playbook}: {runner.status} after {tasks_done} task(s), {sum(changed.values())} changed")
    return PlaybookResult(
        ok=runner.rc == 0 and not failures,
        rc=runner.rc,
        status=runner.status,
        changed=changed,
        failures=failures,
        log=artifacts / "stdout",
    )
