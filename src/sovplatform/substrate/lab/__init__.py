"""The lab substrate: every site, host and WAN link of a platform, emulated on one Linux machine.

``LabSubstrate(spec, state_dir, cache_dir)`` is the whole API. ``up`` returns the same host
contract every substrate returns (name, site, address, ssh_user, ssh_port, ssh_key); the pieces
live in image.py (golden image), network.py (bridges, router, partitions), delay.py (the WAN
delay daemon), hosts.py (nspawn machines), processes.py and names.py (kernel object names).

``up`` is idempotent: a consistent running lab is left alone (nothing restarted); an inconsistent
network (leftovers of a dead session, a dead delay daemon) is torn down by prefix and rebuilt, and
running hosts are re-plugged into it without a reboot; stopped hosts are booted; a changed spec
rebuilds everything.

State dir layout: ``lab.json`` (what is up, for which spec), ``spec.json``, ``wan.json``,
``delay.json``, ``delay.log``, ``ssh/id_ed25519`` (the platform's key),
``hosts/<name>/{root,disks,console.log,run.json}``.
``down`` removes the hosts' roots and disks too, keeping only the SSH key; the image stays cached.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sovplatform.substrate.lab import hosts as hostlib
from sovplatform.substrate.lab import kubelet
from sovplatform.substrate.lab.commands import run
from sovplatform.substrate.lab.hosts import Interface, LabHost
from sovplatform.substrate.lab.image import ensure_image
from sovplatform.substrate.lab.names import LabNames
from sovplatform.substrate.lab.network import LabNetwork
from sovplatform.substrate.lab.precheck import PrecheckFailed, check
from sovplatform.substrate.lab.specfile import spec_hash, spec_to_dict
from sovplatform.substrate.spec import LabSpec

__all__ = ["LabSubstrate", "PrecheckFailed"]

Progress = Callable[[str], None]

POWER_ACTIONS = ("on", "off", "cycle")

# Kernel object names derive from the platform name alone (so leftovers stay recognisable after
# a crash); this marker records which state dir owns them, so a second checkout of the same
# platform is refused instead of tearing the first one's lab down as "leftovers".
OWNER_DIR = Path("/run/sovplatform")


class LabBusy(RuntimeError):
    """The platform's lab is up from another state dir."""


def _quiet(_message: str) -> None:
    pass


