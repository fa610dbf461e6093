"""The command-line contract, run as users run it: the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LAB, ODC, dump, lab_dict

SOV = str(Path(sys.executable).parent / "sovplatform")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SOV, *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def variant(tmp_path: Path, name: str, mutate: Callable[[dict[str, Any]], None]) -> Path:
    data = lab_dict()
    mutate(data)
    return write(tmp_path, name, dump(data))


def test_shipped_blueprints_validate() -> None:
    result = run("validate", str(LAB), str(ODC))
    assert result.returncode == 0, result.stderr
    assert "lab-3dc.yaml: valid" in result.stdout and "odc-reference.yaml: valid" in result.stdout


def _two_sites(d: dict[str, Any]) -> None:
    d["sites"].pop()
    for site in d["sites"]:
        site.get("links", {}).pop("dc3", None)


def _one_site(d: dict[str, Any]) -> None:
    moved = [h for s in d["sites"][1:] for h in s["hosts"]]
    for i, host in enumerate(moved):
        host["addresses"]["management"] = f"198.18.1.{20 + i}"
    d["sites"][0]["hosts"] += moved
    for site in d["sites"][1:]:
        site["hosts"] = [
            {
                "name": f"{site['name']}-x",
                "roles": ["compute"],
                "addresses": {"management": f"{site['networks']['management']['cidr'][:-4]}50"},
            }
        ]


BROKEN: list[tuple[str, Callable[[dict[str, Any]], None] | str, str]] = [
    ("two-sites", _two_sites, "sites: 2 site(s) given; at least 3 are needed"),
    ("one-site", _one_site, "sites[0]: holds 3 of 3 etcd members"),
    ("min-size-1", lambda d: d["ceph"]["pools"][0].update(min_size=1), "ceph.pools[0].min_size: min_size 1"),
    ("unknown-key", lambda d: d["sites"][1]["hosts"][0].update(rack="r1"), "sites[1].hosts[0].rack: unknown key"),
    ("dup-host", lambda d: d["sites"][2]["hosts"][0].update(name="dc1-a"), "sites[2].hosts[0].name: duplicate host"),
    ("sites-type", lambda d: d.update(sites={"dc1": {}}), "sites: expected a list"),
    ("syntax", "apiVersion: sovplatform/v1\nkind: [Platform\nname: x\n", "<yaml>: YAML syntax error"),
    ("empty", "", "<root>: "),
]


@pytest.mark.parametrize(("name", "change", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_blueprints_exit_2_with_one_line_per_problem(
    tmp_path: Path, name: str, change: Callable[[dict[str, Any]], None] | str, expected: str
) -> None:
    path = (
        write(tmp_path, f"{name}.yaml", change)
        if isinstance(change, str)
        else variant(tmp_path, f"{name}.yaml", change)
    )
    result = run("validate", str(path))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith(expected) for line in lines), lines
    # one problem per line: each line names a path before the colon
    assert all(": " in line for line in lines)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"<file>: {tmp_path / 'nope.yaml'}: no such file"
    result = run("validate", str(tmp_path))
    assert result.returncode == 2 and "is a directory" in result.stderr


def test_several_files_prefix_each_problem_with_its_file(tmp_path: Path) -> None:
    bad = variant(tmp_path, "bad.yaml", lambda d: d["ceph"]["pools"][0].update(min_size=1))
    result = run("validate", str(LAB), str(bad))
    assert result.returncode == 2
    assert f"{bad}: ceph.pools[0].min_size:" in result.stderr
    assert "lab-3dc.yaml: valid" in result.stdout


def test_usage_errors_exit_2() -> None:
    assert run("validate").returncode == 2
    assert run("plan", str(LAB), "--no-such-flag").returncode == 2


def test_plan_is_byte_identical_across_runs(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert run("plan", str(LAB), "--out", str(a)).returncode == 0
    assert run("plan", str(LAB), "--out", str(b)).returncode == 0
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and files_a
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_second_plan_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "p"
    first = json.loads(run("plan", str(LAB), "--out", str(out), "--json").stdout)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    second = json.loads(run("plan", str(LAB), "--out", str(out), "--json").stdout)
    assert first["changed_files"] and second["changed_files"] == []
    assert mtimes == {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_plan_json_summary_contract(tmp_path: Path) -> None:
    result = run("plan", str(ODC), "--out", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["platform"] == "odc-reference"
    assert [s["name"] for s in data["sites"]] == ["odc-noord", "odc-midden", "odc-zuid"]
    for quorum in ("etcd", "ceph_mon", "openbao"):
        q = data["quorums"][quorum]
        assert q["members_per_site"] == {"odc-noord": 1, "odc-midden": 1, "odc-zuid": 1}
        assert q["survives_loss_of_any_site"] is True
    assert {p["name"] for p in data["pools"]} == {"rbd", "default.rgw.buckets.data"}
    assert all(p["survives_loss_of_any_site"] for p in data["pools"])


def test_plan_default_goes_to_state_dir(tmp_path: Path) -> None:
    result = run("plan", str(LAB), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".sovplatform" / "lab-3dc" / "plan" / "inventory" / "hosts.yml").is_file()


def test_plan_refuses_invalid_blueprint_without_writing(tmp_path: Path) -> None:
    bad = variant(tmp_path, "bad.yaml", lambda d: d["ceph"]["pools"][0].update(min_size=1))
    result = run("plan", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert not (tmp_path / "out").exists()


def test_up_refuses_an_unknown_layer_before_touching_anything(tmp_path: Path) -> None:
    result = subprocess.run(
        [SOV, "up", str(LAB), "--until", "kubevirt", "--yes"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "SOVPLATFORM_STATE_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "--until: unknown layer 'kubevirt' (one of: etcd, ceph, openbao, s3, kubernetes)" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_kill_switch_needs_confirmation_without_a_terminal(tmp_path: Path) -> None:
    result = subprocess.run(
        [SOV, "verify", str(LAB), "--kill-switch"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "SOVPLATFORM_STATE_DIR": str(tmp_path)},
    )
    assert result.returncode == 2, result.stderr
    assert "pass --yes to confirm" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_up_refuses_to_move_hosts_to_another_debian_release(tmp_path: Path) -> None:
    from sovplatform.operations.errors import Refused
    from sovplatform.operations.up import refuse_suite_change

    recorded = tmp_path / "lab-spec.json"
    refuse_suite_change(recorded, "trixie")  # nothing built yet
    # A spec written before hosts could run another suite: those hosts are Debian 12.
    recorded.write_text(json.dumps({"platform": "p", "sites": [], "hosts": []}))
    refuse_suite_change(recorded, "bookworm")
    with pytest.raises(Refused) as refused:
        refuse_suite_change(recorded, "trixie")
    (line,) = refused.value.problems
    assert line.startswith("versions.debian: the platform's hosts run bookworm, the blueprint asks for trixie")
