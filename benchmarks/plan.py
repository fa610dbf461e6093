"""Benchmark the pure core: blueprint validation and plan rendering, per shipped blueprint.

Prints JSON. Compare ratios within one run (e.g. odc vs lab), not absolute seconds: the
machines this runs on are noisy.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from sovplatform.blueprint import validate_text
from sovplatform.plan.build import build_plan, render_files

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 30


def _median(fn: object, repeat: int = REPEAT) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    results = {}
    for path in sorted((ROOT / "blueprints").glob("*.yaml")):
        text = path.read_text()
        bp = validate_text(text)
        hosts = sum(len(s.hosts) for s in bp.sites)
        validate_s = _median(lambda text=text: validate_text(text))
        plan_s = _median(lambda bp=bp: render_files(build_plan(bp)))
        results[path.stem] = {
            "hosts": hosts,
            "validate_ms": round(validate_s * 1000, 3),
            "plan_render_ms": round(plan_s * 1000, 3),
            "validate_ms_per_host": round(validate_s * 1000 / hosts, 3),
        }
    lab, odc = results.get("lab-3dc"), results.get("odc-reference")
    if lab and odc:
        results["ratio_odc_to_lab"] = {
            "hosts": round(odc["hosts"] / lab["hosts"], 2),
            "validate": round(odc["validate_ms"] / lab["validate_ms"], 2),
            "plan_render": round(odc["plan_render_ms"] / lab["plan_render_ms"], 2),
        }
    print(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
