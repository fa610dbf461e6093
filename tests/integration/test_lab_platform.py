"""`sovplatform up` → checks → `down` on the real lab, as a user runs it (the console script).

Brings up blueprints/lab-3dc.yaml (6 hosts in 3 sites plus the customer's KMS host) in a
private state dir, with the user's real cache (golden image, mirror) so only the first run on a
machine pays for debootstrap and downloads.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from sovplatform.blueprint import load_blueprint
from sovplatform.engine.lock import PlatformLock
from sovplatform.substrate.lab.names import LabNames
from tests.helpers import LAB
from tests.integration.labkit import LabPlatform, footprint, ping_avg_ms, skip_reason

pytestmark = pytest.mark.lab

BP = load_blueprint(LAB)
PREFIX = LabNames(BP.name).prefix
ADDRESS = {h.name: str(h.addresses.management) for _, _, _, h in BP.hosts()}


@dataclass
class Platform(LabPlatform):
    first_up: subprocess.CompletedProcess[str] = field(default_factory=lambda: subprocess.CompletedProcess([], 0))
    before: dict[str, list[str]] = field(default_factory=dict)


def _start_times(platform: Platform) -> dict[str, str]:
    """When each host's sshd and chronyd last started: a restart would change them."""
    out = {}
    for host in ADDRESS:
        result = platform.ssh(
            host, "systemctl show -p ExecMainStartTimestampMonotonic --value ssh.service chrony.service"
        )
        out[host] = result.stdout.strip()
    return out


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    state_root = tmp_path_factory.mktemp("platform-state")
    reason = skip_reason(state_root)
    if reason:
        pytest.skip(reason)
    before = footprint(PREFIX, state_root)
    p = Platform(BP.name, ADDRESS, state_root, before=before)
    p.first_up = p.sov("up", str(LAB), "--yes", "--until", "etcd")
    try:
        yield p
    finally:
        p.sov("down", str(LAB), "--yes")


def test_up_converges_every_host(platform: Platform) -> None:
    result = platform.first_up
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "up: 6 hosts converged" in result.stdout
    assert "Traceback" not in result.stderr


def test_status_reports_every_host_running_and_reachable(platform: Platform) -> None:
    result = platform.sov("status", str(LAB), "--json")
    assert result.returncode == 0, result.stderr
    hosts = json.loads(result.stdout)["hosts"]
    assert {h["name"]: h["site"] for h in hosts} == BP.host_site()
    assert all(h["state"] == "running" and h["reachable"] for h in hosts), hosts


def test_ssh_and_converged_state_on_every_host(platform: Platform) -> None:
    for host, site in BP.host_site().items():
        result = platform.ssh(host, "hostname; cat /etc/sovplatform/host.json; grep -rh '^deb' /etc/apt/sources.list.d")
        assert result.returncode == 0, (host, result.stderr)
        lines = result.stdout.splitlines()
        assert lines[0] == host
        assert json.loads("\n".join(lines[1:-1]))["site"] == site
        assert lines[-1].split()[-2].endswith(":8080/debian"), lines[-1]


def test_inter_site_rtt_matches_blueprint(platform: Platform) -> None:
    for a, b in (("dc1", "dc2"), ("dc1", "dc3"), ("dc2", "dc3")):
        link = BP.link(a, b)
        assert link is not None
        measured = ping_avg_ms(platform.key, ADDRESS[f"{a}-a"], ADDRESS[f"{b}-a"], count=20)
        assert measured is not None, f"no ping {a}->{b}"
        assert abs(measured - link.rtt_ms) <= 0.2 * link.rtt_ms, f"{a}->{b}: {measured} ms vs {link.rtt_ms} ms"
    # within a site there is no WAN delay
    local = ping_avg_ms(platform.key, ADDRESS["dc1-a"], ADDRESS["dc1-b"])
    assert local is not None and local < 1.0


def test_second_up_changes_and_restarts_nothing(platform: Platform) -> None:
    started = _start_times(platform)
    result = platform.sov("up", str(LAB), "--yes", "--until", "etcd")
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"up: 6 hosts converged, 0 task\(s\) changed", result.stdout), result.stdout[-2000:]
    assert _start_times(platform) == started


def test_second_operation_is_refused_while_one_holds_the_lock(platform: Platform) -> None:
    with PlatformLock(platform.state, "held by test"):
        result = platform.sov("up", str(LAB), "--yes", "--until", "etcd")
    assert result.returncode == 2
    assert "another operation holds" in result.stderr and "held by test" in result.stderr


def test_partition_and_heal(platform: Platform) -> None:
    assert platform.sov("lab", "partition", str(LAB), "--site", "dc3").returncode == 0
    try:
        cut = platform.ssh("dc1-a", f"ping -n -q -c 2 -W 1 {ADDRESS['dc3-a']}")
        assert cut.returncode != 0, "dc3 still reachable from dc1 while partitioned"
        inside = platform.ssh("dc3-a", f"ping -n -q -c 2 -W 1 {ADDRESS['dc3-b']}")
        assert inside.returncode == 0, "hosts inside the cut-off site must still reach each other"
        other = platform.ssh("dc1-a", f"ping -n -q -c 2 -W 1 {ADDRESS['dc2-a']}")
        assert other.returncode == 0, "dc1 <-> dc2 must be unaffected"
    finally:
        assert platform.sov("lab", "heal", str(LAB)).returncode == 0
    healed = platform.ssh("dc1-a", f"ping -n -q -c 2 -W 2 {ADDRESS['dc3-a']}")
    assert healed.returncode == 0


def test_power_off_and_on(platform: Platform) -> None:
    assert platform.sov("lab", "power", "off", str(LAB), "--host", "dc2-b").returncode == 0
    hosts = {h["name"]: h for h in json.loads(platform.sov("status", str(LAB), "--json").stdout)["hosts"]}
    assert hosts["dc2-b"]["state"] == "stopped" and not hosts["dc2-b"]["reachable"]
    assert hosts["dc2-a"]["state"] == "running"
    assert platform.sov("lab", "power", "on", str(LAB), "--host", "dc2-b").returncode == 0
    hosts = {h["name"]: h for h in json.loads(platform.sov("status", str(LAB), "--json").stdout)["hosts"]}
    assert hosts["dc2-b"]["state"] == "running" and hosts["dc2-b"]["reachable"]


def test_bad_fault_targets_are_refused(platform: Platform) -> None:
    result = platform.sov("lab", "power", "off", str(LAB), "--site", "dc9")
    assert result.returncode == 2 and "no site 'dc9'" in result.stderr
    result = platform.sov("lab", "power", "off", str(LAB))
    assert result.returncode == 2 and "exactly one of --host or --site" in result.stderr


def test_zz_down_leaves_nothing_behind(platform: Platform) -> None:
    # named zz so it runs last in this module (pytest keeps definition order; this is belt and braces)
    result = platform.sov("down", str(LAB), "--yes")
    assert result.returncode == 0, result.stderr
    after = footprint(PREFIX, platform.state_root)
    assert after == platform.before
    assert not any(after.values()), after
