"""Benchmark the layers `up` converges: seconds per layer for a first `up` on new hosts, and for
a second `up` (which must change nothing), on the lab.

"First" means fresh hosts and a fresh state dir with the user's cache kept (golden image and
mirror), so the numbers are the layers' own cost, not downloads (benchmarks/lab_up.py measures
those). Prints JSON; compare within one run (second/first), not across machines.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_up import BLUEPRINT, SOV, phases, run_sov

LAYERS = ("converge", "ceph", "openbao", "s3", "verify")


def main() -> None:
    # A benchmark stopped with SIGTERM still takes its lab down (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="sov-bench-converge-") as tmp:
        env = {**os.environ, "SOVPLATFORM_STATE_DIR": f"{tmp}/state"}
        journal = Path(tmp) / "state" / "lab-3dc" / "journal.jsonl"
        results: dict[str, Any] = {}
        try:
            for label in ("first", "second"):
                mark = len(journal.read_text().splitlines()) if journal.exists() else 0
                started = time.monotonic()
                run_sov(["up", str(BLUEPRINT), "--yes"], env)
                seen = phases(journal, mark)
                results[label] = {
                    "seconds": round(time.monotonic() - started, 1),
                    "layers": {layer: seen[layer] for layer in LAYERS if layer in seen},
                }
        finally:
            subprocess.run([SOV, "down", str(BLUEPRINT), "--yes"], env=env, capture_output=True, check=False)
        results["ratio_second_to_first"] = {
            layer: round(results["second"]["layers"][layer] / results["first"]["layers"][layer], 3)
            for layer in LAYERS
            if layer in results["first"]["layers"] and layer in results["second"]["layers"]
        }
        print(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
