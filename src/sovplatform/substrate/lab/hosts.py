"""Lab hosts: systemd-nspawn machines booting full systemd, one private root each.

Each host's root is a plain copy of the golden image (``cp -a --reflink=auto``). On the ext4 dev
machines a 220 MB image copies in about 1.5 s, so the simplicity of "a host is a directory" (no
overlay mounts to leak or unwind) wins over overlayfs. Deleting roots is slower than copying
them on a filesystem mounted with ``discard``. The copy is made under a scratch name and
renamed, so a half-copied root is never booted.

How a host runs depends on the controller: with systemd as PID 1 it becomes a transient unit
(``systemd-run``, KillMode=mixed) so it outlives the Python process and ``systemctl`` can see it;
without systemd (the dev sandboxes run another init) it is a detached session whose nspawn PID and
start time are recorded, which is enough to find, check and stop it later. Both paths start the
same ``systemd-nspawn --boot --private-network --register=no --keep-unit`` command line, carrying
``--machine=<prefix>-<host>`` so stray processes are attributable to their platform. Only the
detached path has been exercised so far: the dev machines do not run systemd as PID 1.

Networking is configured inside the host by systemd-networkd from files written into its root,
matching interfaces by name; the veth ends are plugged in from outside after boot starts
(network.py), and networkd picks them up whenever they appear. That way a power cycle needs no
in-guest reconfiguration.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sovplatform.substrate.lab import kubelet, processes
from sovplatform.substrate.lab.commands import run
from sovplatform.substrate.lab.names import LabNames

Progress = Callable[[str], None]

DISK_MOUNT = "/var/lib/sovplatform/disks"
STOP_TIMEOUT_S = 90.0
BOOT_TIMEOUT_S = 120.0


class HostError(RuntimeError):
    pass


class HostStopped(HostError):
    """A host's container exited before its sshd answered."""

    def __init__(self, host: str, log: Path) -> None:
        super().__init__(f"{host} stopped while booting, see {log}")
        self.host = host
        self.log = log


@dataclass(frozen=True)
class Interface:
    inner: str  # name inside the host
    port: str  # router-side veth end
    bridge: str
    address: str
    prefixlen: int
    gateway: str | None = None  # default route; only the management (or KMS) interface has one
    routes: tuple[tuple[str, str], ...] = ()  # (destination cidr, via)


@dataclass(frozen=True)
class LabHost:
    name: str
    site: str | None  # None for hosts outside every site (the customer KMS)
    machine: str
    directory: Path
    interfaces: tuple[Interface, ...]
    disks_gb: tuple[int, ...] = ()
    roles: tuple[str, ...] = field(default_factory=tuple)

    @property
    def root(self) -> Path:
        return self.directory / "root"

    @property
    def runs_kubelet(self) -> bool:
        return kubelet.runs_kubelet(self.roles)

    @property
    def address(self) -> str:
        return self.interfaces[0].address

    @property
    def disk_dir(self) -> Path:
        return self.directory / "disks"

    def disk_paths(self) -> list[Path]:
        return [self.disk_dir / f"disk{i}.img" for i in range(len(self.disks_gb))]

    @property
    def _run_file(self) -> Path:
        return self.directory / "run.json"


# ---- preparing a root -----------------------------------------------------------------------


