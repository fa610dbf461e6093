"""The etcd layer on the real lab: converge, idempotence, checks, and the loss of a whole site.

Brings up tests/data/blueprints/t-etcd.yaml (one host per site, its own address plan so it can
run next to other labs) in a private state dir with `sovplatform up`, converges
playbooks/etcd.yml through the project's engine, and judges the cluster with
sovplatform.checks.etcd. Then powers off dc1 (holding the leader, so a new election is forced)
and expects a leader among the two survivors and working writes within the design's "a few
seconds" of etcd's timers, and the member to rejoin after power on. `down` always runs.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from rich.console import Console

from sovplatform.blueprint import load_blueprint
from sovplatform.checks import etcd as etcd_checks
from sovplatform.checks.model import Check, CheckContext
from sovplatform.engine import resume
from sovplatform.engine.ansible import PlaybookResult, run_playbook
from sovplatform.engine.progress import Progress
from sovplatform.paths import cache_dir
from sovplatform.substrate.lab import LabSubstrate
from sovplatform.substrate.lab_spec import lab_spec
from tests.helpers import ROOT
from tests.integration.labkit import SOV, LabPlatform, skip_reason

pytestmark = pytest.mark.lab

BLUEPRINT = ROOT / "tests" / "data" / "blueprints" / "t-etcd.yaml"
BP = load_blueprint(BLUEPRINT)
ADDRESS = {h.name: str(h.addresses.management) for _, _, _, h in BP.hosts()}
MEMBERS = BP.etcd_members()
SITE = BP.host_site()
ETCDCTL = (
    "ETCDCTL_API=3 ETCDCTL_CACERT=/etc/sovplatform/pki/ca.crt ETCDCTL_CERT=/etc/sovplatform/pki/host.crt "
    "ETCDCTL_KEY=/etc/sovplatform/pki/host.key etcdctl --endpoints=https://127.0.0.1:2379"
)


@dataclass
class Platform(LabPlatform):
    first_up: subprocess.CompletedProcess[str] = field(default_factory=lambda: subprocess.CompletedProcess([], 0))
    timings: dict[str, float] = field(default_factory=dict)

    def converge(self) -> PlaybookResult:
        with open(os.devnull, "w") as sink, Progress(Console(file=sink)) as progress:
            # The role installs etcd from the mirror, the one extra variable it needs from `up`.
            extravars = {"sov_mirror_url": (self.state / "mirror-url").read_text().strip()}
            return run_playbook(
                "etcd.yml", self.state / "inventory", self.state / "runner-etcd", progress, extravars=extravars
            )

    def checks(self) -> dict[str, Check]:
        lab = LabSubstrate(lab_spec(BP), self.state / "lab", cache_dir())
        ctx = CheckContext(
            hosts={str(h["name"]): h for h in lab.contract()},
            plan=json.loads((self.state / "plan" / "plan.json").read_text()),
            state=self.state,
            known_hosts=self.state / "ssh" / "known_hosts",
        )
        return {c.name: c for c in etcd_checks.run(ctx)}


def _failed(checks: dict[str, Check]) -> list[str]:
    return [f"{c.name}: {c.detail}" for c in checks.values() if not c.ok]


def _start_times(platform: Platform) -> dict[str, str]:
    """When each member's etcd last started: a restart would change it."""
    return {
        host: platform.ssh(host, "systemctl show -p ExecMainStartTimestampMonotonic --value etcd").stdout.strip()
        for host in MEMBERS
    }


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    state_root = tmp_path_factory.mktemp("etcd-state")
    reason = skip_reason(state_root)
    if reason:
        pytest.skip(reason)
    p = Platform(BP.name, ADDRESS, state_root)
    try:
        started = time.monotonic()
        p.first_up = p.sov("up", str(BLUEPRINT), "--yes", "--until", "etcd")
        p.timings["up_s"] = round(time.monotonic() - started, 1)
        yield p
    finally:
        p.sov("lab", "heal", str(BLUEPRINT))
        p.sov("lab", "power", "on", str(BLUEPRINT), "--site", "dc1")
        down = p.sov("down", str(BLUEPRINT), "--yes")
        print(f"\netcd lab timings: {json.dumps(p.timings)}; down exit {down.returncode}")


@pytest.fixture(scope="module")
def converged(platform: Platform) -> PlaybookResult:
    assert platform.first_up.returncode == 0, platform.first_up.stdout[-3000:] + platform.first_up.stderr[-3000:]
    started = time.monotonic()
    result = platform.converge()
    platform.timings["converge_s"] = round(time.monotonic() - started, 1)
    return result


