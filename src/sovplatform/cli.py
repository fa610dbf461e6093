"""Command line: parse, call an operation, render. Exit codes: 0 ok, 2 invalid input or
refused, 1 runtime failure."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from sovplatform.blueprint import Blueprint, BlueprintError, load_blueprint
from sovplatform.files import write_tree
from sovplatform.operations.context import Context
from sovplatform.paths import state_dir
from sovplatform.plan.build import build_plan, render_files, summary

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
T = TypeVar("T")

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


# ---- operations on a platform --------------------------------------------------------------

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout")]


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise _fail([f"refused: {question} (no terminal to ask on; pass --yes to confirm)"])
    if not typer.confirm(question, default=False):
        raise _fail(["aborted: nothing was changed"])


def _run_operation(blueprint: Path, fn: Callable[[Context], T], title: str) -> T:
    from sovplatform.engine.lock import LockHeld
    from sovplatform.engine.progress import Progress
    from sovplatform.operations.errors import OperationError

    bp = _load(blueprint)
    with Progress(err, title=title) as progress:
        ctx = Context(bp, progress)
        try:
            return fn(ctx)
        except LockHeld as exc:
            raise _fail([f"refused: {exc}"]) from None
        except OperationError as exc:
            lines = list(exc.problems) + ([exc.hint] if exc.hint else [])
            raise _fail(lines, exc.code) from None


@app.command()
def up(
    blueprint: BlueprintArg,
    yes: YesOpt = False,
    skip_converge: Annotated[
        bool, typer.Option("--skip-converge", help="Stop after hosts and mirror (role tests converge themselves)")
    ] = False,
    until: Annotated[
        str,
        typer.Option(
            "--until",
            help="Stop after this layer: etcd, ceph, openbao, s3 or kubernetes (default: kubernetes, the whole "
            "platform; Kubernetes only where the blueprint enables it)",
            metavar="LAYER",
        ),
    ] = "kubernetes",
    bundle: Annotated[
        Path | None,
        typer.Option(
            "--bundle",
            help="Artefact bundle (laid out like a mirror's files/ tree) with what the mirror cannot fetch "
            "offline: the Kubernetes layer's binaries",
            metavar="DIR",
        ),
    ] = None,
) -> None:
    """Bring the platform up: plan, offline mirror, hosts, then each layer. A second run changes nothing."""
    from sovplatform.operations.up import up as do_up
    from sovplatform.operations.verify import LAYER_ORDER

    if until not in LAYER_ORDER:
        err.print(f"error: --until: unknown layer {until!r} (one of: {', '.join(LAYER_ORDER)})", markup=False)
        raise typer.Exit(EXIT_INVALID)
    del yes  # nothing up does is destructive yet; accepted so scripts can pass it uniformly
    run = lambda ctx: do_up(ctx, converge=not skip_converge, until=until, bundle=bundle)  # noqa: E731
    result = _run_operation(blueprint, run, "up")
    from rich.table import Table

    table = Table(title="hosts", title_justify="left")
    for col in ("host", "site", "address"):
        table.add_column(col)
    for h in result.hosts:
        table.add_row(str(h["name"]), str(h["site"]), str(h["address"]))
    out.print(table)
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in result.phases.items())
    if skip_converge:
        out.print(f"up: {len(result.hosts)} hosts up, not converged (--skip-converge) ({phases})", highlight=False)
        return
    out.print(
        f"up: {len(result.hosts)} hosts converged, {result.changed_tasks} task(s) changed ({phases})", highlight=False
    )
    if result.report is not None:
        _render_report(result.report, as_json=False)
        if not result.report["ok"]:
            raise typer.Exit(EXIT_FAILED)


@app.command()
def down(blueprint: BlueprintArg, yes: YesOpt = False) -> None:
    """Remove every host, network, process and mount of the platform's lab (state and caches stay)."""
    from sovplatform.operations.down import down as do_down

    bp = _load(blueprint)
    _confirm(f"destroy every host of platform {bp.name}?", yes)
    warnings = _run_operation(blueprint, do_down, "down")
    for line in warnings:
        err.print(f"warning: {line}", markup=False, highlight=False)
    out.print(f"down: platform {bp.name} removed", highlight=False)