class LabSubstrate:
    def __init__(self, spec: LabSpec, state_dir: Path, cache_dir: Path) -> None:
        self.spec = spec
        self.state_dir = Path(state_dir).absolute()
        self.cache_dir = Path(cache_dir).absolute()
        self.names = LabNames(spec.platform)
        self.network = LabNetwork(spec, self.names, self.state_dir)
        self.hosts = self._plan_hosts()

    # ---- derived layout -------------------------------------------------------------------

    @property
    def ssh_key(self) -> Path:
        return self.state_dir / "ssh" / "id_ed25519"

    @property
    def controller_address(self) -> str:
        """Where hosts reach the controller (root namespace), e.g. for a mirror served there."""
        return self.network.controller_address

    @property
    def _state_file(self) -> Path:
        return self.state_dir / "lab.json"

    def _plan_hosts(self) -> list[LabHost]:
        planned: list[LabHost] = []
        for index, spec in enumerate(self.spec.hosts):
            mgmt = self.network.attachment(spec.site, "m")
            interfaces = [
                Interface(
                    "mgmt0",
                    self.names.host_port(index, "m"),
                    mgmt.bridge,
                    spec.management_address,
                    mgmt.prefixlen,
                    mgmt.gateway,
                )
            ]
            if spec.storage_address:
                site = self.network.site(spec.site)
                storage = self.network.attachment(spec.site, "s")
                # Storage traffic to other sites must leave by the storage interface, not the default route.
                remote = tuple(
                    (other.storage_cidr, storage.gateway)
                    for other in self.spec.sites
                    if other.name != site.name and other.storage_cidr
                )
                interfaces.append(
                    Interface(
                        "stor0",
                        self.names.host_port(index, "s"),
                        storage.bridge,
                        spec.storage_address,
                        storage.prefixlen,
                        None,
                        remote,
                    )
                )
            planned.append(
                LabHost(
                    spec.name,
                    spec.site,
                    self.names.machine(spec.name),
                    self.state_dir / "hosts" / spec.name,
                    tuple(interfaces),
                    spec.disks_gb,
                    spec.roles,
                )
            )
        kms = self.spec.customer_kms
        if kms is not None:
            ext = self.network.attachment(None, "x")
            iface = Interface(
                "ext0",
                self.names.host_port(len(self.spec.hosts), "x"),
                ext.bridge,
                kms.address,
                ext.prefixlen,
                ext.gateway,
            )
            planned.append(
                LabHost(
                    kms.name,
                    None,
                    self.names.machine(kms.name),
                    self.state_dir / "hosts" / kms.name,
                    (iface,),
                    (),
                    ("customer_kms",),
                )
            )
        return planned

    def _select(self, host: str | None, site: str | None) -> list[LabHost]:
        chosen = [h for h in self.hosts if (host is None or h.name == host) and (site is None or h.site == site)]
        if not chosen:
            raise ValueError(f"no lab host matches host={host!r} site={site!r}")
        return chosen

    def contract(self) -> list[dict[str, object]]:
        storage = {h.name: h.storage_address for h in self.spec.hosts}
        return [
            {
                "name": h.name,
                "site": h.site,
                "address": h.address,
                "storage_address": storage.get(h.name),
                "ssh_user": self.spec.ssh_user,
                "ssh_port": 22,
                "ssh_key": str(self.ssh_key),
                "roles": list(h.roles),
                "disks": [f"{hostlib.DISK_MOUNT}/{p.name}" for p in h.disk_paths()],
            }
            for h in self.hosts
        ]

    # ---- lifecycle ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _recorded_spec_hash(self) -> str | None:
        try:
            return json.loads(self._state_file.read_text()).get("spec_hash")
        except (OSError, ValueError):
            return None

    @property
    def _owner_file(self) -> Path:
        return OWNER_DIR / f"{self.names.prefix}.owner"

    def _check_owner(self, say: Progress = _quiet) -> None:
        try:
            owner = Path(self._owner_file.read_text().strip())
        except OSError:
            return
        if owner == self.state_dir or not (owner / "lab.json").exists():
            return
        # A run killed outright (SIGKILL, a CI job timeout) leaves its claim behind; with none of
        # the platform's hosts running there is nothing left to protect, so the claim is taken over.
        if not hostlib.stray_nspawns(self.names):
            say(f"taking over platform {self.spec.platform}'s abandoned lab from {owner} (no host of it is running)")
            return
        raise LabBusy(
            f"platform {self.spec.platform}'s lab is up from another state dir ({owner}); "
            f"run down with SOVPLATFORM_STATE_DIR={owner.parent.parent} first"
        )

    def _claim(self) -> None:
        OWNER_DIR.mkdir(parents=True, exist_ok=True)
        self._owner_file.write_text(f"{self.state_dir}\n")

    def up(self, progress: Progress | None = None) -> list[dict[str, object]]:
        say = progress or _quiet
        check(self.state_dir, self.cache_dir)
        self._check_owner(say)
        with self._locked():
            self._claim()
            self._ensure_ssh_key()
            image = ensure_image(self.cache_dir, self.spec.suite, say)
            if self._recorded_spec_hash() not in (None, spec_hash(self.spec)):
                say("the lab spec changed since the last up: rebuilding hosts and network")
                self._teardown(say, remove_hosts=True)
            problems = self.network.problems()
            if problems:
                if self.network.exists() or any(self.names.owns(n) for n in _root_links()):
                    say(f"clearing inconsistent lab network ({problems[0]})")
                self.network.destroy()
                say("creating bridges, router and WAN emulation")
                self.network.ensure()
            missing = [h.name for h in self.hosts if not h.root.is_dir()]
            if missing:
                say(f"creating roots from the golden image: {', '.join(missing)}")
            # Copies are I/O bound; two at a time overlaps them without starving a 2-core machine.
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(lambda h: hostlib.prepare(h, image, self._public_key()), self.hosts))
            # Any nspawn of ours that is not one of the planned, recorded hosts is a leftover.
            recorded = {r.pid for h in self.hosts if (r := hostlib.running(h))}
            strays = [pid for pid in hostlib.stray_nspawns(self.names) if pid not in recorded]
            if strays:
                say(f"stopping {len(strays)} stray nspawn process(es) of this platform")
                hostlib.kill_strays_except(self.names, recorded)
            self._boot(self.hosts, say)
            self._state_file.write_text(json.dumps({"platform": self.spec.platform, "spec_hash": spec_hash(self.spec)}))
            (self.state_dir / "spec.json").write_text(json.dumps(spec_to_dict(self.spec), indent=2))
            return self.contract()

    def _boot(self, chosen: list[LabHost], say: Progress, retries: int = 1) -> None:
        """Start the chosen hosts that are not running and plug any missing network ports.

        A container that exits during boot (seen once on a machine at load 12) is booted again,
        once; its console log is kept beside the state dir for the post-mortem.
        """
        if any(host.runs_kubelet for host in chosen):
            kubelet.apply_kernel_settings(say)
        for host in chosen:
            record = hostlib.running(host)
            fresh = record is None
            if record is None:
                say(f"{host.name}: booting")
                record = hostlib.start(host)
            for iface in host.interfaces:
                # A host that has just booted has no port yet: one that is still there belongs to
                # its previous run, whose namespace a loaded kernel tears down late, taking the port
                # with it then. plug() replaces it with one into the new namespace.
                if fresh or not self.network.port_present(iface.port):
                    self.network.plug(record.leader, iface.inner, iface.port, iface.bridge)
        try:
            hostlib.wait_reachable(chosen, say)
        except hostlib.HostStopped as stopped:
            kept = self.state_dir / "failed-boots" / f"{stopped.host}-{int(time.time())}.log"
            kept.parent.mkdir(parents=True, exist_ok=True)
            if stopped.log.exists():
                shutil.copyfile(stopped.log, kept)
            if retries <= 0:
                raise hostlib.HostError(f"{stopped.host} stopped while booting twice; console log: {kept}") from None
            say(f"{stopped.host} stopped while booting (console log kept at {kept}); booting it again")
            self._boot(chosen, say, retries - 1)

    def down(self, progress: Progress | None = None) -> None:
        say = progress or _quiet
        self._check_owner(say)
        with self._locked():
            self._teardown(say, remove_hosts=True)
            for name in ("lab.json", "spec.json", "wan.json", "delay.json"):
                (self.state_dir / name).unlink(missing_ok=True)
            self._owner_file.unlink(missing_ok=True)
            say("lab is down")

    def _teardown(self, say: Progress, remove_hosts: bool) -> None:
        hostlib.stop_many(self.hosts, say)
        hostlib.kill_strays_except(self.names, set())
        self.network.destroy()
        hostlib.remove_runtime_leftovers(self.names)
        if remove_hosts:
            hosts_dir = self.state_dir / "hosts"
            if hosts_dir.exists():
                say("removing host roots and disks")
                shutil.rmtree(hosts_dir)

    def status(self) -> dict[str, object]:
        hosts = []
        for host in self.hosts:
            record = hostlib.running(host)
            hosts.append(
                {
                    "name": host.name,
                    "site": host.site,
                    "address": host.address,
                    "running": record is not None,
                    "reachable": record is not None and hostlib.ssh_reachable(host.address),
                }
            )
        problems = self.network.problems()
        partitioned = [] if problems else [s.name for s in self.spec.sites if self.network.is_partitioned(s.name)]
        return {"platform": self.spec.platform, "network": problems or "ok", "partitioned": partitioned, "hosts": hosts}

    def power(
        self, action: str, host: str | None = None, site: str | None = None, progress: Progress | None = None
    ) -> list[str]:
        if action not in POWER_ACTIONS:
            raise ValueError(f"power action must be one of {', '.join(POWER_ACTIONS)}")
        say = progress or _quiet
        chosen = self._select(host, site)
        with self._locked():
            if action in ("off", "cycle"):
                hostlib.stop_many(chosen, say)
            if action in ("on", "cycle"):
                self._boot(chosen, say)
        return [h.name for h in chosen]

    def partition(self, site: str) -> None:
        with self._locked():
            self.network.partition(site)

    def heal(self) -> None:
        with self._locked():
            self.network.heal()

    # ---- keys -----------------------------------------------------------------------------

    def _ensure_ssh_key(self) -> None:
        if self.ssh_key.exists():
            return
        self.ssh_key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        run(
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            f"sovplatform-{self.spec.platform}",
            "-f",
            str(self.ssh_key),
        )
        self.ssh_key.chmod(0o600)

    def _public_key(self) -> str:
        return self.ssh_key.with_suffix(".pub").read_text()


def _root_links() -> list[str]:
    return [
        line.split(":")[1].strip().split("@")[0]
        for line in run("ip", "-o", "link", "show").stdout.splitlines()
        if ":" in line
    ]
