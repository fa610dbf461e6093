"""Benchmark validate and plan on a large platform: blueprints/odc-reference.yaml grown to
3 sites x 1 000 hosts (/16 networks). Prints JSON: hosts, bytes, seconds for validate and plan,
and per stage. Run it twice to compare, on the same machine under the same load.

    .venv/bin/python benchmarks/plan_scale.py [--hosts-per-site N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from sovplatform.blueprint import line_of
from sovplatform.blueprint.limits import check_limits
from sovplatform.blueprint.loader import parse_blueprint
from sovplatform.blueprint.problems import Problem
from sovplatform.blueprint.rules import check_topology
from sovplatform.plan.build import build_plan, render_files

ROOT = Path(__file__).resolve().parent.parent


def grown(hosts_per_site: int) -> str:
    """odc-reference with every site holding `hosts_per_site` hosts: its control host, then
    gateways, storage hosts (four NVMe disks each) and compute hosts in fixed proportions."""
    data: dict[str, Any] = YAML(typ="safe", pure=True).load((ROOT / "blueprints/odc-reference.yaml").read_text())
    for si, site in enumerate(data["sites"]):
        prefix = site["name"].split("-")[1]
        first = site["hosts"][0]  # control, etcd, kms: the quorums stay one member per site
        site["networks"]["management"] = {"cidr": f"10.{11 + si}.0.0/16", "gateway": f"10.{11 + si}.0.1"}
        site["networks"]["storage"] = {"cidr": f"10.{21 + si}.0.0/16", "gateway": f"10.{21 + si}.0.1"}
        hosts = [first]
        counts = {"gw": 0, "st": 0, "cmp": 0}
        first["addresses"] = {"management": f"10.{11 + si}.0.11"}
        first["bmc"]["address"] = f"10.{91 + si}.0.11"
        for i in range(1, hosts_per_site):
            third, fourth = divmod(i + 20, 250)
            mgmt = f"10.{11 + si}.{third}.{fourth + 2}"
            kind = "gw" if i <= hosts_per_site // 100 else "st" if i <= hosts_per_site * 4 // 10 else "cmp"
            counts[kind] += 1
            name = f"{prefix}-{kind}{counts[kind]}"  # ceph.monitors names each site's st1
            host: dict[str, Any] = {
                "name": name,
                "roles": {"gw": ["gateway"], "st": ["storage"], "cmp": ["compute"]}[kind],
                "addresses": {"management": mgmt},
                "bmc": {"address": f"10.{91 + si}.{third}.{fourth + 2}", "credentials_ref": f"bmc-{name}"},
            }
            if kind == "st":
                host["addresses"]["storage"] = f"10.{21 + si}.{third}.{fourth + 2}"
                host["disks"] = [{"device": f"/dev/nvme{d}n1", "size_gb": 7680} for d in range(4)]
            hosts.append(host)
        site["hosts"] = hosts
    buf = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, buf)
    return buf.getvalue()


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def run(text: str) -> dict[str, float]:
    _, limits_s = _timed(lambda: check_limits(text))
    (bp, lines), parse_s = _timed(lambda: parse_blueprint(text))
    problems, rules_s = _timed(lambda: check_topology(bp))
    if problems:
        raise SystemExit("\n".join(Problem(p.path, p.message, line_of(p.path, lines)).render() for p in problems))
    plan, build_s = _timed(lambda: build_plan(bp))
    _, render_s = _timed(lambda: render_files(plan))
    return {
        # parse_blueprint checks the limits itself: limits_s is shown apart and is inside parse_s
        "limits_s": limits_s,
        "parse_and_schema_s": parse_s,
        "rules_s": rules_s,
        "validate_s": parse_s + rules_s,
        "build_plan_s": build_s,
        "render_files_s": render_s,
        "plan_s": build_s + render_s,
        "validate_and_plan_s": parse_s + rules_s + build_s + render_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts-per-site", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="print the top functions by cumulative time")
    args = parser.parse_args()
    text = grown(args.hosts_per_site)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run, text)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        return
    seconds = run(text)
    print(
        json.dumps(
            {
                "hosts": 3 * args.hosts_per_site,
                "bytes": len(text.encode()),
                "seconds": {k: round(v, 3) for k, v in seconds.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
