"""`fence` / `unfence`: declare hosts or a whole site dead, so that nothing they still run can
write to the platform's storage when they come back (a "zombie" site).

A host that is gone may be only cut off, its VMs still writing to their RBD disks; restarting
those VMs elsewhere before the host is fenced would put two writers on one disk. Fencing here:

  1. refuses a host that is running and reachable (fence what is gone: power it off or cut it
     off first; `lab power off` on the lab, the BMC or the switch on real sites);
  2. blocklists every Ceph client at the host's addresses (`ceph osd blocklist add <ip>:0/0`,
     which covers every client instance from that IP) until `unfence`;
  3. records the hosts in <state>/fenced.json;
  4. Kubernetes: the out-of-service taint on the nodes (docs/kubernetes.md); that layer cannot
     run on the lab, so the report says it was not applied.

`unfence` removes the blocklist entries (do it once the site is repaired and before its
clients are meant to write again).
"""

from __future__ import annotations

import json
from typing import Any

from sovplatform.blueprint import Blueprint
from sovplatform.checks.ceph import ceph_json
from sovplatform.checks.model import CheckContext
from sovplatform.engine.lock import PlatformLock
from sovplatform.files import write_atomic
from sovplatform.operations.context import Context
from sovplatform.operations.errors import OperationError, Refused
from sovplatform.operations.lab import lab_for, substrate_errors
from sovplatform.operations.verify import check_context, deployed_layers
from sovplatform.plan.layout import OpsInputError, layout_from_plan, select_hosts

FENCED_FILE = "fenced.json"
# Blocklist entries expire; a fence lasts until `unfence`, so ten years stands for "until then".
EXPIRE_S = 10 * 365 * 24 * 3600
RGW_UNITS = "'ceph-radosgw@*'"
DAEMON_UNITS = "'ceph-mon@*' 'ceph-mgr@*' 'ceph-osd@*'"


