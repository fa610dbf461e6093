"""The `common` role's molecule scenario (molecule/common), run for real: `molecule test -s common`.

Brings up the scenario's own three-host platform (molecule/common/lab/blueprint.yaml) on the lab
substrate, converges the role, converges it again (idempotence: nothing may change), verifies the
hosts and takes everything down again. Takes ~4 minutes on a warm cache.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sovplatform.substrate.lab.names import LabNames
from tests.integration.labkit import footprint, skip_reason

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
BLUEPRINT = REPO / "molecule" / "common" / "lab" / "blueprint.yaml"
PLATFORM = "molecule-common"
# Where molecule.yml keeps the scenario's state (SOVPLATFORM_STATE_DIR).
STATE_ROOT = REPO / ".sovplatform" / "molecule"
TIMEOUT_S = 30 * 60
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\]8;[^\x1b]*\x1b\\")


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "molecule scenario `common` runs on lab hosts, which need root"
    missing = [c for c in ("systemd-nspawn", "debootstrap") if shutil.which(c) is None]
    if missing:
        return f"molecule scenario `common` needs {' and '.join(missing)} (Debian: systemd-container, debootstrap)"
    if not (VENV_BIN / "molecule").exists():
        return f"molecule is not installed in {VENV_BIN} (pip install molecule)"
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    return skip_reason(STATE_ROOT)


def _steps(output: str, name: str) -> list[str]:
    """What each run of one step of the sequence printed (destroy runs twice), in order.

    molecule marks steps `common ➜ verify: Executing` with colour, `[common > verify] Executing` without.
    """
    mark = rf"(?:common ➜ {name}:|\[common > {name}\])"
    found = re.findall(rf"{mark} Executing\n.*?{mark} Executed: \w+", output, re.S)
    assert found, f"molecule did not run the {name} step"
    return found


def _failures(output: str) -> str:
    """Every failed task (`fatal: [host]: FAILED! => ...`) with the task header above it."""
    blocks = re.findall(r"^TASK \[[^\n]*\n(?:(?!^TASK \[).)*?^fatal: .*?$", output, re.M | re.S)
    return "\n".join(blocks)[-6000:]


def test_molecule_common_scenario_passes_and_is_idempotent(tmp_path: Path) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "NO_COLOR": "1",
        "ANSIBLE_NOCOLOR": "1",
        "COLUMNS": "200",
    }
    # molecule.yml sets the scenario's own state root for its playbooks; keep a state root the
    # caller exports for their own lab out of this run entirely.
    env.pop("SOVPLATFORM_STATE_DIR", None)
    prefix = LabNames(PLATFORM).prefix
    try:
        run = subprocess.run(
            [str(VENV_BIN / "molecule"), "test", "-s", "common"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    finally:
        # molecule destroys even after a failed step; only a killed run (timeout) leaves hosts.
        if any(footprint(prefix, STATE_ROOT / PLATFORM).values()):
            subprocess.run(
                [str(VENV_BIN / "sovplatform"), "down", str(BLUEPRINT), "--yes"],
                cwd=REPO,
                env={**env, "SOVPLATFORM_STATE_DIR": str(STATE_ROOT)},
                capture_output=True,
                check=False,
                timeout=600,
            )
    output = ANSI.sub("", run.stdout)
    log = tmp_path / "molecule-test-common.log"
    log.write_text(output)
    tail = "\n".join(output.splitlines()[-25:])
    assert run.returncode == 0, (
        f"molecule test -s common failed (exit {run.returncode}); full output in {log}\n"
        f"{_failures(output)}\n...\n{tail}"
    )

    (idempotence,) = _steps(output, "idempotence")
    assert idempotence.endswith("Executed: Successful"), idempotence[-3000:]
    recaps = re.findall(r"^\W*(dc\d-a)\s+: ok=\d+\s+changed=(\d+)", idempotence, re.M)
    assert sorted(host for host, _ in recaps) == ["dc1-a", "dc2-a", "dc3-a"], idempotence[-3000:]
    assert all(changed == "0" for _, changed in recaps), recaps

    for step in ("create", "converge", "verify", "destroy"):
        for printed in _steps(output, step):
            assert printed.endswith("Executed: Successful"), f"{step}: {printed[-3000:]}"

    # The final destroy left nothing of the scenario's platform behind.
    left = {kind: found for kind, found in footprint(prefix, STATE_ROOT / PLATFORM).items() if found}
    assert not left, f"left behind after molecule test: {left}"
