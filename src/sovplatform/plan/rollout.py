"""The order in which a component's daemons are upgraded or restarted, with health gates (pure).

One host at a time, one site at a time, followers and standbys before the leader, and the
site holding the leader last: every quorum then loses at most one member at a time, and the
leader, whose restart forces an election, moves once instead of once per step.

Ceph daemons go by kind, in the order cephadm uses (managers, monitors, OSDs, then RGW):
a daemon must never run newer than the monitors and managers it talks to.

Step ids name the component, target version, daemon kind and host, never a position or a
leader, so a journal of completed ids stays valid when the rerun sees a different leader.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sovplatform.plan.layout import OpsInputError, PlatformLayout
from sovplatform.plan.observed import Leaders

Component = Literal["etcd", "ceph", "openbao"]
COMPONENTS: tuple[Component, ...] = ("etcd", "ceph", "openbao")


@dataclass(frozen=True)
class Gate:
    """A health condition; ``name`` is what the probe layer dispatches on."""

    name: str
    target: str | None  # the host it is about; None for the whole cluster
    text: str


@dataclass(frozen=True)
class RolloutStep:
    id: str
    component: Component
    daemon: str  # etcd | openbao | mgr | mon | osd | rgw
    site: str
    host: str
    leader: bool  # holds the leader / active role now: its restart moves leadership
    units: tuple[str, ...]  # systemd units to restart on the host
    before: tuple[Gate, ...]  # must pass before the step starts
    after: tuple[Gate, ...]  # must pass before the step counts as done and the next one starts


@dataclass(frozen=True)
class Rollout:
    component: Component
    version: str | None  # None: a restart in place
    steps: tuple[RolloutStep, ...]
    hold_flags: tuple[str, ...]  # cluster flags set before the first step and unset after the last
    notes: tuple[str, ...]

    def step_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.steps)


@dataclass(frozen=True)
class Resume:
    remaining: tuple[RolloutStep, ...]
    done: tuple[RolloutStep, ...]
    unknown: tuple[str, ...]  # completed ids this rollout does not have (another version or plan)


def _etcd_gates() -> tuple[Gate, ...]:
    return (
        Gate("etcd.all-healthy", None, "every etcd member answers its health endpoint"),
        Gate("etcd.leader-present", None, "the cluster has a leader"),
    )


def _openbao_gates(host: str | None = None) -> tuple[Gate, ...]:
    gates: tuple[Gate, ...] = (
        Gate("openbao.autopilot-healthy", None, "raft autopilot reports the cluster healthy"),
        Gate("openbao.active-unsealed", None, "one node is active and unsealed"),
    )
    if host is not None:
        gates += (Gate("openbao.unsealed", host, f"{host} is unsealed and a healthy voter again"),)
    return gates


def _clean() -> Gate:
    return Gate("ceph.pgs-active-clean", None, "every PG is active+clean")


def _ceph_gates(daemon: str, host: str) -> tuple[tuple[Gate, ...], tuple[Gate, ...]]:
    before: tuple[Gate, ...]
    after: tuple[Gate, ...]
    if daemon == "mgr":
        before = (Gate("ceph.mgr-ok-to-stop", host, f"a standby mgr is up besides {host}"), _clean())
        after = (Gate("ceph.mgr-available", host, f"an active mgr is up and {host} runs again"),)
    elif daemon == "mon":
        before = (Gate("ceph.mon-ok-to-stop", host, f"ceph mon ok-to-stop {host}"), _clean())
        after = (Gate("ceph.mon-quorum-full", None, "every monitor is back in quorum"),)
    elif daemon == "osd":
        before = (Gate("ceph.osd-ok-to-stop", host, f"ceph osd ok-to-stop for every OSD of {host}"), _clean())
        after = (Gate("ceph.osds-up", host, f"every OSD of {host} is up and in"), _clean())
    else:
        before = (Gate("ceph.rgw-ok-to-stop", host, f"an RGW other than {host} serves S3"), _clean())
        after = (Gate("ceph.rgw-up", host, f"RGW on {host} answers S3 again"),)
    return before, after


CEPH_UNITS = {
    "mgr": "ceph-mgr.target",
    "mon": "ceph-mon.target",
    "osd": "ceph-osd.target",
    "rgw": "ceph-radosgw.target",
}


def _phases(
    layout: PlatformLayout, component: Component, leaders: Leaders
) -> list[tuple[str, tuple[str, ...], str | None]]:
    """(daemon kind, hosts running it, current leader among them) in rollout order."""
    if component == "etcd":
        return [("etcd", layout.quorums["etcd"], leaders.etcd_leader)]
    if component == "openbao":
        return [("openbao", layout.quorums["openbao"], leaders.openbao_active)]
    return [
        ("mgr", layout.mgr_hosts, leaders.ceph_active_mgr),
        ("mon", layout.quorums["ceph_mon"], leaders.ceph_leader_mon),
        ("osd", layout.osd_hosts, None),
        ("rgw", layout.gateway_hosts, None),
    ]


def _primary_leader(component: Component, leaders: Leaders) -> tuple[str, str | None]:
    if component == "etcd":
        return "etcd leader", leaders.etcd_leader
    if component == "openbao":
        return "openbao active node", leaders.openbao_active
    return "ceph leader mon", leaders.ceph_leader_mon


def _ordered_hosts(
    layout: PlatformLayout, hosts: tuple[str, ...], leader: str | None, last_site: str | None
) -> list[str]:
    site = {h.name: h.site for h in layout.hosts}
    sites = [s for s in layout.sites if s != last_site] + ([last_site] if last_site else [])
    members = set(hosts)
    out: list[str] = []
    for s in sites:
        in_site = [h for h in layout.host_names() if h in members and site[h] == s]
        out += [h for h in in_site if h != leader] + [h for h in in_site if h == leader]
    return out


def step_id(component: Component, version: str | None, daemon: str, host: str) -> str:
    return f"{component}/{version or 'restart'}/{daemon}/{host}"


def plan_rollout(layout: PlatformLayout, component: Component, leaders: Leaders, version: str | None = None) -> Rollout:
    """The steps of upgrading (``version`` given) or restarting ``component`` on every host running it.

    Raises OpsInputError for an unknown component or a leader that is not a member.
    """
    if component not in COMPONENTS:
        raise OpsInputError(f"unknown component {component!r}; choose one of {', '.join(COMPONENTS)}")
    site = {h.name: h.site for h in layout.hosts}
    phases = _phases(layout, component, leaders)
    for daemon, hosts, leader in phases:
        if leader is not None and leader not in hosts:
            raise OpsInputError(f"observed {component} {daemon} leader {leader!r} is not one of {', '.join(hosts)}")
    what, primary = _primary_leader(component, leaders)
    notes: list[str] = []
    if primary is None:
        notes.append(f"no {what} observed: sites go in blueprint order")
    steps: list[RolloutStep] = []
    for daemon, hosts, leader in phases:
        # A kind without a leader of its own still ends in the primary leader's site, so the
        # whole rollout reads as "that site last".
        anchor = leader or primary
        for host in _ordered_hosts(layout, hosts, leader, site[anchor] if anchor else None):
            if component == "ceph":
                before, after = _ceph_gates(daemon, host)
                units: tuple[str, ...] = (CEPH_UNITS[daemon],)
            elif component == "etcd":
                before, after, units = _etcd_gates(), _etcd_gates(), ("etcd.service",)
            else:
                before, after, units = _openbao_gates(), _openbao_gates(host), ("openbao.service",)
            steps.append(
                RolloutStep(
                    id=step_id(component, version, daemon, host),
                    component=component,
                    daemon=daemon,
                    site=site[host],
                    host=host,
                    leader=host == leader,
                    units=units,
                    before=before,
                    after=after,
                )
            )
    # noout: an OSD host restarting must not be marked out and start a rebalance it would undo.
    hold = ("noout",) if component == "ceph" else ()
    return Rollout(component=component, version=version, steps=tuple(steps), hold_flags=hold, notes=tuple(notes))


def resume_rollout(rollout: Rollout, completed: Iterable[str]) -> Resume:
    """Split a rollout into the steps a journal records as completed and the rest, in order."""
    done_ids = set(completed)
    ids = set(rollout.step_ids())
    return Resume(
        remaining=tuple(s for s in rollout.steps if s.id not in done_ids),
        done=tuple(s for s in rollout.steps if s.id in done_ids),
        unknown=tuple(sorted(done_ids - ids)),
    )


def remaining_steps(rollout: Rollout, completed: Iterable[str]) -> tuple[RolloutStep, ...]:
    return resume_rollout(rollout, completed).remaining


def _gate_dict(g: Gate) -> dict[str, Any]:
    return {"name": g.name, "target": g.target, "text": g.text}


def rollout_to_dict(rollout: Rollout) -> dict[str, Any]:
    return {
        "component": rollout.component,
        "version": rollout.version,
        "hold_flags": list(rollout.hold_flags),
        "notes": list(rollout.notes),
        "steps": [
            {
                "id": s.id,
                "daemon": s.daemon,
                "site": s.site,
                "host": s.host,
                "leader": s.leader,
                "units": list(s.units),
                "before": [_gate_dict(g) for g in s.before],
                "after": [_gate_dict(g) for g in s.after],
            }
            for s in rollout.steps
        ],
    }


def rollout_lines(rollout: Rollout) -> list[str]:
    """One line per step for a dry run: number, id, where, and the gates around it."""
    head = f"{rollout.component} {'upgrade to ' + rollout.version if rollout.version else 'restart'}"
    lines = [f"{head}: {len(rollout.steps)} step(s)"]
    if rollout.hold_flags:
        lines.append(f"hold: {', '.join(rollout.hold_flags)} set before the first step, unset after the last")
    lines += [f"note: {n}" for n in rollout.notes]
    for i, s in enumerate(rollout.steps, 1):
        lead = " (leader)" if s.leader else ""
        lines.append(f"{i:>3}. {s.daemon} on {s.host} [{s.site}]{lead}: restart {', '.join(s.units)}")
        lines.append(f"     before: {'; '.join(g.text for g in s.before)}")
        lines.append(f"     after:  {'; '.join(g.text for g in s.after)}")
    return lines
