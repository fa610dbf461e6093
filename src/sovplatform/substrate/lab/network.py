"""The lab's layer 2 and 3: per-site bridges, one router joining the sites, and WAN behaviour.

Layout (all kernel objects carry the platform prefix from names.py):

* One network namespace, ``<prefix>-router``, holds everything: a bridge per site for management
  (``<prefix>m<i>``), a second bridge per site for storage when the site has a storage network
  (``<prefix>s<i>``), and one for the customer's KMS network (``<prefix>x``). The router owns each
  bridge's gateway address and forwards between them. Keeping the bridges inside the router's
  namespace leaves the root namespace almost untouched, and deleting that one namespace removes
  every bridge and host port at once, which is what makes stale-leftover cleanup reliable.
* Each host gets a veth pair per network created straight between its container's namespace
  (``mgmt0``/``stor0`` inside) and the router namespace (``<prefix>h<n>m``/``s``), enslaved to the
  site's bridge. It never exists in the root namespace, and dies with the container.
* The controller (root namespace, where Python runs) reaches the lab over one veth pair,
  ``<prefix>ctl`` <-> ``<prefix>rtr``, addressed from a /30 in 100.64.0.0/10 chosen by the prefix,
  with a root-namespace route per lab network via the router. Hosts reach the controller at
  ``controller_address`` (e.g. for an apt mirror served from the root namespace).
* WAN behaviour: the router's iptables FORWARD chain sends each directed site pair's traffic
  (management and storage networks alike) to an NFQUEUE numbered for that pair, and a small daemon
  in the router namespace (delay.py) releases each packet after half the link's RTT, with jitter
  and loss, so both directions together give the configured RTT and every pair can differ. This
  replaces ``tc netem`` because the dev machines' kernel is built without sch_netem (and without
  sch_prio); NFQUEUE is present there and in Debian's stock kernels. Traffic within a site is
  bridged, never routed, so it sees no delay; nor does the controller's or the KMS network's.
* ``partition(site)`` adds blackhole policy rules in the router between the site's networks and
  every other lab network (other sites and the KMS network). The site keeps running and the
  controller can still reach it, so tests can observe both sides of a split. ``heal`` removes them.

Two platforms can run side by side only with disjoint address plans: the root namespace needs one
route per lab network, and ``ensure`` refuses (with a clear error) a network already routed
elsewhere.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sovplatform.substrate.lab import processes
from sovplatform.substrate.lab.commands import CommandFailed, ok, run
from sovplatform.substrate.lab.names import LabNames
from sovplatform.substrate.spec import LabSpec, LinkSpec, SiteNet

PARTITION_RULE_PREF = 1000
MAX_SITES = 64  # keeps NFQUEUE numbers per directed site pair unique


class NetworkError(RuntimeError):
    pass


@dataclass(frozen=True)
class Attachment:
    """Where one host interface plugs in: the bridge, and the address it configures on itself."""

    bridge: str
    prefixlen: int
    gateway: str


class LabNetwork:
    def __init__(self, spec: LabSpec, names: LabNames, state_dir: Path) -> None:
        self.spec = spec
        self.names = names
        self._wan_file = state_dir / "wan.json"
        self._delay_pid_file = state_dir / "delay.json"
        # A /30 per platform: .1 controller, .2 router. 14 bits of hash fit 100.64.0.0/10 exactly.
        block = int(names.prefix[2:], 16) % (1 << 14)
        base = int(ipaddress.IPv4Address("100.64.0.0")) + block * 4
        self.controller_address = str(ipaddress.IPv4Address(base + 1))
        self.router_transit_address = str(ipaddress.IPv4Address(base + 2))
        if len(spec.sites) > MAX_SITES:
            raise NetworkError(f"the lab supports at most {MAX_SITES} sites")

    # ---- what the spec asks for -------------------------------------------------------------

    def _site_bridges(self, site: SiteNet) -> list[tuple[str, str, str]]:
        """(bridge, cidr, gateway) for each network of one site."""
        bridges = [(self.names.management_bridge(site.index), site.management_cidr, site.management_gateway)]
        if site.storage_cidr and site.storage_gateway:
            bridges.append((self.names.storage_bridge(site.index), site.storage_cidr, site.storage_gateway))
        return bridges

    def _all_bridges(self) -> list[tuple[str, str, str]]:
        bridges = [b for site in self.spec.sites for b in self._site_bridges(site)]
        kms = self.spec.customer_kms
        if kms is not None:
            bridges.append((self.names.external_bridge, kms.cidr, kms.gateway))
        return bridges

    def lab_cidrs(self) -> list[str]:
        return [cidr for _bridge, cidr, _gw in self._all_bridges()]

    def site(self, name: str) -> SiteNet:
        for site in self.spec.sites:
            if site.name == name:
                return site
        raise NetworkError(f"unknown site {name!r}")

    def attachment(self, site_name: str | None, network: str) -> Attachment:
        """network: 'm' management, 's' storage, 'x' the KMS network (site_name None)."""
        if network == "x":
            kms = self.spec.customer_kms
            assert kms is not None
            return Attachment(self.names.external_bridge, _prefixlen(kms.cidr), kms.gateway)
        assert site_name is not None
        site = self.site(site_name)
        if network == "m":
            bridge, cidr, gw = self.names.management_bridge(site.index), site.management_cidr, site.management_gateway
        else:
            if not (site.storage_cidr and site.storage_gateway):
                raise NetworkError(f"site {site.name} has no storage network")
            bridge, cidr, gw = self.names.storage_bridge(site.index), site.storage_cidr, site.storage_gateway
        return Attachment(bridge, _prefixlen(cidr), gw)

    def _link(self, a: str, b: str) -> LinkSpec | None:
        for link in self.spec.links:
            if {link.a, link.b} == {a, b}:
                return link
        return None

    # ---- lifecycle ------------------------------------------------------------------------

    def exists(self) -> bool:
        return Path("/run/netns", self.names.router_netns).exists()

    def problems(self) -> list[str]:
        """Why the running network is not the one the spec asks for; empty means consistent."""
        ns = self.names.router_netns
        if not self.exists():
            return [f"network namespace {ns} missing"]
        found: list[str] = []
        links = _links(None)
        if self.names.controller_link not in links:
            found.append(f"controller link {self.names.controller_link} missing")
        router_links = _links(ns)
        for bridge, cidr, gateway in self._all_bridges():
            if bridge not in router_links:
                found.append(f"bridge {bridge} missing")
            elif f"{gateway}/{_prefixlen(cidr)}" not in router_links[bridge]:
                found.append(f"bridge {bridge} lacks gateway {gateway}")
        for cidr in self.lab_cidrs():
            route = _route_device(cidr)
            if route != self.names.controller_link:
                found.append(f"route to {cidr} is via {route or 'nothing'}")
        if found:
            return found
        try:
            applied = json.loads(self._wan_file.read_text())
        except (OSError, ValueError):
            applied = None
        if applied != self._wan_plan():
            found.append("WAN emulation differs from the spec")
        elif not self._delay_running():
            found.append("WAN delay daemon is not running")
        return found

    def ensure(self) -> None:
        """Build the network from nothing; call destroy() first if problems() is not empty."""
        ns = self.names.router_netns
        for cidr in self.lab_cidrs():
            route = _route_device(cidr)
            if route is not None and not self.names.owns(route):
                raise NetworkError(
                    f"{cidr} is already routed via {route}: another lab or network uses this address plan"
                )
        self._wan_file.unlink(missing_ok=True)
        run("ip", "netns", "add", ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # Router solicitations and DAD on dozens of ports are noise nobody reads.
        for key in ("all", "default"):
            run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1", check=False)
        ctl, rtr = self.names.controller_link, self.names.controller_peer
        run("ip", "link", "add", ctl, "type", "veth", "peer", "name", rtr, "netns", ns)
        run("ip", "addr", "add", f"{self.controller_address}/30", "dev", ctl)
        run("ip", "link", "set", ctl, "up")
        run("ip", "-n", ns, "addr", "add", f"{self.router_transit_address}/30", "dev", rtr)
        run("ip", "-n", ns, "link", "set", rtr, "up")
        for bridge, cidr, gateway in self._all_bridges():
            run("ip", "-n", ns, "link", "add", bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0")
            run("ip", "-n", ns, "addr", "add", f"{gateway}/{_prefixlen(cidr)}", "dev", bridge)
            run("ip", "-n", ns, "link", "set", bridge, "up")
        for cidr in self.lab_cidrs():
            run("ip", "route", "replace", cidr, "via", self.router_transit_address, "dev", ctl)
        self._apply_wan()

    def destroy(self) -> None:
        """Remove everything with this platform's prefix, whether or not it is consistent."""
        self._stop_delay_daemons()
        for link in _links(None):
            if self.names.owns(link):
                run("ip", "link", "del", link, check=False)
        for entry in _netns_names():
            if entry.startswith(self.names.prefix):
                run("ip", "netns", "del", entry, check=False)
                # `ip netns del` fails on a mount that lost its namespace file; unmount by hand.
                path = Path("/run/netns", entry)
                if path.exists():
                    run("umount", "-l", str(path), check=False)
                    path.unlink(missing_ok=True)

    # ---- WAN emulation --------------------------------------------------------------------

    def _wan_plan(self) -> dict[str, object]:
        """iptables rules sending each directed site pair to a queue, and each queue's behaviour."""
        queues: dict[str, dict[str, float]] = {}
        rules: list[list[str]] = []
        for src in self.spec.sites:
            for dest in self.spec.sites:
                link = None if src.name == dest.name else self._link(src.name, dest.name)
                if link is None:
                    continue
                queue = 1 + src.index * MAX_SITES + dest.index
                # Split loss so that losing on either leg of a round trip matches loss_percent.
                one_way_loss = 100 * (1 - math.sqrt(1 - link.loss_percent / 100))
                queues[str(queue)] = {
                    "delay_ms": link.rtt_ms / 2,
                    "jitter_ms": link.jitter_ms / 2,
                    "loss_percent": round(one_way_loss, 4),
                }
                for from_net in (src.management_cidr, src.storage_cidr):
                    for to_net in (dest.management_cidr, dest.storage_cidr):
                        if from_net and to_net:
                            rules.append([from_net, to_net, str(queue)])
        return {"queues": queues, "rules": rules}

    def _delay_record(self) -> dict[str, int] | None:
        try:
            return json.loads(self._delay_pid_file.read_text())
        except (OSError, ValueError):
            return None

    def _delay_running(self) -> bool:
        record = self._delay_record()
        return record is not None and processes.start_ticks(record["pid"]) == record["start_ticks"]

    def _apply_wan(self) -> None:
        ns = self.names.router_netns
        plan = self._wan_plan()
        # Written before the rules exist so the daemon binds its queues before packets arrive.
        self._wan_file.write_text(json.dumps(plan, indent=2, sort_keys=True))
        log = self._wan_file.with_name("delay.log")
        pid = processes.spawn_detached(
            [
                "ip",
                "netns",
                "exec",
                ns,
                sys.executable,
                "-m",
                "sovplatform.substrate.lab.delay",
                "--config",
                str(self._wan_file),
                "--tag",
                self.names.prefix,
            ],
            log,
        )
        ticks = processes.start_ticks(pid)
        if ticks is None:
            raise NetworkError(f"the WAN delay daemon did not start, see {log}")
        self._delay_pid_file.write_text(json.dumps({"pid": pid, "start_ticks": ticks}))
        time.sleep(0.3)  # let it bind its queues; packets queued to an unbound queue are dropped
        for from_net, to_net, queue in plan["rules"]:  # type: ignore[attr-defined]
            run(
                "ip",
                "netns",
                "exec",
                ns,
                "iptables",
                "-w",
                "-A",
                "FORWARD",
                "-s",
                from_net,
                "-d",
                to_net,
                "-j",
                "NFQUEUE",
                "--queue-num",
                queue,
            )

    def _stop_delay_daemons(self) -> None:
        tag = self.names.prefix
        for pid in processes.find(lambda argv: "sovplatform.substrate.lab.delay" in argv and tag in argv):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            processes.reap(pid)
        self._delay_pid_file.unlink(missing_ok=True)

    # ---- partitions -----------------------------------------------------------------------

    def partition(self, site_name: str) -> None:
        site = self.site(site_name)
        own = [net for net in (site.management_cidr, site.storage_cidr) if net]
        others = [cidr for cidr in self.lab_cidrs() if cidr not in own]
        ns = self.names.router_netns
        for mine in own:
            for other in others:
                for src, dst in ((mine, other), (other, mine)):
                    if not self._has_rule(src, dst):
                        run(
                            "ip",
                            "-n",
                            ns,
                            "rule",
                            "add",
                            "pref",
                            str(PARTITION_RULE_PREF),
                            "from",
                            src,
                            "to",
                            dst,
                            "blackhole",
                        )

    def _rules(self) -> list[dict[str, object]]:
        out = run("ip", "-j", "-n", self.names.router_netns, "rule", "show").stdout
        return [r for r in json.loads(out or "[]") if r.get("priority") == PARTITION_RULE_PREF]

    def _has_rule(self, src: str, dst: str) -> bool:
        return any(
            f"{r.get('src')}/{r.get('srclen')}" == src and f"{r.get('dst')}/{r.get('dstlen')}" == dst
            for r in self._rules()
        )

    def is_partitioned(self, site_name: str) -> bool:
        site = self.site(site_name)
        others = [c for c in self.lab_cidrs() if c not in (site.management_cidr, site.storage_cidr)]
        cut = {(f"{r.get('src')}/{r.get('srclen')}", f"{r.get('dst')}/{r.get('dstlen')}") for r in self._rules()}
        return all((site.management_cidr, other) in cut for other in others)

    def heal(self) -> None:
        if not self.exists():
            return
        while True:
            try:
                run("ip", "-n", self.names.router_netns, "rule", "del", "pref", str(PARTITION_RULE_PREF))
            except CommandFailed:
                return

    # ---- host ports -----------------------------------------------------------------------

    def plug(self, container_pid: int, inner_name: str, port: str, bridge: str) -> None:
        """Create a veth straight between a container's namespace and the site bridge."""
        ns = self.names.router_netns
        run("ip", "-n", ns, "link", "del", port, check=False)  # a leftover from a crashed boot
        run(
            "ip",
            "link",
            "add",
            inner_name,
            "netns",
            str(container_pid),
            "type",
            "veth",
            "peer",
            "name",
            port,
            "netns",
            ns,
        )
        run("ip", "-n", ns, "link", "set", port, "master", bridge, "up")

    def port_present(self, port: str) -> bool:
        return ok("ip", "-n", self.names.router_netns, "link", "show", port)


def _prefixlen(cidr: str) -> int:
    return ipaddress.ip_network(cidr, strict=False).prefixlen


def _links(netns: str | None) -> dict[str, list[str]]:
    """Interface name -> its IPv4 addresses with prefix length."""
    argv = ["ip", "-j"] + (["-n", netns] if netns else []) + ["addr", "show"]
    entries = json.loads(run(*argv).stdout or "[]")
    return {
        e["ifname"]: [f"{a['local']}/{a['prefixlen']}" for a in e.get("addr_info", []) if a.get("family") == "inet"]
        for e in entries
    }


def _netns_names() -> list[str]:
    directory = Path("/run/netns")
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def _route_device(cidr: str) -> str | None:
    entries = json.loads(run("ip", "-j", "route", "show", "exact", cidr).stdout or "[]")
    return entries[0].get("dev") if entries else None