def test_converge_forms_a_healthy_cluster(platform: Platform, converged: PlaybookResult) -> None:
    assert converged.ok, [f.render() for f in converged.failures] + [str(converged.log)]
    checks = platform.checks()
    assert not _failed(checks), _failed(checks)
    assert {f"health {m}" for m in MEMBERS} | {"leader", "members", "write-read"} == set(checks)


def test_members_run_the_planned_configuration(platform: Platform, converged: PlaybookResult) -> None:
    assert converged.ok
    for host in MEMBERS:
        result = platform.ssh(
            host,
            "stat -c '%U %a' /etc/etcd/pki/host.key; test ! -e /var/lib/etcd/default && echo no-default; "
            "test ! -e /usr/sbin/policy-rc.d && echo no-policy; test -d /var/lib/etcd/member && echo data; "
            "systemctl is-enabled etcd; "
            # a client without a certificate is turned away
            f"curl -s -o /dev/null -w '%{{http_code}}' --cacert /etc/sovplatform/pki/ca.crt "
            f"https://{ADDRESS[host]}:2379/version || echo ' refused'",
        )
        lines = result.stdout.split("\n")
        assert lines[:5] == ["etcd 600", "no-default", "no-policy", "data", "enabled"], (host, result.stdout)
        assert "refused" in lines[5], (host, lines[5])
    members = json.loads(platform.ssh(MEMBERS[0], f"{ETCDCTL} member list -w json").stdout)["members"]
    assert {m["name"]: m["peerURLs"] for m in members} == {h: [f"https://{ADDRESS[h]}:2380"] for h in MEMBERS}


def test_second_run_changes_and_restarts_nothing(platform: Platform, converged: PlaybookResult) -> None:
    assert converged.ok
    before = _start_times(platform)
    started = time.monotonic()
    again = platform.converge()
    platform.timings["second_run_s"] = round(time.monotonic() - started, 1)
    assert again.ok, [f.render() for f in again.failures]
    assert again.changed_total == 0, dict(again.changed)
    assert _start_times(platform) == before


SURVIVORS = [m for m in MEMBERS if SITE[m] != "dc1"]
WRITE_GAP_LIMIT_S = 10.0  # design: "new leader, writes OK within a few seconds"


class WriteProbe(threading.Thread):
    """Writes a canary through a surviving member every ~0.2 s and notes when writes worked."""

    def __init__(self, platform: Platform, host: str) -> None:
        super().__init__(daemon=True)
        self.platform, self.host = platform, host
        self.key = f"/sovplatform/verify/drill-{secrets.token_hex(4)}"
        self.stop = threading.Event()
        self.ok_times: list[float] = []
        self.attempts = 0

    def run(self) -> None:
        while not self.stop.is_set():
            result = self.platform.ssh(self.host, f"{ETCDCTL} --command-timeout=1s put {self.key} {self.attempts}")
            self.attempts += 1
            if result.returncode == 0:
                self.ok_times.append(time.monotonic())
            time.sleep(0.2)

    def finish(self) -> float:
        """Stop, delete the canary, return the longest time without a successful write."""
        self.stop.set()
        self.join(timeout=10)
        self.platform.ssh(self.host, f"{ETCDCTL} del {self.key}")
        gaps = [b - a for a, b in zip(self.ok_times, self.ok_times[1:], strict=False)]
        return round(max(gaps, default=float("inf")), 2)


def _lead_from_dc1(platform: Platform) -> None:
    """Put the leader in dc1, so losing dc1 forces an election (move-leader goes to the leader)."""
    statuses = json.loads(platform.ssh("dc1-a", f"{ETCDCTL} endpoint status --cluster -w json").stdout)
    me = next(s["Status"]["header"]["member_id"] for s in statuses if ADDRESS["dc1-a"] in s["Endpoint"])
    leader_url = next(s["Endpoint"] for s in statuses if s["Status"]["header"]["member_id"] == s["Status"]["leader"])
    if ADDRESS["dc1-a"] not in leader_url:
        moved = platform.ssh("dc1-a", f"{ETCDCTL.rsplit(' ', 1)[0]} --endpoints={leader_url} move-leader {me:x}")
        assert moved.returncode == 0, moved.stdout + moved.stderr
    leader = platform.checks()["leader"]
    assert leader.detail.startswith("leader dc1-a"), leader.detail


def _survivors_lead_and_write(platform: Platform) -> dict[str, Check]:
    deadline = time.monotonic() + 60
    while True:
        checks = platform.checks()
        if checks["leader"].ok and checks["write-read"].ok:
            break
        assert time.monotonic() < deadline, _failed(checks)
        time.sleep(1)
    assert checks["leader"].detail.split()[1].rstrip(",") in SURVIVORS, checks["leader"].detail
    assert not checks["health dc1-a"].ok
    assert all(checks[f"health {m}"].ok for m in SURVIVORS), _failed(checks)
    return checks


