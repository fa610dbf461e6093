"""Benchmark `sovplatform up` on the lab: cold, warm and second run, with a per-phase breakdown.

- cold: empty cache (golden image built with debootstrap, mirror downloaded), no hosts;
- warm: cache kept, hosts removed (`down`) before the run;
- second: everything already up; the run must change nothing.

Phases come from the journal the operation writes (image, mirror, hosts, converge, ...).
Prints JSON. Needs root and network access to Debian's archive and PyPI for the cold run.
Compare within one run (e.g. warm/cold), not across machines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOV = str(Path(sys.executable).parent / "sovplatform")
BLUEPRINT = ROOT / "blueprints" / "lab-3dc.yaml"


def run_sov(args: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    result = subprocess.run([SOV, *args], env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-2000:] + result.stderr[-2000:])
        raise SystemExit(f"benchmark: sovplatform {' '.join(args)} failed ({result.returncode})")
    return elapsed


def phases(journal: Path, since: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in journal.read_text().splitlines()[since:]:
        entry = json.loads(line)
        if entry.get("operation") == "up" and entry.get("status") == "done" and "seconds" in entry:
            out[entry["step"]] = entry["seconds"]
    return out


def main() -> None:
    # A benchmark stopped with SIGTERM still takes its lab down (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="sov-bench-") as tmp:
        env = {**os.environ, "SOVPLATFORM_STATE_DIR": f"{tmp}/state", "SOVPLATFORM_CACHE_DIR": f"{tmp}/cache"}
        journal = Path(tmp) / "state" / "lab-3dc" / "journal.jsonl"
        results: dict[str, Any] = {}
        try:
            for label, before in (("cold", None), ("warm", "down"), ("second", None)):
                if before == "down":
                    run_sov(["down", str(BLUEPRINT), "--yes"], env)
                mark = len(journal.read_text().splitlines()) if journal.exists() else 0
                seconds = run_sov(["up", str(BLUEPRINT), "--yes"], env)
                results[label] = {"seconds": round(seconds, 1), "phases": phases(journal, mark)}
        finally:
            subprocess.run([SOV, "down", str(BLUEPRINT), "--yes"], env=env, capture_output=True, check=False)
        results["ratio"] = {
            "warm_to_cold": round(results["warm"]["seconds"] / results["cold"]["seconds"], 3),
            "second_to_cold": round(results["second"]["seconds"] / results["cold"]["seconds"], 3),
        }
        print(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
