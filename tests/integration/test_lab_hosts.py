"""The lab substrate for real: nspawn hosts, per-site bridges, the router, WAN delay, partitions.

Needs root, systemd-nspawn and debootstrap (see precheck.py for the Debian packages). The golden
image is cached in the user's cache dir, so only the first run pays for debootstrap (~1 min).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from sovplatform.substrate.lab import OWNER_DIR, LabBusy, LabSubstrate
from sovplatform.substrate.lab.image import default_cache_dir
from sovplatform.substrate.lab.names import LabNames
from sovplatform.substrate.spec import ExternalHostSpec, HostSpec, LabSpec, LinkSpec, SiteNet
from tests.integration.labkit import footprint, ping_avg_ms, skip_reason, ssh

pytestmark = pytest.mark.lab

PLATFORM = "labtest"
RTT = {("dc1", "dc2"): 20.0, ("dc1", "dc3"): 40.0, ("dc2", "dc3"): 30.0}


def _spec() -> LabSpec:
    sites = tuple(
        SiteNet(f"dc{n}", n - 1, f"198.18.{n}.0/24", f"198.18.{n}.1", f"198.19.{n}.0/24", f"198.19.{n}.1")
        for n in (1, 2, 3)
    )
    # dc1-a will run a kubelet (compute role); the others are plain hosts.
    roles = {0: ("storage", "compute")}
    hosts = tuple(
        HostSpec(
            f"dc{i + 1}-a", f"dc{i + 1}", f"198.18.{i + 1}.10", f"198.19.{i + 1}.10", (1,), roles.get(i, ("storage",))
        )
        for i in range(3)
    )
    links = tuple(LinkSpec(a, b, rtt) for (a, b), rtt in RTT.items())
    kms = ExternalHostSpec("kms", "198.18.250.10", "198.18.250.0/24", "198.18.250.1")
    return LabSpec(PLATFORM, sites, hosts, links, kms)


class Lab:
    def __init__(self, substrate: LabSubstrate, contract: list[dict[str, object]], before: dict[str, list[str]]):
        self.substrate = substrate
        self.contract = {str(h["name"]): h for h in contract}
        self.before = before
        self.key = substrate.ssh_key

    def ssh(self, host: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return ssh(self.key, str(self.contract[host]["address"]), command, timeout)

    def ping_avg_ms(self, source: str, target: str, count: int = 10) -> float | None:
        return ping_avg_ms(
            self.key, str(self.contract[source]["address"]), str(self.contract[target]["address"]), count
        )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    state_dir = tmp_path_factory.mktemp("lab-state")
    reason = skip_reason(state_dir)
    if reason:
        pytest.skip(reason)
    substrate = LabSubstrate(_spec(), state_dir, default_cache_dir())
    before = footprint(LabNames(PLATFORM).prefix, state_dir)
    messages: list[str] = []
    try:
        contract = substrate.up(messages.append)
        yield Lab(substrate, contract, before)
    finally:
        substrate.down()


def test_every_host_answers_ssh_with_the_platform_key(lab: Lab) -> None:
    assert set(lab.contract) == {"dc1-a", "dc2-a", "dc3-a", "kms"}
    assert oct(lab.key.stat().st_mode & 0o777) == "0o600"
    machine_ids = set()
    for name, host in lab.contract.items():
        assert host["ssh_user"] == "root" and host["ssh_port"] == 22
        result = lab.ssh(name, "true && hostname && cat /etc/machine-id")
        assert result.returncode == 0, f"{name}: {result.stderr}"
        hostname, machine_id = result.stdout.split()
        assert hostname == name
        machine_ids.add(machine_id)
    assert len(machine_ids) == len(lab.contract)
    disks = lab.ssh("dc1-a", "stat -c %s /var/lib/sovplatform/disks/disk0.img").stdout.strip()
    assert disks == str(1024**3)


# keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL), the call runc makes for every container: prints the
# new keyring's serial, or -1 with the errno when nspawn's seccomp filter refuses it.
JOIN_KEYRING = (
    "python3 -c 'import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
    'r = libc.syscall(250, 1, None); print(r, os.strerror(ctypes.get_errno()) if r < 0 else "")\''
)
CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids")


def test_a_kubernetes_host_can_make_cgroups_and_join_keyrings_a_plain_host_cannot(lab: Lab) -> None:
    probe = "; ".join(
        f"mkdir /sys/fs/cgroup/{c}/sov-probe 2>/dev/null && rmdir /sys/fs/cgroup/{c}/sov-probe && echo {c}"
        for c in CONTROLLERS
    )
    kube = lab.ssh(
        "dc1-a",
        f"{probe}; {JOIN_KEYRING}; stat -c %F:%t:%T /dev/kmsg; "
        "systemd-run --quiet --wait -p ProtectKernelLogs=yes -p ProtectKernelTunables=yes test -c /dev/null "
        "&& echo sandboxed-ok; systemctl is-system-running; grep CapBnd /proc/1/status",
    )
    made, keyring, kmsg, sandboxed, state, bounding = kube.stdout.strip().rsplit("\n", 5)
    caps = int(bounding.split()[1], 16)
    assert caps & (1 << 14), bounding  # CAP_IPC_LOCK: not in nspawn's default set
    assert not caps & (1 << 25) and not caps & (1 << 16), bounding  # never CAP_SYS_TIME nor CAP_SYS_MODULE
    assert made.split() == list(CONTROLLERS), kube.stdout + kube.stderr
    assert int(keyring.split()[0]) > 0, keyring
    assert kmsg == "character special file:1:3", kmsg  # its own node: never a link to /dev/null
    # A service sandboxed from the kernel log (chrony is) still sees /dev/null.
    assert sandboxed == "sandboxed-ok", kube.stdout + kube.stderr
    assert state == "running", state  # nothing failed at boot with the extra capabilities
    plain = lab.ssh("dc2-a", f"{probe}; {JOIN_KEYRING}; systemctl is-system-running")
    *made, keyring, state = plain.stdout.strip().split("\n")
    assert made == [], plain.stdout  # the controllers stay read-only in a plain host
    assert keyring.startswith("-1 "), keyring
    assert state == "running", state


def test_ping_rtt_between_sites_matches_the_links(lab: Lab) -> None:
    for (a, b), rtt in RTT.items():
        if rtt == 30.0:
            continue  # two pairs suffice; keeps the test short
        measured = lab.ping_avg_ms(f"{a}-a", f"{b}-a")
        assert measured is not None, f"no ping reply {a} -> {b}"
        assert abs(measured - rtt) <= 0.2 * rtt, f"{a}<->{b}: measured {measured} ms, configured {rtt} ms"
    # The KMS network is not a WAN link: no added delay.
    to_kms = lab.ping_avg_ms("dc1-a", "kms", count=3)
    assert to_kms is not None and to_kms < 5


def test_partition_cuts_only_that_site_and_heal_restores_it(lab: Lab) -> None:
    lab.substrate.partition("dc3")
    try:
        assert lab.substrate.status()["partitioned"] == ["dc3"]
        assert lab.ping_avg_ms("dc1-a", "dc3-a", count=2) is None
        assert lab.ping_avg_ms("dc3-a", "dc2-a", count=2) is None
        assert lab.ping_avg_ms("dc3-a", "kms", count=2) is None
        assert lab.ping_avg_ms("dc1-a", "dc2-a", count=2) is not None
        # The controller still sees the partitioned site, so tests can observe both sides.
        assert lab.ssh("dc3-a", "true").returncode == 0
    finally:
        lab.substrate.heal()
    assert lab.substrate.status()["partitioned"] == []
    assert lab.ping_avg_ms("dc1-a", "dc3-a", count=2) is not None


def test_power_off_and_on_again(lab: Lab) -> None:
    lab.substrate.power("off", host="dc2-a")
    hosts = {h["name"]: h for h in lab.substrate.status()["hosts"]}  # type: ignore[union-attr]
    assert hosts["dc2-a"]["running"] is False and hosts["dc2-a"]["reachable"] is False
    assert hosts["dc1-a"]["running"] is True
    assert lab.ssh("dc2-a", "true", timeout=20).returncode != 0
    lab.substrate.power("on", host="dc2-a")
    assert lab.ssh("dc2-a", "true").returncode == 0
    assert lab.ping_avg_ms("dc1-a", "dc2-a", count=2) is not None


def _run_records(lab: Lab) -> dict[str, object]:
    records: dict[str, object] = {}
    for host in lab.substrate.hosts:
        record = json.loads((host.directory / "run.json").read_text())
        if record.get("unit"):
            record["since"] = subprocess.run(
                ["systemctl", "show", "--property=ActiveEnterTimestamp", record["unit"]],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
        records[host.name] = record
    records["delay"] = json.loads((lab.substrate.state_dir / "delay.json").read_text())
    return records


def test_second_up_changes_nothing(lab: Lab) -> None:
    before = _run_records(lab)
    rules_before = subprocess.run(
        ["ip", "netns", "exec", lab.substrate.names.router_netns, "iptables", "-S"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    messages: list[str] = []
    contract = lab.substrate.up(messages.append)
    assert {h["name"]: h for h in contract} == lab.contract
    assert _run_records(lab) == before
    assert not [m for m in messages if "booting" in m or "creating" in m or "clearing" in m], messages
    rules_after = subprocess.run(
        ["ip", "netns", "exec", lab.substrate.names.router_netns, "iptables", "-S"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert rules_after == rules_before


def test_a_second_state_dir_is_refused_while_the_lab_runs(lab: Lab, tmp_path) -> None:
    other = LabSubstrate(_spec(), tmp_path / "other", default_cache_dir())
    with pytest.raises(LabBusy, match="is up from another state dir"):
        other.down()
    # Nothing of the running lab was touched by the refused call.
    assert lab.ssh("dc1-a", "true").returncode == 0


def test_down_leaves_nothing_behind(lab: Lab) -> None:
    prefix = lab.substrate.names.prefix
    during = footprint(prefix, lab.substrate.state_dir)
    assert during["links"] and during["netns"] and during["processes"]
    lab.substrate.down()
    after = footprint(prefix, lab.substrate.state_dir)
    assert after == lab.before
    assert all(not found for found in after.values()), after
    assert not (lab.substrate.state_dir / "hosts").exists()


def test_a_claim_left_by_a_killed_run_is_taken_over(lab: Lab, tmp_path) -> None:
    # What a SIGKILLed run leaves: the claim and its state file, but no host of the platform running.
    dead = tmp_path / "dead" / PLATFORM / "lab"
    dead.mkdir(parents=True)
    (dead / "lab.json").write_text("{}")
    marker = OWNER_DIR / f"{lab.substrate.names.prefix}.owner"
    OWNER_DIR.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{dead}\n")
    messages: list[str] = []
    LabSubstrate(_spec(), tmp_path / "new", default_cache_dir()).down(messages.append)
    assert not marker.exists()
    assert any("abandoned lab" in m for m in messages), messages
