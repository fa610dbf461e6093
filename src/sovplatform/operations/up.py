"""`up`: plan, offline mirror, substrate (through Terraform), converge. Each step journalled."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sovplatform.engine import resume
from sovplatform.engine.ansible import run_playbook
from sovplatform.engine.lock import PlatformLock
from sovplatform.engine.terraform import RootModule, TerraformError
from sovplatform.files import write_atomic, write_tree
from sovplatform.operations import artefacts as artefacts_op
from sovplatform.operations import kube_layer, mirror_service, objectstore, openbao
from sovplatform.operations import kubernetes as kubernetes_op
from sovplatform.operations.context import Context
from sovplatform.operations.errors import OperationError, Refused
from sovplatform.operations.inventory import write_inventory
from sovplatform.operations.lab import lab_for, substrate_errors
from sovplatform.operations.pki import ensure_pki
from sovplatform.operations.verify import LAYER_ORDER, planned_layers, record_layers, verify
from sovplatform.plan.build import render_files
from sovplatform.substrate.lab import PrecheckFailed
from sovplatform.substrate.lab.image import ensure_image
from sovplatform.substrate.lab.precheck import check as check_lab
from sovplatform.substrate.lab.specfile import load_spec, spec_to_dict

PROGRESS_ENV = "SOVPLATFORM_PROGRESS_FILE"


@dataclass
class UpResult:
    hosts: list[dict[str, Any]]
    changed_tasks: int
    phases: dict[str, float] = field(default_factory=dict)
    log: str = ""
    report: dict[str, Any] | None = None


class _Tail:
    """Follow a progress file that a child process (the lab provisioner) appends to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")

    def lines(self) -> list[str]:
        try:
            with self.path.open() as fh:
                fh.seek(self.offset)
                data = fh.read()
                self.offset = fh.tell()
        except FileNotFoundError:
            return []
        return [line for line in data.splitlines() if line.strip()]


def refuse_suite_change(recorded: Path, wanted: str) -> None:
    """Hosts that run one Debian release are never rebuilt on another by `up`: that would wipe
    every host, and with them the platform's data. Moving releases is an upgrade of its own."""
    try:
        have = load_spec(recorded).suite
    except (OSError, ValueError, KeyError, TypeError):
        return  # no platform built from this state dir yet
    if have != wanted:
        raise Refused(
            [
                f"versions.debian: the platform's hosts run {have}, the blueprint asks for {wanted}; `up` "
                "does not move hosts between Debian releases (it would rebuild every host and lose the "
                f"platform's data): keep {have} in the blueprint, or `down` and build afresh"
            ]
        )


