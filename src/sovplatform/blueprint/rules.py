"""Topology rules: a blueprint is refused unless the platform it describes survives the loss
of any one site. Each rule returns problems naming the path that holds the fault."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network, ip_address
from urllib.parse import urlsplit

from sovplatform.blueprint.catalogue import deliverable
from sovplatform.blueprint.models import Blueprint
from sovplatform.blueprint.openpgp import inspect_key
from sovplatform.blueprint.problems import Problem
from sovplatform.blueprint.suites import SUITES, packaged_mismatches
from sovplatform.blueprint.topology import NEARFULL_RATIO, capacity_after_loss, osd_sites, quorum_facts
from sovplatform.plan.catalog import known_versions
from sovplatform.plan.kube_catalog import KUBERNETES_STACK

Rule = Callable[[Blueprint], list[Problem]]


def _host_path(si: int, hi: int, leaf: str = "") -> str:
    return f"sites[{si}].hosts[{hi}]" + (f".{leaf}" if leaf else "")


def rule_sites(bp: Blueprint) -> list[Problem]:
    out: list[Problem] = []
    if len(bp.sites) < 3:
        out.append(
            Problem("sites", f"{len(bp.sites)} site(s) given; at least 3 are needed so that any one can be lost")
        )
    seen: dict[str, int] = {}
    for si, site in enumerate(bp.sites):
        if site.name in seen:
            out.append(
                Problem(f"sites[{si}].name", f"duplicate site name {site.name!r} (also sites[{seen[site.name]}])")
            )
        seen.setdefault(site.name, si)
    hosts: dict[str, str] = {}
    for si, hi, _site, host in bp.hosts():
        path = _host_path(si, hi, "name")
        if host.name in hosts:
            out.append(Problem(path, f"duplicate host name {host.name!r} (also {hosts[host.name]})"))
        elif host.name in seen:
            out.append(Problem(path, f"host name {host.name!r} is also a site name"))
        hosts.setdefault(host.name, path)
        dup_roles = [r for r, n in Counter(host.roles).items() if n > 1]
        if dup_roles:
            out.append(Problem(_host_path(si, hi, "roles"), f"role(s) listed twice: {', '.join(dup_roles)}"))
    return out


def rule_links(bp: Blueprint) -> list[Problem]:
    out: list[Problem] = []
    names = [s.name for s in bp.sites]
    for si, site in enumerate(bp.sites):
        for peer, link in site.links.items():
            path = f"sites[{si}].links.{peer}"
            if peer == site.name:
                out.append(Problem(path, "a site has no link to itself"))
            elif peer not in names:
                out.append(Problem(path, f"unknown site {peer!r}; sites are {', '.join(names)}"))
            else:
                other = next(s for s in bp.sites if s.name == peer)
                back = other.links.get(site.name)
                if back is not None and back != link and names.index(peer) > si:
                    out.append(Problem(path, f"declared differently on both sides ({link} vs {back}); declare it once"))
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if a != b and bp.link(a, b) is None:
                out.append(Problem(f"sites[{i}].links", f"no link to site {b!r}; declare it on either site"))
    return out


def rule_quorums(bp: Blueprint) -> list[Problem]:
    out: list[Problem] = []
    host_site = bp.host_site()
    roles = {h.name: h.roles for _, _, _, h in bp.hosts()}
    site_names = [s.name for s in bp.sites]
    explicit = {
        "ceph_mon": ("ceph.monitors", bp.ceph.monitors, "storage"),
        "openbao": ("openbao.voters", bp.openbao.voters, "kms"),
    }
    for key, (path, given, role) in explicit.items():
        if given is None:
            continue
        for i, name in enumerate(given):
            if name not in host_site:
                out.append(Problem(f"{path}[{i}]", f"unknown host {name!r}"))
            elif role and role not in roles[name]:
                out.append(Problem(f"{path}[{i}]", f"host {name!r} lacks the {role!r} role it needs to run this"))
        dups = sorted(n for n, c in Counter(given).items() if c > 1)
        if dups:
            out.append(Problem(path, f"listed twice: {', '.join(dups)}"))
        del key
    labels = {
        "etcd": ("etcd members", "hosts with role etcd"),
        "ceph_mon": ("Ceph monitors", "ceph.monitors, default: the first storage host of every site"),
        "openbao": ("OpenBao voters", "openbao.voters, default: hosts with role kms"),
    }
    where = {"etcd": "etcd", "ceph_mon": "ceph.monitors", "openbao": "openbao.voters"}
    for key, members in bp.quorums().items():
        what, source = labels[key]
        members = [m for m in dict.fromkeys(members) if m in host_site]
        if len(members) < 3 or len(members) % 2 == 0:
            out.append(
                Problem(where[key], f"{len(members)} {what} ({source}); a quorum needs an odd number, at least 3")
            )
            continue
        facts = quorum_facts(members, host_site, site_names)
        for si, site in enumerate(bp.sites):
            n = facts.members_per_site[site.name]
            if 2 * n >= len(members):
                out.append(
                    Problem(
                        f"sites[{si}]",
                        f"holds {n} of {len(members)} {what}; losing this site would lose the quorum "
                        f"(each site must hold fewer than half)",
                    )
                )
    return out


def rule_pools(bp: Blueprint) -> list[Problem]:
    out: list[Problem] = []
    sites_with_osds = osd_sites(bp)
    names: dict[str, int] = {}
    for pi, pool in enumerate(bp.ceph.pools):
        path = f"ceph.pools[{pi}]"
        if pool.name in names:
            out.append(Problem(f"{path}.name", f"duplicate pool name {pool.name!r}"))
        names.setdefault(pool.name, pi)
        if pool.min_size < 2:
            out.append(
                Problem(
                    f"{path}.min_size", f"min_size {pool.min_size} accepts writes held by a single copy; use 2 or more"
                )
            )
        if pool.min_size > pool.size:
            out.append(Problem(f"{path}.min_size", f"min_size {pool.min_size} exceeds size {pool.size}"))
        if pool.pg_num & (pool.pg_num - 1):
            out.append(Problem(f"{path}.pg_num", f"{pool.pg_num} is not a power of two"))
        if pool.failure_domain != "datacenter":
            out.append(
                Problem(
                    f"{path}.failure_domain",
                    f"{pool.failure_domain!r} lets every copy land in one site, which losing that site would lose; "
                    "use 'datacenter'",
                )
            )
            continue
        if len(sites_with_osds) < pool.size:
            out.append(
                Problem(
                    f"{path}.size",
                    f"size {pool.size} with failure domain datacenter needs {pool.size} sites with OSD hosts; "
                    f"found {len(sites_with_osds)}",
                )
            )
        elif pool.size - 1 < pool.min_size:
            out.append(
                Problem(
                    f"{path}.size",
                    f"size {pool.size} / min_size {pool.min_size}: after losing one site only {pool.size - 1} "
                    "copy/copies remain and I/O would stop; size must exceed min_size",
                )
            )
    return out


def rule_capacity(bp: Blueprint) -> list[Problem]:
    out: list[Problem] = []
    for si, hi, _site, host in bp.hosts():
        if "storage" in host.roles and not host.disks:
            out.append(Problem(_host_path(si, hi, "disks"), "a storage host needs at least one data disk"))
    if out:
        return out
    pct = int(NEARFULL_RATIO * 100)
    usable, need = capacity_after_loss(bp, None)
    if usable < need:
        out.append(
            Problem(
                "ceph.pools",
                f"the healthy platform can hold {usable:.1f} GB of copies ({pct} % of raw, at most one copy of the "
                f"data per site) but the pools need {need:.1f} GB at full size",
            )
        )
    worst = None
    for site in bp.sites:
        usable, need = capacity_after_loss(bp, site.name)
        if usable < need and (worst is None or usable - need < worst[1] - worst[2]):
            worst = (site.name, usable, need)
    if worst:
        out.append(
            Problem(
                "ceph.pools",
                f"after losing site {worst[0]!r} the remaining sites can hold {worst[1]:.1f} GB of copies "
                f"({pct} % of raw, at most one copy of the data per site) but the pools need {worst[2]:.1f} GB "
                "at min_size",
            )
        )
    return out


def _networks(bp: Blueprint) -> list[tuple[str, IPv4Network]]:
    out = []
    for si, site in enumerate(bp.sites):
        out.append((f"sites[{si}].networks.management.cidr", site.networks.management.cidr))
        if site.networks.storage:
            out.append((f"sites[{si}].networks.storage.cidr", site.networks.storage.cidr))
    return out


def _check_address(path: str, addr: IPv4Address, net: IPv4Network, gateway: IPv4Address) -> list[Problem]:
    if addr not in net:
        return [Problem(path, f"{addr} is outside the site's network {net}")]
    if net.prefixlen < 31 and addr in (net.network_address, net.broadcast_address):
        return [Problem(path, f"{addr} is the network or broadcast address of {net}")]
    if addr == gateway:
        return [Problem(path, f"{addr} is the network's gateway")]
    return []


def gateway_of(net: IPv4Network, given: IPv4Address | None) -> IPv4Address:
    if given is not None:
        return given
    # a /31 or /32 (refused as too small) has no "first usable" address to default to
    return net.network_address + 1 if net.num_addresses > 2 else net.network_address


def rule_networks(bp: Blueprint) -> list[Problem]:
    out: list[Problem] = []
    nets = _networks(bp)
    for i, (pa, a) in enumerate(nets):
        if a.prefixlen > 30:
            out.append(Problem(pa, f"{a} is too small for hosts and a gateway"))
        for pb, b in nets[:i]:
            if a.overlaps(b):
                out.append(Problem(pa, f"{a} overlaps {b} ({pb})"))
    used: dict[IPv4Address, str] = {}
    for si, site in enumerate(bp.sites):
        for kind in ("management", "storage"):
            net = getattr(site.networks, kind)
            if net is None:
                continue
            if net.cidr.prefixlen > 30:
                continue  # reported above as too small; it has no room for a gateway
            gw = gateway_of(net.cidr, net.gateway)
            if gw not in net.cidr:
                out.append(Problem(f"sites[{si}].networks.{kind}.gateway", f"{gw} is outside {net.cidr}"))
            elif gw in (net.cidr.network_address, net.cidr.broadcast_address):
                out.append(Problem(f"sites[{si}].networks.{kind}.gateway", f"{gw} is the network or broadcast address"))
        for hi, host in enumerate(site.hosts):
            mgmt = site.networks.management
            path = _host_path(si, hi, "addresses.management")
            out += _check_address(path, host.addresses.management, mgmt.cidr, gateway_of(mgmt.cidr, mgmt.gateway))
            for addr, p in ((host.addresses.management, path),):
                if addr in used:
                    out.append(Problem(p, f"{addr} is also used by {used[addr]}"))
                used.setdefault(addr, p)
            spath = _host_path(si, hi, "addresses.storage")
            storage = site.networks.storage
            if storage is None:
                if host.addresses.storage is not None:
                    out.append(Problem(spath, "the site has no storage network (sites[].networks.storage)"))
            elif host.addresses.storage is None:
                if "storage" in host.roles:
                    out.append(Problem(spath, "a storage host needs an address on the site's storage network"))
            else:
                out += _check_address(
                    spath, host.addresses.storage, storage.cidr, gateway_of(storage.cidr, storage.gateway)
                )
                if host.addresses.storage in used:
                    out.append(
                        Problem(spath, f"{host.addresses.storage} is also used by {used[host.addresses.storage]}")
                    )
                used.setdefault(host.addresses.storage, spath)
            if host.bmc is not None:
                bpath = _host_path(si, hi, "bmc.address")
                if host.bmc.address in used:
                    out.append(Problem(bpath, f"{host.bmc.address} is also used by {used[host.bmc.address]}"))
                used.setdefault(host.bmc.address, bpath)
    return out


def rule_haven(bp: Blueprint) -> list[Problem]:
    out: list[Problem] = []
    for role, label in (("control", "control-plane"), ("compute", "worker")):
        hosts = bp.hosts_with_role(role)
        if len(hosts) < 3:
            out.append(Problem("sites", f"{len(hosts)} {label} host(s) (role {role}); at least 3 are needed"))
    for role in ("control", "compute", "gateway"):
        sites = {s.name for _, _, s, h in bp.hosts() if role in h.roles}
        if len(sites) < 2:
            out.append(
                Problem(
                    "sites",
                    f"role {role!r} is present in {len(sites)} site(s); it must span at least 2 to survive a site loss",
                )
            )
    return out


def rule_customer_kms(bp: Blueprint) -> list[Problem]:
    out: list[Problem] = []
    kms = bp.customer_kms
    host = _hostname(kms.endpoint) or ""
    path = "customer_kms.endpoint"
    platform_hosts = {h.name for _, _, _, h in bp.hosts()} | {s.name for s in bp.sites}
    try:
        addr = ip_address(host)
    except ValueError:
        addr = None
        first = host.split(".")[0].lower()
        if first in platform_hosts:
            out.append(
                Problem(path, f"{host!r} names a platform host; the customer's KMS must live outside the platform")
            )
    port = _port(kms.endpoint)
    if port is not None and not 1 <= port <= 65535:
        out.append(Problem(path, f"port {port} is out of range 1-65535"))
    if addr is not None and (addr.is_loopback or addr.is_link_local or addr.is_multicast or addr.is_unspecified):
        out.append(Problem(path, f"{addr} is not a routable address of the customer's premises"))
        return out
    if addr is not None:
        for npath, net in _networks(bp):
            if addr in net:
                out.append(
                    Problem(
                        path,
                        f"{addr} lies inside the platform network {net} ({npath}); "
                        "the customer's KMS must be outside it",
                    )
                )
        for si, hi, _s, h in bp.hosts():
            if addr in (h.addresses.management, h.addresses.storage) or (h.bmc and addr == h.bmc.address):
                out.append(Problem(path, f"{addr} is an address of platform host {h.name!r} ({_host_path(si, hi)})"))
    if len(kms.custodians) > 1 and kms.recovery_threshold < 2:
        out.append(
            Problem(
                "customer_kms.recovery_threshold",
                f"{kms.recovery_threshold} would let a single custodian recover the platform alone "
                "(and OpenBao refuses a threshold of 1 for several shares); use 2 or more",
            )
        )
    if kms.recovery_threshold > len(kms.custodians):
        out.append(
            Problem(
                "customer_kms.recovery_threshold",
                f"{kms.recovery_threshold} exceeds the {len(kms.custodians)} custodian(s)",
            )
        )
    seen: set[str] = set()
    holders: dict[str, int] = {}
    for ci, cust in enumerate(kms.custodians):
        if cust.name in seen:
            out.append(Problem(f"customer_kms.custodians[{ci}].name", f"duplicate custodian {cust.name!r}"))
        seen.add(cust.name)
        path = f"customer_kms.custodians[{ci}].pgp_public_key"
        facts = inspect_key(cust.pgp_public_key)
        out.extend(Problem(path, message) for message in facts.problems)
        if facts.fingerprint is None:
            continue
        if facts.fingerprint in holders:
            first = holders[facts.fingerprint]
            out.append(
                Problem(
                    path,
                    f"the same key as customer_kms.custodians[{first}] (fingerprint {facts.fingerprint}); "
                    "each custodian needs their own, or one person holds two shares",
                )
            )
        holders.setdefault(facts.fingerprint, ci)
    return out


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None


def _port(url: str) -> int | None:
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return None
    if ":" in netloc.rsplit("]", 1)[-1]:
        try:
            return int(netloc.rsplit(":", 1)[1])
        except ValueError:
            return None
    return None


def rule_substrate(bp: Blueprint) -> list[Problem]:
    out: list[Problem] = []
    if bp.substrate.kind == "lab":
        host = _hostname(bp.customer_kms.endpoint) or ""
        try:
            addr = ip_address(host)
        except ValueError:
            addr = None
        if addr is None or addr.version != 4:
            out.append(
                Problem(
                    "customer_kms.endpoint",
                    "the lab builds the customer's KMS host itself and needs an IPv4 address here, not a name",
                )
            )
        elif not addr.is_loopback and addr == IPv4Network(f"{addr}/24", strict=False).network_address + 1:
            out.append(Problem("customer_kms.endpoint", f"{addr} is the lab router's address on that /24; use another"))
    if bp.substrate.kind == "baremetal":
        for si, hi, _s, host in bp.hosts():
            if host.bmc is None:
                out.append(
                    Problem(_host_path(si, hi, "bmc"), "bare metal hosts need a BMC (power control and fencing)")
                )
            for di, disk in enumerate(host.disks):
                if disk.device is None:
                    out.append(
                        Problem(_host_path(si, hi, f"disks[{di}].device"), "bare metal disks need a device path")
                    )
    return out


def rule_versions(bp: Blueprint) -> list[Problem]:
    out: list[Problem] = []
    pins = {"ceph": bp.versions.ceph, "haproxy": bp.versions.haproxy}
    release = SUITES[bp.versions.debian].release
    for key, pinned, packaged in packaged_mismatches(bp.versions.debian, pins):
        out.append(
            Problem(
                f"versions.{key}",
                f"{pinned} is not what Debian {release} ({bp.versions.debian}) packages: it delivers {packaged}",
            )
        )
    etcds = deliverable("etcd", bp.versions.debian)
    if bp.versions.etcd not in etcds:
        out.append(
            Problem(
                "versions.etcd",
                f"{bp.versions.etcd} is not an etcd the artefact catalogue builds (known: {', '.join(etcds)}); "
                "kubeadm needs 3.5.24 or newer as its external etcd",
            )
        )
    known = known_versions("openbao")
    if bp.versions.openbao not in known:
        out.append(
            Problem(
                "versions.openbao",
                f"{bp.versions.openbao} has no pinned checksum in the artefact catalogue (known: {', '.join(known)})",
            )
        )
    # Only a layer that is to be deployed needs its release catalogued; a left-out one is reported.
    if bp.kubernetes.enabled and bp.versions.kubernetes not in KUBERNETES_STACK:
        out.append(
            Problem(
                "versions.kubernetes",
                f"{bp.versions.kubernetes} is not in the artefact catalogue, which kubernetes.enabled needs "
                f"(known: {', '.join(sorted(KUBERNETES_STACK))})",
            )
        )
    built = KUBERNETES_STACK.get(bp.versions.kubernetes)
    # The runtime is built with its Kubernetes release; a different pin would never reach a host.
    if built is not None and bp.versions.containerd != built.containerd:
        out.append(
            Problem(
                "versions.containerd",
                f"{bp.versions.containerd} is not the containerd built with Kubernetes {built.kubernetes} "
                f"(the artefact catalogue pairs it with {built.containerd})",
            )
        )
    runtimes = deliverable("containerd", bp.versions.debian)
    if built is None and bp.versions.containerd not in runtimes:
        out.append(
            Problem(
                "versions.containerd",
                f"{bp.versions.containerd} is not a containerd the artefact catalogue builds "
                f"(known: {', '.join(runtimes)})",
            )
        )
    if bp.kubernetes.enabled:
        for key in ("kubevirt", "cdi", "ceph_csi"):
            pinned = getattr(bp.versions, key)
            known = deliverable(key, bp.versions.debian)
            if pinned not in known:
                out.append(
                    Problem(
                        f"versions.{key}",
                        f"{pinned} is not in the artefact catalogue, which kubernetes.enabled needs "
                        f"(known: {', '.join(known)})",
                    )
                )
    return out


RULES: tuple[Rule, ...] = (
    rule_sites,
    rule_links,
    rule_quorums,
    rule_pools,
    rule_capacity,
    rule_networks,
    rule_haven,
    rule_customer_kms,
    rule_substrate,
    rule_versions,
)


def check_topology(bp: Blueprint) -> list[Problem]:
    problems: list[Problem] = []
    for rule in RULES:
        problems.extend(rule(bp))
    return problems
