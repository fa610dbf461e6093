"""`upgrade`: roll a component (OpenBao, Ceph, etcd) to a version one host at a time.

The order comes from plan/rollout.py: one site at a time, followers and standbys before the
leader, the leader's site last. Every step waits for its health gates before and after; the
first gate that does not pass within GATE_TIMEOUT_S stops the rollout and says which, with
what it saw. Each finished step is journalled, so a rerun (after a failed gate or a SIGKILL)
skips what is done and goes on from where it stopped.

Versions: the blueprint is the source of truth, so `--version` must be what it pins (an
upgrade is "pin the new version, then roll it out"); a later `up` then keeps that version.
OpenBao comes as a pinned binary from the mirror (its sha256 from the plan's catalogue). Ceph
comes from Debian's archive, which carries one version, and etcd is built from source at the
one release the catalogue builds: for them an upgrade at the running version is a rolling
restart, and any other version is refused.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import time
from collections.abc import Callable, Iterable
from typing import Any

from sovplatform.checks import s3 as s3_checks
from sovplatform.checks.ceph import ceph_json
from sovplatform.checks.model import CheckContext
from sovplatform.engine.journal import read_journal
from sovplatform.engine.lock import PlatformLock
from sovplatform.operations.context import Context
from sovplatform.operations.drain import drained_hosts, move_etcd_leader
from sovplatform.operations.drill import observe_leaders
from sovplatform.operations.errors import OperationError, Refused
from sovplatform.operations.fence import fenced_hosts
from sovplatform.operations.gates import wait_gate
from sovplatform.operations.lab import lab_for, substrate_errors
from sovplatform.operations.verify import check_context, deployed_layers
from sovplatform.plan.catalog import BINARIES
from sovplatform.plan.layout import layout_from_plan
from sovplatform.plan.observed import Leaders
from sovplatform.plan.rollout import COMPONENTS, Rollout, RolloutStep, plan_rollout, resume_rollout, rollout_lines

OPERATION = "upgrade"
GATE_TIMEOUT_S = 300.0
SSE_KMS_TIMEOUT_S = 300.0
OPENBAO_BINARY = "/usr/local/bin/bao"
# The Debian package whose version stands for the component on a host.
PACKAGES = {"ceph": "ceph-base"}
ETCD_BINARY = "/usr/local/bin/etcd"


def upstream(version: str) -> str:
    """The upstream part of a Debian version: 16.2.15+ds-0+deb12u1 -> 16.2.15."""
    match = re.match(r"(?:\d+:)?(\d+(?:\.\d+)*)", version.strip())
    return match.group(1) if match else version.strip()


def completed_steps(entries: Iterable[dict[str, Any]], component: str, version: str) -> tuple[set[str], str | None]:
    """Step ids done by unfinished upgrade runs of this component and version (the ones a rerun
    skips), and the run they come from. A run that reached its end starts the count afresh."""
    done: set[str] = set()
    source = None
    for e in entries:
        if e.get("operation") != OPERATION or e.get("component") != component or e.get("version") != version:
            continue
        if e.get("step") == OPERATION and e.get("status") == "done":
            done, source = set(), None
        elif e.get("status") == "done" and e.get("step") != OPERATION:
            done.add(str(e["step"]))
            source = str(e.get("run"))
    return done, source


def _refuse_if_not_whole(ctx: Context) -> None:
    with substrate_errors():
        status = lab_for(ctx).status()
    platform = set(ctx.blueprint.host_site())
    hosts: list[dict[str, Any]] = list(status["hosts"])  # type: ignore[call-overload]
    problems = [
        f"upgrade: host {h['name']} is not running or not reachable; an upgrade takes one more member away"
        for h in hosts
        if h["name"] in platform and not (h["running"] and h["reachable"])
    ]
    problems += [
        f"upgrade: site {s} is partitioned; heal it first"
        for s in status["partitioned"]  # type: ignore[attr-defined]
    ]
    problems += [f"upgrade: host {h} is drained; undrain it first" for h in sorted(drained_hosts(ctx))]
    problems += [f"upgrade: host {h} is fenced; unfence it first" for h in sorted(fenced_hosts(ctx))]
    if problems:
        raise Refused(problems)


def _installed(cctx: CheckContext, plan: dict[str, Any], component: str, hosts: list[str]) -> dict[str, str]:
    """host -> the version it runs now ('?' when it cannot be told)."""
    out: dict[str, str] = {}
    if component == "openbao":
        known = {entry.sha256: v for (name, v), entry in BINARIES.items() if name == "openbao"}
        for host in hosts:
            said = cctx.ssh(host, f"sha256sum {OPENBAO_BINARY}", timeout=30).stdout.split()
            out[host] = known.get(said[0], "?") if said else "?"
        return out
    if component == "etcd":
        # etcd is built from source: the program says its version ("etcd Version: 3.6.17").
        for host in hosts:
            said = cctx.ssh(host, f"{ETCD_BINARY} --version", timeout=30).stdout
            match = re.search(r"etcd Version: (\S+)", said)
            out[host] = match.group(1) if match else "?"
        return out
    for host in hosts:
        said = cctx.ssh(host, f"dpkg-query -W -f '${{Version}}' {PACKAGES[component]}", timeout=30).stdout
        out[host] = upstream(said) if said.strip() else "?"
    return out


def _leaders(cctx: CheckContext, plan: dict[str, Any]) -> Leaders:
    seen = observe_leaders(cctx, plan)
    mons = list(plan["quorums"]["ceph_mon"]["members"])
    dump = ceph_json(cctx, mons[0], "mgr", "dump") or {}
    return Leaders(
        etcd_leader=seen.etcd_leader,
        openbao_active=seen.openbao_active,
        ceph_leader_mon=seen.ceph_leader_mon,
        ceph_active_mgr=str(dump["active_name"]) if dump.get("active_name") else None,
    )


def _hosts_of(rollout: Rollout) -> list[str]:
    return list(dict.fromkeys(s.host for s in rollout.steps))


def _where(step: RolloutStep) -> dict[str, Any]:
    return {"id": step.id, "daemon": step.daemon, "host": step.host, "site": step.site, "leader": step.leader}


def _install_openbao(cctx: CheckContext, plan: dict[str, Any], mirror: str, version: str, host: str) -> None:
    entry = next(a for a in plan["artefacts"] if a.get("name") == "bao" and a.get("version") == version)
    new = f"{OPENBAO_BINARY}.new"
    url = f"{mirror.rstrip('/')}/binaries/bao/{version}/bao"
    # Fetched and checked beside the running binary, then renamed over it: the service keeps
    # running the old one until its restart, and a bad download never replaces anything.
    script = (
        f"set -e; curl -fsS --max-time 120 -o {new} {shlex.quote(url)}; "
        f"echo {entry['sha256']}  {new} | sha256sum -c --quiet; "
        f"chmod 0755 {new}; mv -f {new} {OPENBAO_BINARY}"
    )
    result = cctx.ssh(host, script, timeout=180)
    if result.returncode != 0:
        cctx.ssh(host, f"rm -f {new}")
        raise OperationError([f"upgrade: installing bao {version} on {host} failed: {result.stderr.strip()[-200:]}"])


def _gates(cctx: CheckContext, plan: dict[str, Any], step: RolloutStep, when: str, say: Callable[[str], None]) -> float:
    total = 0.0
    for gate in step.before if when == "before" else step.after:
        ok, detail, waited = wait_gate(cctx, plan, gate, GATE_TIMEOUT_S)
        total += waited
        if not ok:
            raise OperationError(
                [
                    f"upgrade stopped at {step.id}: gate {when} the step did not pass within {GATE_TIMEOUT_S:.0f}s: "
                    f"{gate.text}",
                    f"last seen: {detail}",
                ],
                hint="fix the cause, then run the same upgrade again: it resumes at this step",
            )
        say(f"{step.host}: gate {when}: {gate.text} ({detail}; {waited}s)")
    return total


def _wait_sse_kms(ctx: Context, note: Callable[[str], None]) -> float:
    """After OpenBao's voters restarted, wait until RGW's SSE-KMS round trip (verify's S3 check)
    works again: RGW's requests ride on the new active node only once the gateways and the
    standbys' forwarding have caught up. Seconds waited; failing after SSE_KMS_TIMEOUT_S."""
    started = time.monotonic()
    while True:
        checks = s3_checks.run(check_context(ctx))
        if all(c.ok for c in checks):
            waited = round(time.monotonic() - started, 1)
            note(f"upgrade: S3 SSE-KMS round trip works ({waited}s after the last voter)")
            return waited
        if time.monotonic() - started > SSE_KMS_TIMEOUT_S:
            raise OperationError(
                [f"upgrade: SSE-KMS through RGW does not work {SSE_KMS_TIMEOUT_S:.0f}s after the upgrade"]
                + [f"{c.name}: {c.detail}" for c in checks if not c.ok],
                hint="every voter runs the new version; check `sovplatform verify` and the RGW logs",
            )
        time.sleep(5)


def upgrade(
    ctx: Context, component: str, version: str | None, dry_run: bool, say: Callable[[str], None] | None = None
) -> dict[str, Any]:
    note = say or ctx.progress.update
    plan: dict[str, Any] = ctx.plan.data
    if component not in COMPONENTS:
        raise Refused([f"--component: {component!r} is not one of {', '.join(COMPONENTS)}"])
    pinned = str(plan["versions"][component])
    version = version or pinned
    if version != pinned:
        raise Refused(
            [
                f"--version {version}: the blueprint pins {component} {pinned}; pin {version} in the blueprint "
                f"(versions.{component}) first, so that later `up` runs keep what the upgrade installs"
            ]
        )
    layer = {"etcd": "etcd", "ceph": "ceph", "openbao": "openbao"}[component]
    if layer not in deployed_layers(ctx):
        raise Refused([f"upgrade: {component} is not deployed on platform {ctx.blueprint.name} (run up)"])
    layout = layout_from_plan(plan)
    with PlatformLock(ctx.state, f"upgrade {component} {ctx.blueprint.name}"):
        _refuse_if_not_whole(ctx)
        cctx = check_context(ctx)
        leaders = _leaders(cctx, plan)
        rollout = plan_rollout(layout, component, leaders, version)  # type: ignore[arg-type]
        if "s3" not in deployed_layers(ctx):
            # `up --until ceph|openbao` runs no RGW yet: nothing to restart, and its gates would fail.
            rollout = dataclasses.replace(rollout, steps=tuple(s for s in rollout.steps if s.daemon != "rgw"))
        installed = _installed(cctx, plan, component, _hosts_of(rollout))
        if component != "openbao":
            other = {h: v for h, v in installed.items() if v != version}
            if other:
                raise Refused(
                    [
                        f"--version {version}: {component} comes from Debian 12's archive in the mirror, which carries "
                        f"{', '.join(sorted(set(other.values())))} ({', '.join(sorted(other))}); only a rolling "
                        "restart at the installed version can be done here"
                    ]
                )
        journal_path = ctx.state / "journal.jsonl"
        done_ids, source = completed_steps(read_journal(journal_path), component, version)
        resume = resume_rollout(rollout, done_ids)
        change = "restart" if all(v == version for v in installed.values()) else "upgrade"
        report: dict[str, Any] = {
            "component": component,
            "version": version,
            "change": change,
            "dry_run": dry_run,
            "installed_before": installed,
            "lines": [
                *rollout_lines(rollout),
                *[f"{h}: runs {v}" for h, v in installed.items()],
                *([f"resuming run {source}: {len(resume.done)} step(s) already done"] if resume.done else []),
            ],
            "steps": [],
        }
        if dry_run:
            return report
        journal = ctx.journal(OPERATION)
        tag = {"component": component, "version": version}
        mirror = (ctx.state / "mirror-url").read_text().strip() if component == "openbao" else ""
        if component == "openbao" and change == "upgrade":
            from sovplatform.operations import mirror_service

            # The new binary must be in the mirror the hosts fetch from (the blueprint pins it now).
            mirror_service.build(ctx, ctx.state / "mirror")
            mirror = mirror_service.ensure(ctx, lab_for(ctx).controller_address)
        started_all = time.monotonic()
        mon = layout.quorums["ceph_mon"][0]
        for flag in rollout.hold_flags:
            cctx.ssh(mon, f"ceph osd set {flag}", timeout=60)
            note(f"upgrade: {flag} set for the rollout")
        for step in rollout.steps:
            if step.id in done_ids:
                journal.record(step.id, "skipped", reason=f"done by run {source}", **tag)
                report["steps"].append({**_where(step), "skipped": True, "reason": f"done by run {source}"})
                note(f"upgrade: {step.id} done by run {source}: skipped")
                continue
            ctx.progress.phase(f"upgrade {step.daemon} on {step.host} [{step.site}]")
            journal.record(step.id, "started", **tag)
            t = time.monotonic()
            try:
                waited = _gates(cctx, plan, step, "before", note)
                if step.component == "openbao" and installed.get(step.host) != version:
                    _install_openbao(cctx, plan, mirror, version, step.host)
                    note(f"upgrade: bao {version} installed on {step.host}")
                if step.component == "etcd" and step.leader:
                    for line in move_etcd_leader(cctx, plan, {step.host}):
                        note(f"upgrade: {line}")
                result = cctx.ssh(step.host, "systemctl restart " + " ".join(step.units), timeout=300)
                if result.returncode != 0:
                    raise OperationError(
                        [f"upgrade: restarting {', '.join(step.units)} on {step.host} failed: {result.stderr[-200:]}"],
                        hint="run the same upgrade again once the cause is fixed: it resumes at this step",
                    )
                waited += _gates(cctx, plan, step, "after", note)
            except OperationError as exc:
                journal.record(step.id, "failed", error="; ".join(exc.problems), **tag)
                raise
            seconds = round(time.monotonic() - t, 1)
            journal.record(step.id, "done", seconds=seconds, gate_wait_seconds=round(waited, 1), **tag)
            report["steps"].append({**_where(step), "seconds": seconds, "gate_wait_seconds": round(waited, 1)})
            note(f"upgrade: {step.id} done in {seconds}s")
        for flag in rollout.hold_flags:
            cctx.ssh(mon, f"ceph osd unset {flag}", timeout=60)
            note(f"upgrade: {flag} unset")
        if component == "openbao" and "s3" in deployed_layers(ctx):
            report["sse_kms_served_after_s"] = _wait_sse_kms(ctx, note)
        report["installed_after"] = _installed(cctx, plan, component, _hosts_of(rollout))
        report["seconds"] = round(time.monotonic() - started_all, 1)
        journal.record(OPERATION, "done", seconds=report["seconds"], **tag)
        return report