@app.command()
def status(blueprint: BlueprintArg, as_json: JsonOpt = False) -> None:
    """Every host: site, address, running or stopped, reachable over SSH, drained or fenced."""
    from sovplatform.operations.status import status as do_status

    data = _run_operation(blueprint, do_status, "status")
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    from rich.table import Table

    table = Table(title="hosts", title_justify="left")
    for col in ("host", "site", "address", "state", "reachable", "held"):
        table.add_column(col)
    for h in data["hosts"]:
        held = ", ".join(k for k in ("drained", "fenced") if h[k]) or "-"
        table.add_row(h["name"], h["site"], h["address"], h["state"], "yes" if h["reachable"] else "no", held)
    out.print(table)


@app.command()
def verify(
    blueprint: BlueprintArg,
    as_json: JsonOpt = False,
    kill_switch: Annotated[
        bool,
        typer.Option(
            "--kill-switch",
            help="Also prove the customer's key is the root of trust: revoke the seal token, restart a "
            "standby (it must stay sealed), then restore with a new token. Restarts voters; needs --yes.",
        ),
    ] = False,
    yes: YesOpt = False,
) -> None:
    """Read-only checks of every deployed layer; exit 0 only if every check passes."""
    from sovplatform.operations.verify import verify as do_verify
    from sovplatform.operations.verify import verify_kill_switch

    if kill_switch:
        bp = _load(blueprint)
        _confirm(f"revoke and restore platform {bp.name}'s seal token, restarting its OpenBao voters?", yes)
        report = _run_operation(blueprint, verify_kill_switch, "verify")
    else:
        report = _run_operation(blueprint, do_verify, "verify")
    _render_report(report, as_json)
    if not report["ok"]:
        raise typer.Exit(EXIT_FAILED)


