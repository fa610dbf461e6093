"""Command line: parse, call an operation, render. Exit codes: 0 ok, 2 invalid input or
refused, 1 runtime failure."""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sovplatform.blueprint import Blueprint, BlueprintError, load_blueprint
from sovplatform.files import write_tree
from sovplatform.paths import state_dir
from sovplatform.plan.build import build_plan, render_files, summary

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Provision a sovereign cloud over three or more datacenters and prove it survives losing one.",
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

BlueprintArg = Annotated[Path, typer.Argument(help="Blueprint file (YAML)", show_default=False)]


def _fail(lines: list[str], code: int = EXIT_INVALID) -> typer.Exit:
    for line in lines:
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _load(path: Path, prefix: str = "") -> Blueprint:
    try:
        return load_blueprint(path)
    except BlueprintError as exc:
        raise _fail([prefix + p.render() for p in exc.problems]) from None


@app.command()
def validate(blueprints: Annotated[list[Path], typer.Argument(help="One or more blueprint files")]) -> None:
    """Check blueprints: schema and every topology rule. One line per problem on stderr."""
    failed = False
    for path in blueprints:
        prefix = f"{path}: " if len(blueprints) > 1 else ""
        try:
            bp = _load(path, prefix)
        except typer.Exit:
            failed = True
            continue
        hosts = sum(len(s.hosts) for s in bp.sites)
        out.print(
            f"{path}: valid (platform {bp.name}, {len(bp.sites)} sites, {hosts} hosts; every quorum and pool "
            "survives the loss of any one site)",
            markup=False,
            highlight=False,
        )
    if failed:
        raise typer.Exit(EXIT_INVALID)


@app.command()
def plan(
    blueprint: BlueprintArg,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Directory for the plan (default: the state dir)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout")] = False,
) -> None:
    """Derive inventory, quorum maps, CRUSH, timers and artefact list; write them to a directory."""
    bp = _load(blueprint)
    the_plan = build_plan(bp)
    target = out_dir or state_dir(bp.name) / "plan"
    try:
        changed = write_tree(target, render_files(the_plan))
    except OSError as exc:
        raise _fail([f"{target}: cannot write the plan: {exc.strerror or exc}"], EXIT_FAILED) from None
    if as_json:
        data = summary(the_plan)
        data["out"] = str(target)
        data["changed_files"] = changed
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    _render_plan(the_plan.data, target, changed)


def _render_plan(d: dict, target: Path, changed: list[str]) -> None:
    from rich.table import Table

    table = Table(title=f"platform {d['platform']}: quorums", title_justify="left")
    table.add_column("quorum")
    table.add_column("members")
    table.add_column("per site")
    table.add_column("survives any site loss")
    for name, q in d["quorums"].items():
        per_site = ", ".join(f"{s}={n}" for s, n in q["members_per_site"].items())
        table.add_row(name, ", ".join(q["members"]), per_site, "yes" if q["survives_loss_of_any_site"] else "NO")
    out.print(table)
    pools = Table(title="pools", title_justify="left")
    for col in ("pool", "size/min_size", "failure domain", "survives any site loss"):
        pools.add_column(col)
    for p in d["pools"]:
        pools.add_row(
            p["name"],
            f"{p['size']}/{p['min_size']}",
            p["failure_domain"],
            "yes" if p["survives_loss_of_any_site"] else "NO",
        )
    out.print(pools)
    t = d["timers"]
    out.print(
        f"timers (worst inter-site RTT {t['worst_rtt_ms']} ms): "
        f"etcd heartbeat {t['etcd']['heartbeat_interval_ms']} ms, "
        f"election {t['etcd']['election_timeout_ms']} ms; OpenBao performance_multiplier "
        f"{t['openbao']['performance_multiplier']}",
        highlight=False,
    )
    out.print(
        f"{len(d['artefacts'])} artefacts; plan written to {target} ({len(changed)} file(s) changed)", highlight=False
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        err.print(f"error: internal failure: {type(exc).__name__}: {exc}", markup=False, highlight=False)
        if os.environ.get("SOVPLATFORM_DEBUG"):
            traceback.print_exc()
        else:
            err.print("set SOVPLATFORM_DEBUG=1 to see the traceback", highlight=False)
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    main()
