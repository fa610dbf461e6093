"""One playbook run by a controller layer: its changed-task count, or an OperationError naming
each failed host and task with the full log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sovplatform.engine.ansible import run_playbook
from sovplatform.operations.context import Context
from sovplatform.operations.errors import OperationError


def play(ctx: Context, playbook: str, inventory: Path, extravars: dict[str, Any], tags: str | None = None) -> int:
    result = run_playbook(playbook, inventory, ctx.state / "runner", ctx.progress, extravars=extravars, tags=tags)
    if not result.ok:
        raise OperationError(
            [f.render() for f in result.failures] or [f"{playbook} ended with status {result.status}"],
            hint=f"full log: {result.log}",
        )
    return result.changed_total
