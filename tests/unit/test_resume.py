"""Reading an interrupted run back from the journal."""

from __future__ import annotations

from pathlib import Path

from sovplatform.engine.journal import Journal
from sovplatform.engine.resume import interrupted


def test_a_run_killed_mid_step_is_found_with_what_it_completed(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    done = Journal(path, "up", "run1")
    for step in ("plan", "mirror"):
        done.record(step, "started")
        done.record(step, "done")
    done.record("up", "done")
    killed = Journal(path, "up", "run2")
    killed.record("plan", "started")
    killed.record("plan", "done")
    killed.record("converge", "started")
    found = interrupted(path, "up")
    assert found is not None
    assert (found.run, found.completed, found.stopped_during) == ("run2", ("plan",), "converge")
    assert "interrupted during converge" in found.describe()


def test_finished_failed_and_unknown_runs_are_not_resumed(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    assert interrupted(path, "up") is None
    ok = Journal(path, "up", "ok")
    ok.record("plan", "started")
    ok.record("up", "done")
    assert interrupted(path, "up") is None
    failed = Journal(path, "up", "failed")
    failed.record("converge", "started")
    failed.record("converge", "failed", failures=["dc1-a: task: boom"])
    assert interrupted(path, "up") is None
    # another operation's runs do not count
    Journal(path, "drill", "d").record("writers", "started")
    assert interrupted(path, "up") is None


def test_leftover_playbooks_are_found_but_never_our_own_ancestors(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from sovplatform.engine.resume import orphaned_playbooks

    state = tmp_path / "state"
    # A stand-in named like ansible-playbook whose command line names the state dir.
    fake = tmp_path / "ansible-playbook"
    fake.write_text(
        "import subprocess, sys, time\n"
        "from pathlib import Path\n"
        "from sovplatform.engine.resume import orphaned_playbooks\n"
        "if sys.argv[2] == 'ask':\n"
        "    run = [sys.executable, __file__, sys.argv[1], 'ask-below']\n"
        "    print(subprocess.run(run, capture_output=True, text=True).stdout.strip())\n"
        "elif sys.argv[2] == 'ask-below':\n"
        "    print(orphaned_playbooks(Path(sys.argv[1])))\n"
        "else:\n"
        "    time.sleep(60)\n"
    )
    leftover = subprocess.Popen([sys.executable, str(fake), str(state), "sleep"])
    try:
        deadline = time.monotonic() + 10
        while leftover.pid not in orphaned_playbooks(state) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert orphaned_playbooks(state) == [leftover.pid]
        # Asked from a process whose parent matches too (as a caller running `up` would):
        # parent and self are ancestors, so only the unrelated leftover is reported.
        asked = subprocess.run([sys.executable, str(fake), str(state), "ask"], capture_output=True, text=True)
        assert asked.stdout.strip() == f"[{leftover.pid}]", asked.stderr
    finally:
        leftover.kill()
        leftover.wait()
