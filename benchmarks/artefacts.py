"""Benchmark building the Kubernetes stack from pinned source: cold, then warm.

- cold: a fresh cache dir (empty Go build cache; the Go module cache too with --fresh-modules,
  else the user's module sources are shared), every component, image and tool built;
- warm: the same cache again: every artefact must come from the store.

Prints JSON with the time per component and image, and the totals. `--only NAME` (repeatable)
limits the build as `sovplatform artefacts build --only` does. Needs Go and the Go module proxy
(or a warm module cache). Compare within one run (warm/cold), not across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOV = str(Path(sys.executable).parent / "sovplatform")
BLUEPRINT = ROOT / "blueprints" / "lab-3dc.yaml"


def build(cache: Path, only: list[str], home_modules: Path | None) -> dict[str, Any]:
    env = {**os.environ, "SOVPLATFORM_CACHE_DIR": str(cache)}
    argv = [SOV, "artefacts", "build", str(BLUEPRINT), "--json", *[x for n in only for x in ("--only", n)]]
    if home_modules is not None:
        # Share the module sources only: the build cache stays empty.
        (cache / "supply" / "go").mkdir(parents=True, exist_ok=True)
        link = cache / "supply" / "go" / "mod"
        if not link.exists():
            link.symlink_to(home_modules)
    start = time.monotonic()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-3000:])
        raise SystemExit(f"benchmark: artefacts build failed ({result.returncode})")
    report = json.loads(result.stdout)
    return {"seconds": round(elapsed, 1), "per_component": report["seconds"], "artefacts": len(report["artefacts"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--fresh-modules", action="store_true", help="also start with an empty Go module cache")
    args = parser.parse_args()
    home = Path(os.environ.get("SOVPLATFORM_CACHE_DIR") or Path.home() / ".cache" / "sovplatform") / "supply/go/mod"
    scratch = Path(tempfile.mkdtemp(prefix="sov-artefacts-bench-"))
    try:
        cold = build(scratch, args.only, None if args.fresh_modules else home)
        warm = build(scratch, args.only, None if args.fresh_modules else home)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        json.dumps(
            {
                "benchmark": "artefacts_build",
                "only": args.only,
                "fresh_modules": args.fresh_modules,
                "cores": os.cpu_count(),
                "cold": cold,
                "warm": warm,
                "warm_over_cold": round(warm["seconds"] / cold["seconds"], 4),
            },
            indent=2,
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