def _render_report(report: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return
    from rich.table import Table

    table = Table(title=f"verify: {'ok' if report['ok'] else 'FAILED'}", title_justify="left")
    for col in ("layer", "check", "ok", "detail"):
        table.add_column(col)
    for c in report["checks"]:
        table.add_row(c["layer"], c["name"], "ok" if c["ok"] else "FAIL", c["detail"])
    for layer in report.get("not_deployed", []):
        table.add_row(layer["layer"], "layer deployed", "n/a", layer["reason"])
    out.print(table)


HostOpt = Annotated[str | None, typer.Option("--host", help="One host")]
SiteOpt = Annotated[str | None, typer.Option("--site", help="Every host of one site")]


def _one_target(host: str | None, site: str | None) -> None:
    if (host is None) == (site is None):
        err.print("error: give exactly one of --host or --site", markup=False)
        raise typer.Exit(EXIT_INVALID)


@app.command()
def drain(
    blueprint: BlueprintArg,
    host: HostOpt = None,
    site: SiteOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would happen to every quorum and pool")] = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Take a host or a site out of service for maintenance, refusing anything that breaks a quorum."""
    from sovplatform.operations.drain import drain as do_drain

    run = lambda ctx: do_drain(ctx, host, site, dry_run)  # noqa: E731
    _host_or_site(blueprint, host, site, dry_run, yes, as_json, "drain", "its services stop", run)


@app.command()
def undrain(blueprint: BlueprintArg, host: HostOpt = None, site: SiteOpt = None, as_json: JsonOpt = False) -> None:
    """Bring drained hosts back: start their services, unset noout, wait for HEALTH_OK."""
    from sovplatform.operations.drain import undrain as do_undrain

    _one_target(host, site)
    report = _run_operation(blueprint, lambda ctx: do_undrain(ctx, host, site), "undrain")
    _render_steps(report, as_json)


@app.command()
def fence(
    blueprint: BlueprintArg,
    host: HostOpt = None,
    site: SiteOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be fenced; change nothing")] = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Declare hosts or a whole site dead: blocklist their Ceph clients so a returning zombie cannot write."""
    from sovplatform.operations.fence import fence as do_fence

    run = lambda ctx: do_fence(ctx, host, site, dry_run)  # noqa: E731
    _host_or_site(
        blueprint, host, site, dry_run, yes, as_json, "fence", "declared dead: its clients are blocklisted", run
    )


@app.command()
def unfence(blueprint: BlueprintArg, host: HostOpt = None, site: SiteOpt = None, as_json: JsonOpt = False) -> None:
    """Lift a fence: the hosts' Ceph clients may write again (once the site is repaired)."""
    from sovplatform.operations.fence import unfence as do_unfence

    _one_target(host, site)
    report = _run_operation(blueprint, lambda ctx: do_unfence(ctx, host, site), "unfence")
    _render_steps(report, as_json)


def _host_or_site(
    blueprint: Path,
    host: str | None,
    site: str | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    title: str,
    consequence: str,
    run: Callable[[Context], dict],
) -> None:
    """A day-2 operation on --host or --site: confirm unless a dry run, run, render."""
    _one_target(host, site)
    bp = _load(blueprint)
    if not dry_run:
        _confirm(f"{title} {host or 'site ' + str(site)} of platform {bp.name} ({consequence})?", yes)
    report = _run_operation(blueprint, run, title)
    _render_steps(report, as_json)
    if dry_run and not as_json:
        out.print("dry run: nothing was changed", markup=False, highlight=False)


def _render_steps(report: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return
    for line in report.get("lines", []):
        out.print(line, markup=False, highlight=False)
    for step in report["steps"]:
        out.print(f"done: {step}", markup=False, highlight=False)


@app.command()
def upgrade(
    blueprint: BlueprintArg,
    component: Annotated[str, typer.Option("--component", help="openbao, ceph or etcd")],
    version: Annotated[
        str | None, typer.Option("--version", help="Target version; must be the one the blueprint pins (default)")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the steps and their gates; change nothing")] = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Roll a component to a version one host at a time, leaders last, behind health gates; resumable."""
    from sovplatform.operations.upgrade import upgrade as do_upgrade
    from sovplatform.plan.rollout import COMPONENTS

    if component not in COMPONENTS:
        err.print(f"error: --component: unknown component {component!r} (one of: {', '.join(COMPONENTS)})")
        raise typer.Exit(EXIT_INVALID)
    bp = _load(blueprint)
    if not dry_run:
        _confirm(
            f"roll {component} of platform {bp.name} to {version or 'its pinned version'}, one host at a time?", yes
        )
    report = _run_operation(blueprint, lambda ctx: do_upgrade(ctx, component, version, dry_run), "upgrade")
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return
    for line in report["lines"]:
        out.print(line, markup=False, highlight=False)
    for step in report["steps"]:
        what = f"skipped ({step['reason']})" if step.get("skipped") else f"{step['seconds']}s"
        out.print(f"done: {step['id']}: {what}", markup=False, highlight=False)
    if dry_run:
        out.print("dry run: nothing was changed", markup=False, highlight=False)
    else:
        after = ", ".join(f"{h} {v}" for h, v in report.get("installed_after", {}).items())
        out.print(f"{component} {report['change']} finished in {report['seconds']}s; now: {after}", markup=False)


drill_app = typer.Typer(no_args_is_help=True, help="Failover drills with measured RTO and RPO.")
app.add_typer(drill_app, name="drill")


@drill_app.command("site-loss")
def drill_site_loss(
    blueprint: BlueprintArg,
    site: Annotated[
        str, typer.Option("--site", help="Site to take away, or auto-leader (the site holding the most leaders)")
    ],
    mode: Annotated[
        str, typer.Option("--mode", help="power: stop every host of the site; partition: cut its links")
    ] = "power",
    hold: Annotated[float, typer.Option("--hold", help="Seconds to keep the site away after it is gone")] = 30.0,
    expect_outage: Annotated[
        bool,
        typer.Option(
            "--expect-outage",
            help="A second fault while one is outstanding: check the platform stops acknowledging writes",
        ),
    ] = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Take a whole site away while writers run; measure RTO per service, recovery, and RPO."""
    from sovplatform.operations.drill import MODES, site_loss

    if mode not in MODES:
        err.print(f"error: --mode: unknown mode {mode!r} (one of: {', '.join(MODES)})", markup=False)
        raise typer.Exit(EXIT_INVALID)
    if hold < 0:
        err.print("error: --hold: must be 0 or more seconds", markup=False)
        raise typer.Exit(EXIT_INVALID)
    bp = _load(blueprint)
    _confirm(f"{'power off' if mode == 'power' else 'cut off'} site {site} of platform {bp.name} for a drill?", yes)
    result = _run_operation(
        blueprint, lambda ctx: site_loss(ctx, site, mode, hold, expect_outage=expect_outage), "drill"
    )
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        from rich.table import Table

        table = Table(title=f"drill site-loss {result.site} ({result.mode}): {'ok' if result.ok else 'FAILED'}")
        # With --expect-outage the clock starts when the second site comes back, not at the fault.
        rto_label = "resumed after restore s" if result.expect_outage else "RTO s"
        for col in ("service", rto_label, "longest gap s", "acked writes", "lost"):
            table.add_column(col)
        for name, rto in result.rto_seconds.items():
            table.add_row(
                name,
                "-" if rto is None else f"{rto:.2f}",
                f"{result.max_gap_seconds[name]:.2f}",
                str(result.writes.get(name, 0)),
                str(len(result.lost.get(name, []))),
            )
        out.print(table)
        for c in result.checks:
            out.print(f"{'ok  ' if c['ok'] else 'FAIL'} {c['name']}: {c['detail']}", markup=False, highlight=False)
        out.print(
            f"target: {result.target_reason}; recovery {result.recovery_seconds}s; "
            f"{'writes acknowledged during the outage' if result.expect_outage else 'split-brain writes'} "
            f"{result.split_brain_writes}",
            markup=False,
            highlight=False,
        )
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


lab_app = typer.Typer(no_args_is_help=True, help="Fault controls for drills on the lab substrate.")
app.add_typer(lab_app, name="lab")


@lab_app.command("power")
def lab_power(
    action: Annotated[str, typer.Argument(help="off | on")],
    blueprint: BlueprintArg,
    host: Annotated[str | None, typer.Option("--host", help="One host")] = None,
    site: Annotated[str | None, typer.Option("--site", help="Every host of a site")] = None,
) -> None:
    """Power hosts off (clean shutdown) or on."""
    from sovplatform.operations.faults import power

    if action not in ("off", "on"):
        raise _fail([f"action: {action!r} is not one of: off, on"])
    if (host is None) == (site is None):
        raise _fail(["give exactly one of --host or --site"])
    changed = _run_operation(blueprint, lambda ctx: power(ctx, action, host, site), f"power {action}")
    out.print(f"power {action}: {', '.join(changed) if changed else 'nothing to do'}", highlight=False)


@lab_app.command("partition")
def lab_partition(
    blueprint: BlueprintArg, site: Annotated[str, typer.Option("--site", help="Site to cut off")]
) -> None:
    """Cut a site's inter-site links while its hosts keep running."""
    from sovplatform.operations.faults import partition

    _run_operation(blueprint, lambda ctx: partition(ctx, site), "partition")
    out.print(f"partition: site {site} is cut off from the other sites", highlight=False)


@lab_app.command("heal")
def lab_heal(blueprint: BlueprintArg) -> None:
    """Restore every inter-site link."""
    from sovplatform.operations.faults import heal

    _run_operation(blueprint, heal, "heal")
    out.print("heal: every inter-site link restored", highlight=False)


mirror_app = typer.Typer(no_args_is_help=True, help="The offline mirror (packages and binaries).")
app.add_typer(mirror_app, name="mirror")


@mirror_app.command("build")
def mirror_build(
    blueprint: BlueprintArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the mirror to")],
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="Upstream files laid out like a mirror's files/ tree: <name>/<version>/<file>"),
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not download upstream files (cache and bundle only)")
    ] = False,
) -> None:
    """Fetch every artefact of the plan into a flat apt repository plus file store, for air-gapped sites.

    What cannot be had (no pinned checksum, no route to upstream, container images) is listed on
    stderr, one line each with the URL it needs; everything else is still written. Exit 1 then.
    """
    from sovplatform.mirror.manifest import MirrorManifest
    from sovplatform.operations.mirror_service import build_report

    def run(ctx: Context) -> MirrorManifest:
        ctx.progress.phase("mirror")
        return build_report(ctx, out_dir.absolute(), online=not offline, bundle=bundle)

    manifest = _run_operation(blueprint, run, "mirror")
    published = len(manifest.artefacts)
    out.print(f"mirror written to {out_dir} ({published} artefacts, {len(manifest.missing)} missing)", highlight=False)
    if manifest.missing:
        raise _fail([m.line() for m in manifest.missing], EXIT_FAILED)


@mirror_app.command("inventory")
def mirror_inventory(
    mirror_dir: Annotated[Path, typer.Argument(help="A mirror built by `up` or `mirror build`")],
    as_json: JsonOpt = False,
) -> None:
    """Every artefact of a mirror with version, digest and licences (Debian packages counted apart)."""
    from sovplatform.mirror.inventory import rows

    try:
        items, manifest = rows(mirror_dir)
    except FileNotFoundError:
        raise _fail([f"{mirror_dir}: not a mirror (no manifest.json)"]) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise _fail([f"{mirror_dir}/manifest.json: unreadable ({exc})"]) from None
    if as_json:
        out.print_json(json.dumps({"artefacts": [r.to_dict() for r in items], "debs": len(manifest.debs)}))
        return
    for r in items:
        lic = r.licence or "-"
        deps = ", ".join(f"{k} {v}" for k, v in r.licences.items())
        out.print(
            f"{r.kind:<6} {r.name:<26} {r.version:<9} {r.digest[:23]}  {lic}" + (f"  (SBOM: {deps})" if deps else ""),
            highlight=False,
        )
    out.print(
        f"{len(manifest.debs)} Debian packages (signed apt repository; versions in manifest.json)", highlight=False
    )


artefacts_app = typer.Typer(
    no_args_is_help=True, help="Artefacts built from pinned sources (Kubernetes, runtime, images)."
)
app.add_typer(artefacts_app, name="artefacts")


@artefacts_app.command("build")
def artefacts_build(
    blueprint: BlueprintArg,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Build only this component, program or image (repeatable)"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the blueprint's Kubernetes release, runtime and images from pinned Go module sources.

    Each program gets a CycloneDX SBOM; images are pushed into the store's registry. A second
    build of the same pins takes seconds: the store is addressed by every build input.
    """
    from sovplatform.operations.artefacts import build

    report = _run_operation(blueprint, lambda ctx: build(ctx, set(only) if only else None), "artefacts")
    if as_json:
        out.print_json(json.dumps(report))
        return
    for row in report["artefacts"]:
        if row["kind"] == "program":
            lic = ", ".join(f"{k} {v}" for k, v in row["licences"].items()) or row["licence"]
            out.print(
                f"{row['name']:<26} {row['version']:<9} {row['sha256'][:16]} {row['size'] / 1e6:6.1f} MB  {lic}",
                highlight=False,
            )
        else:
            out.print(
                f"{row['name']:<26} {row['version']:<9} {row['digest'][:23]}  image {row['ref']}", highlight=False
            )
    out.print(f"built or found in {report['total_seconds']:.0f}s; store {report['store']}", highlight=False)


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