def prepare(host: LabHost, image: Path, public_key: str) -> bool:
    """Make the host's root and disks exist and carry its identity; True if anything was written."""
    changed = False
    host.directory.mkdir(parents=True, exist_ok=True)
    if not host.root.is_dir():
        scratch = host.directory / "root.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        run("cp", "-a", "--reflink=auto", str(image), str(scratch))
        # Identity is fixed at creation; rewriting it later would confuse a running host.
        (scratch / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
        (scratch / "etc/hostname").write_text(host.name + "\n")
        (scratch / "etc/hosts").write_text(
            f"127.0.0.1\tlocalhost\n127.0.1.1\t{host.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        )
        os.rename(scratch, host.root)
        changed = True
    ssh_dir = host.root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    changed |= _write_if_changed(ssh_dir / "authorized_keys", public_key.strip() + "\n", 0o600)
    network_dir = host.root / "etc/systemd/network"
    network_dir.mkdir(parents=True, exist_ok=True)
    for iface in host.interfaces:
        changed |= _write_if_changed(network_dir / f"10-{iface.inner}.network", _networkd_file(iface), 0o644)
    if host.runs_kubelet:
        changed |= kubelet.prepare_root(host.root, _write_if_changed)
    host.disk_dir.mkdir(exist_ok=True)
    for path, size_gb in zip(host.disk_paths(), host.disks_gb, strict=True):
        if not path.exists():
            with path.open("wb") as handle:
                handle.truncate(size_gb * 1024**3)  # sparse: costs nothing until written
            changed = True
    return changed


def _write_if_changed(path: Path, content: str, mode: int) -> bool:
    if path.exists() and path.read_text() == content:
        return False
    path.write_text(content)
    path.chmod(mode)
    return True


def _networkd_file(iface: Interface) -> str:
    lines = [
        "[Match]",
        f"Name={iface.inner}",
        "",
        "[Link]",
        "RequiredForOnline=no",
        "",
        "[Network]",
        f"Address={iface.address}/{iface.prefixlen}",
        "LinkLocalAddressing=no",
        "IPv6AcceptRA=no",
    ]
    if iface.gateway:
        lines.append(f"Gateway={iface.gateway}")
    for destination, via in iface.routes:
        lines += ["", "[Route]", f"Destination={destination}", f"Gateway={via}"]
    return "\n".join(lines) + "\n"


# ---- processes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Running:
    pid: int  # the systemd-nspawn process
    start_ticks: int  # its start time, so a recycled PID is never mistaken for it
    leader: int  # the container's PID 1, as seen from the root namespace
    unit: str | None  # transient unit name when started through systemd


def systemd_is_init() -> bool:
    return Path("/run/systemd/system").is_dir()


def _nspawn_argv(host: LabHost) -> list[str]:
    return [
        "systemd-nspawn",
        f"--directory={host.root}",
        f"--machine={host.machine}",
        f"--hostname={host.name}",
        "--boot",
        "--private-network",
        "--register=no",
        "--keep-unit",
        "--link-journal=no",
        # A pty copied to the log keeps the boot transcript without needing a terminal.
        "--console=read-only",
        f"--bind={host.disk_dir}:{DISK_MOUNT}",
        *(kubelet.NSPAWN_OPTIONS if host.runs_kubelet else ()),
    ]


def running(host: LabHost) -> Running | None:
    """The host's live nspawn process, or None if it is not running."""
    try:
        data = json.loads(host._run_file.read_text())
    except (OSError, ValueError):
        return None
    record = Running(**data)
    if processes.start_ticks(record.pid) != record.start_ticks:
        return None
    if f"--machine={host.machine}" not in processes.cmdline(record.pid):
        return None
    return record


def start(host: LabHost) -> Running:
    """Start booting the host; returns once its container (and network namespace) exists."""
    if (current := running(host)) is not None:
        return current
    log = host.directory / "console.log"
    argv = _nspawn_argv(host)
    unit: str | None = None
    if systemd_is_init():
        unit = f"{host.machine}.service"
        run("systemctl", "reset-failed", unit, check=False)
        run(
            "systemd-run",
            f"--unit={unit}",
            "--collect",
            "--property=KillMode=mixed",
            "--property=Delegate=yes",
            f"--property=TimeoutStopSec={int(STOP_TIMEOUT_S)}",
            f"--property=StandardOutput=append:{log}",
            "--property=StandardError=inherit",
            "--",
            *argv,
        )
        pid = int(run("systemctl", "show", "--property=MainPID", "--value", unit).stdout.strip() or 0)
    else:
        pid = processes.spawn_detached(argv, log)
    ticks = processes.start_ticks(pid) if pid else None
    if not pid or ticks is None:
        raise HostError(f"{host.name}: systemd-nspawn did not start, see {log}")
    leader = _wait_for_leader(host, pid, log)
    record = Running(pid=pid, start_ticks=ticks, leader=leader, unit=unit)
    host._run_file.write_text(json.dumps(record.__dict__))
    return record


def _wait_for_leader(host: LabHost, pid: int, log: Path) -> int:
    own_netns = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for child in processes.children(pid):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{child}/ns/net") != own_netns:
                    return child
        if processes.start_ticks(pid) is None:
            break  # nspawn already exited
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise HostError(f"{host.name}: container did not come up:\n{tail}")


def stop_many(hosts: list[LabHost], progress: Progress, timeout: float = STOP_TIMEOUT_S) -> None:
    """Shut hosts down cleanly in parallel (systemd inside gets SIGRTMIN+3 via nspawn)."""
    pending: dict[str, tuple[LabHost, Running]] = {}
    for host in hosts:
        record = running(host)
        if record is None:
            host._run_file.unlink(missing_ok=True)
            continue
        pending[host.name] = (host, record)
        if record.unit:
            subprocess.Popen(["systemctl", "stop", record.unit], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGTERM)
    if pending:
        progress(f"shutting down {', '.join(sorted(pending))}")
    deadline = time.monotonic() + timeout
    last_report = time.monotonic()
    while pending and time.monotonic() < deadline:
        for name, (host, record) in list(pending.items()):
            processes.reap(record.pid)
            if processes.start_ticks(record.pid) != record.start_ticks:
                host._run_file.unlink(missing_ok=True)
                del pending[name]
        if pending and time.monotonic() - last_report > 5:
            last_report = time.monotonic()
            progress(f"still shutting down: {', '.join(sorted(pending))}")
            # A shutdown request that lands while the guest's systemd is still starting can be lost
            # (PID 1 drops signals it has no handler for yet); asking again is harmless.
            for _host, record in pending.values():
                if not record.unit:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(record.pid, signal.SIGTERM)
        time.sleep(0.2)
    for _name, (host, record) in pending.items():
        progress(f"{host.name} ignored shutdown for {timeout:.0f}s; killing it")
        _kill(record)
        host._run_file.unlink(missing_ok=True)


def _kill(record: Running) -> None:
    # Killing the container's PID 1 takes its whole PID namespace with it; nspawn then exits.
    for pid in (record.leader, record.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if record.unit:
        run("systemctl", "kill", "--signal=SIGKILL", record.unit, check=False)
        run("systemctl", "stop", record.unit, check=False)
    deadline = time.monotonic() + 10
    while processes.start_ticks(record.pid) is not None and time.monotonic() < deadline:
        processes.reap(record.pid)
        time.sleep(0.1)


def stray_nspawns(names: LabNames) -> list[int]:
    """nspawn processes of this platform, recorded or not (e.g. from a crashed `up`)."""
    marker = f"--machine={names.prefix}-"
    return processes.find(lambda argv: argv[0].endswith("systemd-nspawn") and any(a.startswith(marker) for a in argv))


def kill_strays_except(names: LabNames, keep: set[int]) -> None:
    for pid in stray_nspawns(names):
        ticks = processes.start_ticks(pid)
        if pid in keep or ticks is None:
            continue
        children = processes.children(pid)
        _kill(Running(pid=pid, start_ticks=ticks, leader=children[0] if children else pid, unit=None))
    if systemd_is_init() and not keep:
        units = run(
            "systemctl", "list-units", "--all", "--plain", "--no-legend", f"{names.prefix}-*", check=False
        ).stdout.split("\n")
        for line in units:
            if line.strip():
                unit = line.split()[0]
                run("systemctl", "stop", unit, check=False)
                run("systemctl", "reset-failed", unit, check=False)


def ssh_reachable(address: str, port: int = 22, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            # sshd accepting the TCP connection is not enough; wait for its banner.
            conn.settimeout(timeout)
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def wait_reachable(hosts: list[LabHost], progress: Progress, timeout: float = BOOT_TIMEOUT_S) -> None:
    pending = {h.name: h for h in hosts}
    started = time.monotonic()
    last_report = started
    while pending:
        for name, host in list(pending.items()):
            if ssh_reachable(host.address, timeout=0.5):
                progress(f"{name} is up (ssh at {host.address}) after {time.monotonic() - started:.1f}s")
                del pending[name]
            elif running(host) is None:
                raise HostStopped(name, host.directory / "console.log")
        elapsed = time.monotonic() - started
        if pending and elapsed > timeout:
            raise HostError(f"no SSH after {timeout:.0f}s from: {', '.join(sorted(pending))}")
        if pending and time.monotonic() - last_report > 5:
            last_report = time.monotonic()
            progress(f"waiting for SSH on {', '.join(sorted(pending))} ({elapsed:.0f}s)")
        if pending:
            time.sleep(0.3)


def remove_runtime_leftovers(names: LabNames) -> None:
    """nspawn keeps a per-machine directory in /run; it can outlive a killed container."""
    for base in ("/run/systemd/nspawn/propagate", "/run/systemd/nspawn/unix-export"):
        for path in Path(base).glob(f"{names.prefix}-*"):
            run("umount", "-R", "-l", str(path), check=False)
            shutil.rmtree(path, ignore_errors=True)