def up(ctx: Context, converge: bool = True, until: str = LAYER_ORDER[-1], bundle: Path | None = None) -> UpResult:
    progress = ctx.progress
    lab = lab_for(ctx)
    try:
        check_lab(lab.state_dir, lab.cache_dir)
    except PrecheckFailed as failed:
        raise Refused(list(failed.problems)) from None
    phases: dict[str, float] = {}
    with PlatformLock(ctx.state, "up " + ctx.blueprint.name):
        refuse_suite_change(ctx.state / "lab-spec.json", lab.spec.suite)
        found = resume.interrupted(ctx.state / "journal.jsonl", "up")
        orphans = resume.orphaned_playbooks(ctx.state)
        journal = ctx.journal("up")
        if found or orphans:
            if found:
                progress.update(f"resuming: {found.describe()}")
            if orphans:
                progress.update(f"stopping {len(orphans)} playbook run(s) the interrupted run left behind")
                resume.stop(orphans)
            # Every step below is idempotent: what the interrupted run finished is checked again
            # and finds nothing to change; the step it was in is run to completion.
            journal.record("resume", "done", **resume.summary(found, orphans))

        def step(name: str) -> float:
            journal.record(name, "started")
            progress.phase(name)
            return time.monotonic()

        def done(name: str, started: float, **detail: Any) -> None:
            phases[name] = round(time.monotonic() - started, 2)
            journal.record(name, "done", seconds=phases[name], **detail)

        t = step("plan")
        changed = write_tree(ctx.state / "plan", render_files(ctx.plan))
        done("plan", t, changed_files=len(changed))

        # etcd runs on every platform and is built from source: ready before the mirror links it.
        t = step("build")
        programs = artefacts_op.ensure_base(ctx)
        done("build", t, programs=programs)

        t = step("mirror")
        try:
            manifest = mirror_service.build(ctx, ctx.state / "mirror", bundle=bundle)
        except OperationError as exc:
            journal.record("mirror", "failed", error="; ".join(exc.problems))
            raise
        kubernetes = kube_layer.of_manifest(ctx, manifest)
        done("mirror", t, manifest=str(ctx.state / "mirror" / "manifest.json"), kubernetes=kubernetes.reason)
        # Before any host is touched: a blueprint that asks for the layer gets it or nothing.
        refused = kube_layer.refusal(kubernetes)
        if refused is not None:
            journal.record("up", "failed", error=f"kubernetes: {kubernetes.reason}")
            raise refused
        if not kubernetes.enabled:
            progress.update(f"kubernetes: {kubernetes.reason}")

        t = step("image")
        with substrate_errors():
            image = ensure_image(lab.cache_dir, lab.spec.suite, progress.update)
        done("image", t, image=str(image))

        t = step("hosts")
        spec_file = ctx.state / "lab-spec.json"
        write_atomic(spec_file, (json.dumps(spec_to_dict(lab.spec), indent=2, sort_keys=True) + "\n").encode())
        tail = _Tail(ctx.state / "progress.log")
        os.environ[PROGRESS_ENV] = str(tail.path)

        def relay() -> None:
            for line in tail.lines():
                progress.update(line)

        module = RootModule("lab", ctx.state / "terraform")
        try:
            run = module.apply(
                {"spec_file": str(spec_file), "state_dir": str(lab.state_dir), "python": sys.executable},
                heartbeat=relay,
            )
        except TerraformError as exc:
            journal.record("hosts", "failed", error=str(exc))
            raise OperationError([f"substrate: {p}" for p in exc.problems], hint=f"progress log: {tail.path}") from None
        finally:
            relay()
            os.environ.pop(PROGRESS_ENV, None)
        # Terraform only acts when the specification changes; a host stopped since (a reboot
        # of this machine, a power drill) is brought back here without touching running ones.
        with substrate_errors():
            hosts = lab.up(progress.update)
        done("hosts", t, terraform_added=run.added, hosts=len(hosts))

        t = step("mirror-serve")
        url = mirror_service.ensure(ctx, lab.controller_address)
        registry_addr = mirror_service.ensure_registry(ctx, lab.controller_address)
        done("mirror-serve", t, url=url, registry=registry_addr or "")

        platform_hosts = [h for h in hosts if h["name"] in ctx.blueprint.host_site()]
        inventory = write_inventory(ctx.plan, hosts, ctx.state)

        t = step("pki")
        pushed = ensure_pki(ctx, hosts)
        done("pki", t, changed_files=sum(len(v) for v in pushed.values()))
        write_atomic(ctx.state / "mirror-url", (url + "\n").encode())
        if not converge:
            journal.record("converge", "skipped", reason="--skip-converge")
            journal.record("up", "done")
            return UpResult(hosts=platform_hosts, changed_tasks=0, phases=phases)

        extravars = {
            "sov_mirror_url": url,
            # The key comes from the controller's own build, never fetched over the network it guards.
            "sov_mirror_key": (ctx.state / "mirror" / "mirror-key.asc").read_text(),
            "sov_mirror_signed_by": "/usr/share/keyrings/sovplatform-mirror.asc",
            # Lab hosts share this machine's kernel clock; there is no time server to point at.
            "sov_ntp_servers": [],
        }
        if registry_addr:
            extravars["sov_registry"] = registry_addr
        layers = planned_layers(ctx, until)
        changed_total = 0
        log = ""

        def play(phase: str, playbook: str) -> None:
            nonlocal changed_total, log
            started = step(phase)
            result = run_playbook(playbook, inventory, ctx.state / "runner", progress, extravars=extravars)
            if not result.ok:
                journal.record(phase, "failed", failures=[f.render() for f in result.failures], log=str(result.log))
                raise OperationError(
                    [f.render() for f in result.failures] or [f"{playbook} ended with status {result.status}"],
                    hint=f"full log: {result.log}",
                )
            changed_total += result.changed_total
            log = str(result.log)
            done(phase, started, changed=result.changed_total)

        def controller_layer(phase: str, run: Any) -> None:
            nonlocal changed_total
            started = step(phase)
            try:
                detail = run(ctx, hosts, inventory, extravars)
            except OperationError as exc:
                journal.record(phase, "failed", error="; ".join(exc.problems))
                raise
            changed_total += int(detail.get("changed", 0))
            done(phase, started, **{k: v for k, v in detail.items() if k != "changed"})

        # site.yml: every host's base (common) and the etcd quorum.
        play("converge", "site.yml")
        if "ceph" in layers:
            play("ceph", "ceph.yml")
        if "openbao" in layers:
            controller_layer("openbao", openbao.converge)
        if "s3" in layers:
            controller_layer("s3", objectstore.converge)
        if "kubernetes" in layers:
            controller_layer("kubernetes", kubernetes_op.converge)
        record_layers(ctx, layers)

        t = step("verify")
        report = verify(ctx, layers)
        done("verify", t, ok=report["ok"], failed=[c["name"] for c in report["checks"] if not c["ok"]])
        journal.record("up", "done", verified=report["ok"])
        return UpResult(
            hosts=platform_hosts,
            changed_tasks=changed_total,
            phases=phases,
            log=log,
            report=report,
        )
