"""The roles' molecule scenarios (molecule/<scenario>/), each run for real: `molecule test -s <scenario>`.

Each scenario brings up its own three-host platform (molecule/<scenario>/lab/blueprint.yaml,
platform `molecule-<scenario>`) on the lab substrate, converges its roles, converges them again
(idempotence: nothing may change), verifies the hosts and takes everything down again. One
scenario at a time: each is a whole platform on this machine.

SOVPLATFORM_MOLECULE_SCENARIOS (comma-separated scenario names, default: every scenario) chooses
which run; the others are skipped with that reason. Wall times on a warm cache are in
molecule/README.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sovplatform.substrate.lab.names import LabNames
from tests.integration.labkit import footprint, skip_reason

REPO = Path(__file__).resolve().parents[2]
MOLECULE = REPO / "molecule"
VENV_BIN = Path(sys.executable).parent
# Where .config/molecule/config.yml keeps the scenarios' state (SOVPLATFORM_STATE_DIR).
STATE_ROOT = REPO / ".sovplatform" / "molecule"
SELECT_ENV = "SOVPLATFORM_MOLECULE_SCENARIOS"
TIMEOUT_S = 45 * 60
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\]8;[^\x1b]*\x1b\\")
SCENARIOS = sorted(p.parent.name for p in MOLECULE.glob("*/molecule.yml"))


def _selected() -> list[str]:
    raw = os.environ.get(SELECT_ENV, "").strip()
    if not raw:
        return SCENARIOS
    return [name.strip() for name in raw.split(",") if name.strip()]


def _skip_reason(scenario: str) -> str | None:
    if scenario not in _selected():
        return f"molecule scenario `{scenario}` not chosen by {SELECT_ENV}={os.environ.get(SELECT_ENV, '')!r}"
    if os.geteuid() != 0:
        return f"molecule scenario `{scenario}` runs on lab hosts, which need root"
    missing = [c for c in ("systemd-nspawn", "debootstrap") if shutil.which(c) is None]
    if missing:
        return f"molecule scenario `{scenario}` needs {' and '.join(missing)} (Debian: systemd-container, debootstrap)"
    if not (VENV_BIN / "molecule").exists():
        return f"molecule is not installed in {VENV_BIN} (pip install molecule)"
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    return skip_reason(STATE_ROOT)


def _instances(scenario: str) -> list[str]:
    config = yaml.safe_load((MOLECULE / scenario / "molecule.yml").read_text())
    return sorted(str(p["name"]) for p in config["platforms"])


def _steps(output: str, scenario: str, name: str) -> list[str]:
    """What each run of one step of the sequence printed (destroy runs twice), in order.

    molecule marks steps `etcd ➜ verify: Executing` with colour, `[etcd > verify] Executing` without.
    """
    scen = re.escape(scenario)
    mark = rf"(?:{scen} ➜ {name}:|\[{scen} > {name}\])"
    found = re.findall(rf"{mark} Executing\n.*?{mark} Executed: \w+", output, re.S)
    assert found, f"molecule did not run the {name} step"
    return found


def _failures(output: str) -> str:
    """Every failed task (`fatal: [host]: FAILED! => ...`) with the task header above it."""
    blocks = re.findall(r"^TASK \[[^\n]*\n(?:(?!^TASK \[).)*?^fatal: .*?$", output, re.M | re.S)
    return "\n".join(blocks)[-6000:]


def test_scenario_selection_names_existing_scenarios() -> None:
    unknown = sorted(set(_selected()) - set(SCENARIOS))
    assert not unknown, f"{SELECT_ENV} names no such scenario: {', '.join(unknown)} (scenarios: {', '.join(SCENARIOS)})"


@pytest.mark.lab
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario_passes_and_is_idempotent(scenario: str, tmp_path: Path) -> None:
    reason = _skip_reason(scenario)
    if reason:
        pytest.skip(reason)
    platform = f"molecule-{scenario}"
    blueprint = MOLECULE / scenario / "lab" / "blueprint.yaml"
    assert yaml.safe_load(blueprint.read_text())["name"] == platform, f"{blueprint}: platform must be {platform}"
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "NO_COLOR": "1",
        "ANSIBLE_NOCOLOR": "1",
        "COLUMNS": "200",
    }
    # .config/molecule/config.yml sets the scenarios' own state root for their playbooks; keep a
    # state root the caller exports for their own lab out of this run entirely.
    env.pop("SOVPLATFORM_STATE_DIR", None)
    prefix = LabNames(platform).prefix
    try:
        run = subprocess.run(
            [str(VENV_BIN / "molecule"), "test", "-s", scenario],
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
        if any(footprint(prefix, STATE_ROOT / platform).values()):
            subprocess.run(
                [str(VENV_BIN / "sovplatform"), "down", str(blueprint), "--yes"],
                cwd=REPO,
                env={**env, "SOVPLATFORM_STATE_DIR": str(STATE_ROOT)},
                capture_output=True,
                check=False,
                timeout=600,
            )
    output = ANSI.sub("", run.stdout)
    log = tmp_path / f"molecule-test-{scenario}.log"
    log.write_text(output)
    tail = "\n".join(output.splitlines()[-25:])
    assert run.returncode == 0, (
        f"molecule test -s {scenario} failed (exit {run.returncode}); full output in {log}\n"
        f"{_failures(output)}\n...\n{tail}"
    )

    (idempotence,) = _steps(output, scenario, "idempotence")
    assert idempotence.endswith("Executed: Successful"), idempotence[-3000:]
    recaps = re.findall(r"^\W*([\w.-]+)\s+: ok=\d+\s+changed=(\d+)", idempotence, re.M)
    assert sorted(host for host, _ in recaps) == _instances(scenario), idempotence[-3000:]
    assert all(changed == "0" for _, changed in recaps), recaps

    for step in ("create", "converge", "verify", "destroy"):
        for printed in _steps(output, scenario, step):
            assert printed.endswith("Executed: Successful"), f"{step}: {printed[-3000:]}"

    # The final destroy left nothing of the scenario's platform behind.
    left = {kind: found for kind, found in footprint(prefix, STATE_ROOT / platform).items() if found}
    assert not left, f"left behind after molecule test: {left}"