def _all_healthy_again(platform: Platform, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        checks = platform.checks()
        if not _failed(checks):
            return
        assert time.monotonic() < deadline, _failed(checks)
        time.sleep(2)


def test_losing_a_site_by_power_off_keeps_a_leader_and_writes(platform: Platform, converged: PlaybookResult) -> None:
    assert converged.ok
    _lead_from_dc1(platform)
    probe = WriteProbe(platform, SURVIVORS[0])
    probe.start()
    time.sleep(1)
    started = time.monotonic()
    off = platform.sov("lab", "power", "off", str(BLUEPRINT), "--site", "dc1")
    platform.timings["power_off_s"] = round(time.monotonic() - started, 1)
    assert off.returncode == 0, off.stderr
    time.sleep(3)
    gap = probe.finish()
    platform.timings["power_off_longest_write_gap_s"] = gap
    assert gap <= WRITE_GAP_LIMIT_S, f"writes failed for {gap}s"
    _survivors_lead_and_write(platform)
    platform.timings["power_off_checks_ok_s"] = round(time.monotonic() - started, 1)

    started = time.monotonic()
    on = platform.sov("lab", "power", "on", str(BLUEPRINT), "--site", "dc1")
    assert on.returncode == 0, on.stderr
    _all_healthy_again(platform)
    platform.timings["rejoin_after_power_on_s"] = round(time.monotonic() - started, 1)


def test_losing_a_site_by_partition_keeps_a_leader_and_writes(platform: Platform, converged: PlaybookResult) -> None:
    # Unlike a clean power off (etcd hands leadership over on SIGTERM), a cut-off leader just
    # goes silent: the survivors must notice (election timeout) and elect a new one.
    assert converged.ok
    _lead_from_dc1(platform)
    probe = WriteProbe(platform, SURVIVORS[0])
    probe.start()
    time.sleep(1)
    started = time.monotonic()
    try:
        cut = platform.sov("lab", "partition", str(BLUEPRINT), "--site", "dc1")
        assert cut.returncode == 0, cut.stderr
        time.sleep(5)
        gap = probe.finish()
        platform.timings["partition_longest_write_gap_s"] = gap
        assert gap <= WRITE_GAP_LIMIT_S, f"writes failed for {gap}s"
        _survivors_lead_and_write(platform)
    finally:
        probe.finish()
        healed = platform.sov("lab", "heal", str(BLUEPRINT))
    assert healed.returncode == 0, healed.stderr
    started = time.monotonic()
    _all_healthy_again(platform)
    platform.timings["rejoin_after_heal_s"] = round(time.monotonic() - started, 1)


def test_converge_after_the_drill_changes_nothing(platform: Platform, converged: PlaybookResult) -> None:
    assert converged.ok
    again = platform.converge()
    assert again.ok, [f.render() for f in again.failures]
    assert again.changed_total == 0, dict(again.changed)


def test_up_killed_mid_run_converges_on_rerun(platform: Platform, converged: PlaybookResult) -> None:
    """SIGKILL `up` while its playbook runs: the playbook outlives it; the rerun says what it
    resumes, stops the leftover playbook, converges, and the members were never restarted."""
    assert converged.ok
    journal = platform.state / "journal.jsonl"
    mark = len(journal.read_text().splitlines())
    before = _start_times(platform)
    env = {**os.environ, "SOVPLATFORM_STATE_DIR": str(platform.state_root)}
    killed = subprocess.Popen(
        [SOV, "up", str(BLUEPRINT), "--yes", "--until", "etcd"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and killed.poll() is None:
        entries = [json.loads(line) for line in journal.read_text().splitlines()[mark:]]
        if any(e["step"] == "converge" and e["status"] == "started" for e in entries):
            break
        time.sleep(1)
    time.sleep(8)  # well inside the playbook
    assert killed.poll() is None, "up finished before it could be killed"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    left = resume.orphaned_playbooks(platform.state)
    started = time.monotonic()
    rerun = platform.sov("up", str(BLUEPRINT), "--yes", "--until", "etcd")
    platform.timings["rerun_after_sigkill_s"] = round(time.monotonic() - started, 1)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-2000:]
    entries = [json.loads(line) for line in journal.read_text().splitlines()[mark:]]
    resumed = [e for e in entries if e["step"] == "resume"]
    assert resumed and resumed[0]["stopped_during"] == "converge", resumed
    # a playbook left behind may also die on its own (its terminal went away with up)
    assert resumed[0]["orphaned_playbooks_stopped"] <= len(left)
    assert "resuming: the previous run" in rerun.stdout + rerun.stderr
    assert not resume.orphaned_playbooks(platform.state)
    assert _start_times(platform) == before
