"""``python -m sovplatform.substrate.lab up|down|status|power|partition|heal`` for provisioners.

Progress goes to stderr, results (the host contract, status) to stdout as JSON, so a Terraform
provisioner can capture one and show the other. Precheck failures print one line per problem and
exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sovplatform.substrate.lab import POWER_ACTIONS, LabBusy, LabSubstrate, PrecheckFailed
from sovplatform.substrate.lab.commands import CommandFailed
from sovplatform.substrate.lab.hosts import HostError
from sovplatform.substrate.lab.image import default_cache_dir
from sovplatform.substrate.lab.network import NetworkError
from sovplatform.substrate.lab.specfile import load_spec


def _progress(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)
    # When run as a Terraform provisioner, Terraform holds stderr until it ends; the caller's
    # live view follows this file instead.
    target = os.environ.get("SOVPLATFORM_PROGRESS_FILE")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(message + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sovplatform.substrate.lab")
    parser.add_argument("command", choices=["up", "down", "status", "power", "partition", "heal"])
    parser.add_argument("--spec", type=Path, help="LabSpec as JSON; defaults to the copy `up` kept in the state dir")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--action", choices=POWER_ACTIONS, help="for power")
    parser.add_argument("--host", help="for power")
    parser.add_argument("--site", help="for power and partition")
    args = parser.parse_args(argv)

    spec_path = args.spec or args.state_dir / "spec.json"
    if not spec_path.exists():
        if args.command == "down":
            _progress(f"no spec at {spec_path}: nothing was brought up from this state dir")
            return 0
        print(f"error: spec file {spec_path} not found (pass --spec)", file=sys.stderr)
        return 2
    lab = LabSubstrate(load_spec(spec_path), args.state_dir, args.cache_dir or default_cache_dir())
    try:
        if args.command == "up":
            print(json.dumps(lab.up(_progress), indent=2))
        elif args.command == "down":
            lab.down(_progress)
        elif args.command == "status":
            print(json.dumps(lab.status(), indent=2))
        elif args.command == "power":
            if not args.action:
                parser.error("power needs --action")
            print(json.dumps(lab.power(args.action, host=args.host, site=args.site, progress=_progress)))
        elif args.command == "partition":
            if not args.site:
                parser.error("partition needs --site")
            lab.partition(args.site)
        else:
            lab.heal()
    except PrecheckFailed as failed:
        for problem in failed.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except (ValueError, LabBusy) as bad:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    except (NetworkError, HostError, CommandFailed) as failed:
        print(f"error: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
