"""The engine's pure-ish parts: lock, journal, redaction, Terraform binary choice, lab spec."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from sovplatform.blueprint import load_blueprint
from sovplatform.engine import terraform
from sovplatform.engine.journal import Journal, read_journal, unfinished_steps
from sovplatform.engine.lock import LockHeld, PlatformLock
from sovplatform.plan.timers import plan_timers
from sovplatform.redact import redact, redact_text
from sovplatform.substrate.lab_spec import lab_spec
from tests.helpers import LAB, ODC, dump, lab_dict


def _hold(state: str, ready: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event) -> None:
    with PlatformLock(Path(state), "up lab-3dc"):
        ready.set()
        release.wait(10)


def test_lock_names_its_holder_and_frees_on_exit(tmp_path: Path) -> None:
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(10)
    with pytest.raises(LockHeld) as info:
        PlatformLock(tmp_path, "down").acquire()
    assert f"pid {holder.pid}" in str(info.value) and "up lab-3dc" in str(info.value)
    release.set()
    holder.join(10)
    with PlatformLock(tmp_path, "down"):
        pass


def test_lock_is_freed_when_the_holder_is_killed(tmp_path: Path) -> None:
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(10)
    holder.kill()
    holder.join(10)
    with PlatformLock(tmp_path, "up"):
        assert json.loads((tmp_path / "lock").read_text())["pid"] == os.getpid()


def test_journal_finds_steps_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    first = Journal(path, "up")
    first.record("plan", "started")
    first.record("plan", "done")
    first.record("hosts", "started")
    with path.open("a") as fh:
        fh.write('{"ts": "2026-11-23T00:00:00Z", "run": "x", "operation": "up", "ste')  # crash mid-write
    assert unfinished_steps(read_journal(path), "up") == ["hosts"]
    second = Journal(path, "up")
    second.record("plan", "started")
    second.record("plan", "done")
    assert unfinished_steps(read_journal(path), "up") == []


def test_journal_never_holds_secrets(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    Journal(path, "up").record(
        "kms", "done", root_token="hvs.abcdefghijklmnopqrstuvwxyz", note="token s.ABCDEFGHIJKLMNOPQRSTUVWX used"
    )
    text = path.read_text()
    assert "abcdefghijklmnopqrstuvwxyz" not in text and "ABCDEFGHIJKLMNOPQRSTUVWX" not in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_redaction() -> None:
    assert redact({"password": "x", "nested": {"api_token": "y"}, "ok": "z"}) == {
        "password": "<redacted>",
        "nested": {"api_token": "<redacted>"},
        "ok": "z",
    }
    # flags and counts under secret-sounding keys are kept; strings and lists under them are not
    assert redact({"unsealed": True, "tokens": 3, "token_hosts": ["a"], "recovery_keys": None}) == {
        "unsealed": True,
        "tokens": 3,
        "token_hosts": "<redacted>",
        "recovery_keys": None,
    }
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"
    assert redact_text(f"before {key} after") == "before <redacted> after"
    assert redact_text("key AQBzkHxkAAAAABAAv0e1nq3bS2rLQ5qWf8TeUw==") == "key <redacted>"


def test_missing_terraform_binaries_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(terraform, "LOCAL_TOFU", tmp_path / "tofu")
    monkeypatch.setattr(terraform.shutil, "which", lambda _name: None)
    with pytest.raises(terraform.TerraformError) as info:
        terraform.find_binary()
    assert "'tofu' (OpenTofu) nor 'terraform'" in str(info.value)


def test_tofu_preferred_over_terraform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(terraform, "LOCAL_TOFU", tmp_path / "tofu")
    monkeypatch.setattr(terraform.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert terraform.find_binary() == "/usr/bin/tofu"
    # The OpenTofu that scripts/install built from source comes before anything on PATH.
    (tmp_path / "tofu").write_text("#!/bin/sh\n")
    (tmp_path / "tofu").chmod(0o755)
    assert terraform.find_binary() == str(tmp_path / "tofu")


def test_lab_spec_from_blueprint() -> None:
    spec = lab_spec(load_blueprint(LAB))
    assert [s.name for s in spec.sites] == ["dc1", "dc2", "dc3"]
    assert spec.sites[0].management_gateway == "198.18.1.1"
    assert {h.name for h in spec.hosts} == {"dc1-a", "dc1-b", "dc2-a", "dc2-b", "dc3-a", "dc3-b"}
    assert all(h.disks_gb == (10,) for h in spec.hosts)
    rtts = {(link.a, link.b): link.rtt_ms for link in spec.links}
    assert rtts == {("dc1", "dc2"): 10, ("dc1", "dc3"): 14, ("dc2", "dc3"): 12}
    assert spec.customer_kms is not None and spec.customer_kms.address == "198.18.250.10"
    assert spec.customer_kms.cidr == "198.18.250.0/24"


def test_timers_follow_the_slowest_link() -> None:
    from sovplatform.blueprint import validate_text

    assert plan_timers(load_blueprint(LAB))["etcd"] == {"heartbeat_interval_ms": 100, "election_timeout_ms": 1000}
    data = lab_dict()
    data["sites"][0]["links"]["dc3"] = {"rtt_ms": 150, "jitter_ms": 10}
    timers = plan_timers(validate_text(dump(data)))
    assert timers["worst_rtt_ms"] == 170
    assert timers["etcd"] == {"heartbeat_interval_ms": 170, "election_timeout_ms": 1700}
    assert timers["openbao"]["performance_multiplier"] == 2
    odc = plan_timers(load_blueprint(ODC))
    assert odc["openbao"]["performance_multiplier"] == 1 and odc["etcd"]["election_timeout_ms"] == 1000


def test_progress_heartbeat_when_silent() -> None:
    import io

    from rich.console import Console

    from sovplatform.engine import progress as progress_mod

    buf = io.StringIO()
    original = progress_mod.HEARTBEAT_S
    progress_mod.HEARTBEAT_S = 0.6
    try:
        with progress_mod.Progress(Console(file=buf, force_terminal=False, width=200)) as p:
            p.phase("hosts")
            p.update("booting dc1-a")
            time.sleep(1.8)
    finally:
        progress_mod.HEARTBEAT_S = original
    text = buf.getvalue()
    assert "== hosts" in text and "booting dc1-a" in text
    assert "still booting dc1-a" in text


def test_a_finished_playbook_stops_being_named_as_running(tmp_path: Path) -> None:
    """A real ansible-runner run on this machine (local connection): the last progress line is
    the playbook's outcome, so a wait that follows is never reported as its last task."""
    import io

    from rich.console import Console

    from sovplatform.engine import progress as progress_mod
    from sovplatform.engine.ansible import run_playbook

    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "ansible.cfg").write_text("[defaults]\n")
    (playbooks / "noop.yml").write_text(
        "- name: Noop\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Say nothing\n      ansible.builtin.debug:\n        msg: ok\n"
    )
    inventory = tmp_path / "hosts"
    inventory.write_text("localhost ansible_connection=local\n")
    buf = io.StringIO()
    with progress_mod.Progress(Console(file=buf, force_terminal=False, width=200)) as p:
        result = run_playbook("noop.yml", inventory, tmp_path / "runner", p, playbook_dir=playbooks)
        last = p.activity
    assert result.ok, buf.getvalue()
    assert last == "noop.yml: successful after 1 task(s), 0 changed", last
