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