def fenced_hosts(ctx: Context) -> dict[str, list[str]]:
    try:
        data = json.loads((ctx.state / FENCED_FILE).read_text())
        return {str(k): [str(a) for a in v] for k, v in data["hosts"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _record(ctx: Context, hosts: dict[str, list[str]]) -> None:
    write_atomic(ctx.state / FENCED_FILE, (json.dumps({"hosts": hosts}, sort_keys=True) + "\n").encode())


def entry(address: str) -> str:
    """The blocklist entry covering every client from an address (port 0, nonce 0)."""
    return f"{address}:0/0"


def host_addresses(bp: Blueprint, host: str) -> list[str]:
    """Every address a host's Ceph clients may come from (management, and storage if it has one)."""
    h = next(h for _, _, _, h in bp.hosts() if h.name == host)
    return sorted({str(a) for a in (h.addresses.management, h.addresses.storage) if a is not None})


def _targets(ctx: Context, host: str | None, site: str | None) -> list[str]:
    try:
        return sorted(
            select_hosts(layout_from_plan(ctx.plan.data), hosts=[host] if host else [], sites=[site] if site else [])
        )
    except OpsInputError as exc:
        raise Refused([str(exc)]) from None


def stopped_units(listing: str) -> list[str]:
    """The loaded units that are not active, from `systemctl list-units --all --plain --no-legend`."""
    stopped = []
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] == "loaded" and fields[2] != "active":
            stopped.append(fields[0])
    return stopped


def running_managers(listing: str) -> list[str]:
    """The active ceph-mgr units, from the same listing as stopped_units."""
    return [
        fields[0]
        for fields in (line.split() for line in listing.splitlines())
        if len(fields) >= 3 and fields[0].startswith("ceph-mgr@") and fields[2] == "active"
    ]


def blocklist_entries(stdout: str) -> set[str]:
    """The addresses in `ceph osd blocklist ls --format json`. Pacific prints two JSON arrays
    back to back (address entries, then range entries: `[...][]`), which no single parse reads."""
    decoder = json.JSONDecoder()
    found: set[str] = set()
    text, at = stdout.strip(), 0
    while at < len(text):
        try:
            value, at = decoder.raw_decode(text, at)
        except ValueError:
            break
        if isinstance(value, list):
            found |= {str(e["addr"]) for e in value if isinstance(e, dict) and "addr" in e}
        while at < len(text) and text[at].isspace():
            at += 1
    return found


def _blocklisted(cctx: CheckContext, mon: str) -> set[str]:
    result = cctx.ssh(mon, "ceph --connect-timeout 10 osd blocklist ls --format json", timeout=40)
    if result.returncode != 0:
        raise OperationError([f"fence: listing the blocklist on {mon} failed: {result.stderr.strip()[-200:]}"])
    return blocklist_entries(result.stdout)


def _monitor_outside(cctx: CheckContext, away: list[str]) -> str:
    for mon in cctx.plan["quorums"]["ceph_mon"]["members"]:
        if mon not in away and ceph_json(cctx, mon, "quorum_status"):
            return str(mon)
    raise Refused(["fence: no Ceph monitor outside the fenced hosts answers; the blocklist needs a quorum"])


def still_answering(
    targets: list[str],
    hosts: list[dict[str, Any]],
    partitioned: set[str],
    site_of: dict[str, str],
    already: set[str],
) -> list[str]:
    """The targets that are not gone: running, answering, and not in a site cut off. A fenced
    host may well run again (that is what the fence is for): fencing it again only checks its
    entries, so it never counts here."""
    return sorted(
        str(h["name"])
        for h in hosts
        if h["name"] in targets
        and h["name"] not in already
        and h["running"]
        and h["reachable"]
        and site_of.get(str(h["name"])) not in partitioned
    )


def fence(ctx: Context, host: str | None, site: str | None, dry_run: bool) -> dict[str, Any]:
    plan: dict[str, Any] = ctx.plan.data
    if "ceph" not in deployed_layers(ctx):
        raise Refused([f"fence: Ceph is not deployed on platform {ctx.blueprint.name}: nothing to fence from"])
    with PlatformLock(ctx.state, f"fence {ctx.blueprint.name}"):
        targets = _targets(ctx, host, site)
        with substrate_errors():
            status = lab_for(ctx).status()
        partitioned = set(status["partitioned"])  # type: ignore[call-overload]
        platform = set(ctx.blueprint.host_site())
        if not any(h["running"] for h in status["hosts"] if h["name"] in platform):  # type: ignore[union-attr]
            raise Refused([f"fence: platform {ctx.blueprint.name} is not up (no host running): nothing to fence"])
        site_of = {str(h["name"]): str(h["site"]) for h in plan["hosts"]}
        already = fenced_hosts(ctx)
        alive = still_answering(targets, status["hosts"], partitioned, site_of, set(already))  # type: ignore[arg-type]
        if alive:
            raise Refused(
                [
                    f"fence: {name} is running and reachable; fence only what is gone (power it off or cut it off "
                    "first), or drain it for maintenance"
                    for name in alive
                ]
            )
        addresses = {t: host_addresses(ctx.blueprint, t) for t in targets}
        lines = [
            f"{t}: already fenced (its entries are checked)"
            if t in already
            else f"{t}: blocklist every Ceph client from {', '.join(a)} until unfence"
            for t, a in addresses.items()
        ]
        kubernetes = "kubernetes" in deployed_layers(ctx)
        lines.append(
            "kubernetes: nodes tainted out-of-service"
            if kubernetes
            else "kubernetes: layer not deployed, no node to taint (docs/kubernetes.md)"
        )
        report: dict[str, Any] = {"hosts": targets, "dry_run": dry_run, "lines": lines, "steps": []}
        if dry_run:
            return report
        if kubernetes:
            raise Refused(["fence: tainting Kubernetes nodes is not available in this release; fence by hand"])
        ctx.progress.phase("fence")
        cctx = check_context(ctx)
        mon = _monitor_outside(cctx, targets)
        journal = ctx.journal("fence")
        listed = _blocklisted(cctx, mon)
        for target, addrs in addresses.items():
            if target in already and all(entry(a) in listed for a in addrs):
                report["steps"].append(f"{target}: already fenced, nothing changed")
                continue
            for address in addrs:
                result = cctx.ssh(mon, f"ceph --connect-timeout 10 osd blocklist add {entry(address)} {EXPIRE_S}")
                if result.returncode != 0:
                    journal.record(target, "failed", error=result.stderr.strip()[-200:])
                    raise OperationError([f"fence: blocklisting {address} failed: {result.stderr.strip()[-200:]}"])
            journal.record(target, "done", blocklisted=addrs)
            report["steps"].append(f"{target}: Ceph clients from {', '.join(addrs)} blocklisted")
        listed = _blocklisted(cctx, mon)
        missing = [entry(a) for addrs in addresses.values() for a in addrs if entry(a) not in listed]
        if missing:
            raise OperationError([f"fence: the blocklist does not show {', '.join(missing)}"])
        _record(ctx, {**fenced_hosts(ctx), **addresses})
        return report


def unfence(ctx: Context, host: str | None, site: str | None) -> dict[str, Any]:
    with PlatformLock(ctx.state, f"unfence {ctx.blueprint.name}"):
        targets = _targets(ctx, host, site)
        fenced = fenced_hosts(ctx)
        back = [t for t in targets if t in fenced]
        report: dict[str, Any] = {"hosts": back, "steps": []}
        if not back:
            report["steps"].append("none of these hosts is fenced: nothing to do")
            return report
        ctx.progress.phase("unfence")
        cctx = check_context(ctx)
        mon = _monitor_outside(cctx, back)
        journal = ctx.journal("unfence")
        for target in back:
            for address in fenced[target]:
                result = cctx.ssh(mon, f"ceph --connect-timeout 10 osd blocklist rm {entry(address)}")
                if result.returncode != 0:
                    journal.record(target, "failed", error=result.stderr.strip()[-200:])
                    raise OperationError([f"unfence: removing {address} failed: {result.stderr.strip()[-200:]}"])
            journal.record(target, "done", unblocked=fenced[target])
            report["steps"].append(f"{target}: Ceph clients from {', '.join(fenced[target])} may write again")
            _record(ctx, {k: v for k, v in fenced_hosts(ctx).items() if k != target})
        # A daemon that came back while fenced found itself blocklisted and may have given up
        # (a Ceph daemon that exits too often hits systemd's start limit and stays down): start
        # what is stopped, so the site rejoins whole, and give every manager and gateway a fresh
        # session.
        # A host still away is left alone; its units start when it boots.
        for target in back:
            listing = cctx.ssh(target, f"systemctl list-units --all --plain --no-legend {DAEMON_UNITS}", timeout=60)
            stopped = stopped_units(listing.stdout) if listing.returncode == 0 else []
            # A manager that ran while fenced holds RADOS sessions the blocklist killed: a module
            # that touched its pool then (devicehealth's database) fails for good, and the cluster
            # stays in HEALTH_ERR (MGR_MODULE_ERROR) until that manager restarts.
            managers = running_managers(listing.stdout) if listing.returncode == 0 else []
            if managers:
                names = " ".join(managers)
                restarted = cctx.ssh(target, f"systemctl restart {names}", timeout=180)
                outcome = "restarted with fresh sessions" if restarted.returncode == 0 else "could not be restarted"
                report["steps"].append(f"{target}: {', '.join(managers)} ran while fenced: {outcome}")
            if stopped:
                names = " ".join(stopped)
                started = cctx.ssh(target, f"systemctl reset-failed {names}; systemctl start {names}", timeout=180)
                outcome = "started again" if started.returncode == 0 else "could not be started (see its journal)"
                report["steps"].append(f"{target}: {', '.join(stopped)} had stopped while fenced: {outcome}")
            if "gateway" in {r for h in ctx.plan.data["hosts"] if h["name"] == target for r in h["roles"]}:
                restart = f"systemctl reset-failed {RGW_UNITS} 2>/dev/null; systemctl restart ceph-radosgw.target"
                if cctx.ssh(target, restart, timeout=120).returncode == 0:
                    report["steps"].append(f"{target}: RGW restarted with a fresh session")
        return report
