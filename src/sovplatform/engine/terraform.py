"""Drive a Terraform/OpenTofu root module through tofupy, preferring `tofu`.

The module's files are copied into the platform's state dir and run there, so Terraform's
state (and .terraform) live with the platform, never in the source tree.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tofupy import Tofu

from sovplatform.files import write_atomic

MODULE_ROOT = Path(__file__).resolve().parents[3] / "terraform"
BINARIES = ("tofu", "terraform")


class TerraformError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


# scripts/install links the OpenTofu built from pinned source beside the venv's python.
LOCAL_TOFU = Path(sys.executable).parent / "tofu"


def find_binary() -> str:
    if LOCAL_TOFU.is_file() and os.access(LOCAL_TOFU, os.X_OK):
        return str(LOCAL_TOFU)
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    raise TerraformError(
        [
            "neither 'tofu' (OpenTofu) nor 'terraform' was found on PATH; "
            "install OpenTofu (preferred) or Terraform >= 1.4"
        ]
    )


@dataclass
class TerraformRun:
    added: int
    changed: int
    removed: int
    outputs: dict[str, Any]


class RootModule:
    def __init__(self, kind: str, work_dir: Path) -> None:
        self.kind = kind
        self.source = MODULE_ROOT / kind
        self.work_dir = work_dir

    def _prepare(self) -> Tofu:
        binary = find_binary()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        for tf in sorted(self.source.glob("*.tf")):
            write_atomic(self.work_dir / tf.name, tf.read_bytes())
        # No checkpoint calls and no user CLI config: the run must work offline and the same everywhere.
        cli_config = self.work_dir / "cli.tfrc"
        write_atomic(cli_config, b"disable_checkpoint = true\n")
        env = {"CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": str(cli_config), "TF_INPUT": "0"}
        try:
            tofu = Tofu(cwd=self.work_dir, binary=binary, env=env)
        except (FileNotFoundError, RuntimeError) as exc:
            raise TerraformError([f"{binary}: {exc}"]) from None
        if not (self.work_dir / ".terraform.lock.hcl").exists() and not (self.work_dir / ".terraform").exists():
            try:
                tofu.init(extra_args=["-input=false"])
            except RuntimeError as exc:
                raise TerraformError([f"{binary} init failed in {self.work_dir}: {str(exc)[:500]}"]) from None
        return tofu

    def apply(
        self, variables: dict[str, str], destroy: bool = False, heartbeat: Callable[[], None] | None = None
    ) -> TerraformRun:
        tofu = self._prepare()
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                result["log"] = tofu.apply(variables=variables, destroy=destroy, extra_args=["-input=false"])
            except Exception as exc:
                result["error"] = exc

        # tofupy returns its events only when the command ends; the thread lets the caller keep
        # its live view going (the lab code reports its own progress meanwhile).
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(timeout=1.0)
            if heartbeat:
                heartbeat()
        if "error" in result:
            raise TerraformError([f"terraform apply failed: {result['error']}"])
        log = result["log"]
        if log.errors:
            raise TerraformError(
                [f"{d.summary}: {(d.detail or '').strip().splitlines()[-1] if d.detail else ''}" for d in log.errors]
            )
        return TerraformRun(
            added=getattr(log, "added", 0),
            changed=getattr(log, "changed", 0),
            removed=getattr(log, "removed", 0),
            outputs={k: v.value for k, v in log.outputs.items()},
        )

    def outputs(self) -> dict[str, Any]:
        tofu = self._prepare()
        return {k: v.value for k, v in tofu.output().items()}

    def has_state(self) -> bool:
        return (self.work_dir / "terraform.tfstate").exists()
