"""Benchmark the failover drill: RTO per service and recovery time for a power loss of the site
holding the leaders and for a partition of another site, beside the detection timers the
platform is configured with (from the plan), on the lab.

Usage: python benchmarks/drill.py [--blueprint FILE] [--state DIR]
  --blueprint  a lab blueprint (default blueprints/lab-3dc.yaml)
  --state      use the platform already up under this state dir (SOVPLATFORM_STATE_DIR) and
               leave it up; without it the benchmark brings a platform up in a temporary state
               dir and takes it down afterwards.

Prints JSON. `rto_to_timer` divides each RTO by the timer that bounds its detection (etcd and
OpenBao: the election timeout; Ceph and S3: the OSD heartbeat grace), so runs on different
machines compare as ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_up import BLUEPRINT, SOV, run_sov

from sovplatform.blueprint import load_blueprint
from sovplatform.plan.build import build_plan


def detection_timers(timers: dict[str, Any]) -> dict[str, float]:
    """Per service, the configured timer (seconds) after which a lost member is noticed."""
    ceph = float(timers["ceph"]["osd_heartbeat_grace_s"])
    return {
        "etcd": timers["etcd"]["election_timeout_ms"] / 1000,
        "openbao": timers["openbao"]["election_timeout_ms"] / 1000,
        "ceph": ceph,
        "s3": ceph,
    }


def drill(blueprint: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [SOV, "drill", "site-loss", str(blueprint), *args, "--yes", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except ValueError:
        sys.stderr.write(result.stderr[-3000:])
        raise SystemExit(f"benchmark: drill {' '.join(args)} gave no report ({result.returncode})") from None
    return report


def summary(report: dict[str, Any], timers: dict[str, float]) -> dict[str, Any]:
    rto = report["rto_seconds"]
    return {
        "ok": report["ok"],
        "site": report["site"],
        "target": report["target_reason"],
        "rto_seconds": rto,
        "max_gap_seconds": report["max_gap_seconds"],
        "recovery_seconds": report["recovery_seconds"],
        "acknowledged_writes": report["acknowledged_writes"],
        "lost_writes": report["lost_writes"],
        "split_brain_writes": report["split_brain_writes"],
        "rto_to_timer": {k: None if v is None else round(v / timers[k], 3) for k, v in rto.items()},
        "max_gap_to_timer": {k: round(v / timers[k], 3) for k, v in report["max_gap_seconds"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blueprint", type=Path, default=BLUEPRINT)
    parser.add_argument("--state", type=Path, default=None)
    args = parser.parse_args()
    blueprint: Path = args.blueprint.resolve()
    plan = build_plan(load_blueprint(blueprint)).data
    timers = detection_timers(plan["timers"])
    # A benchmark stopped with SIGTERM still takes its lab down (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="sov-bench-drill-") as tmp:
        state = args.state or Path(tmp) / "state"
        env = {**os.environ, "SOVPLATFORM_STATE_DIR": str(state)}
        results: dict[str, Any] = {"blueprint": str(blueprint), "timers": plan["timers"], "detection_s": timers}
        try:
            if args.state is None:
                results["up_seconds"] = round(run_sov(["up", str(blueprint), "--yes"], env), 1)
            power = drill(blueprint, env, "--site", "auto-leader", "--mode", "power")
            results["power"] = summary(power, timers)
            sites = [s["name"] for s in plan["sites"] if s["hosts"]]
            other = next(s for s in sites if s != power["site"])
            results["partition"] = summary(drill(blueprint, env, "--site", other, "--mode", "partition"), timers)
        finally:
            if args.state is None:
                subprocess.run([SOV, "down", str(blueprint), "--yes"], env=env, capture_output=True, check=False)
        print(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
