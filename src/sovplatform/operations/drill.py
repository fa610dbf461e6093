"""`drill site-loss`: take a whole site away while writers run, measure, bring it back, prove
that no acknowledged write was lost.

Writers, each logging every acknowledged write (sequence number, wall-clock time):
  etcd     etcdctl on a surviving monitor host, against every member's client URL
  ceph     `rados put` into the rbd pool, on the same host
  s3       PUT through the gateways (controller; TLS verified as s3.<platform>.internal), next
           gateway on failure, as a client configured with every gateway would
  openbao  kv writes through the gateways' OpenBao port with the `volumes` token (controller)
The host-side writers are shell loops (no secret on a command line); the controller-side ones
are threads. In partition mode a prober also writes straight to the cut-off site's etcd member
and OpenBao voter: any write it gets acknowledged is a split-brain write.

RTO per service: from the moment the fault is complete (hosts stopped, or links cut) to the
first acknowledged write after it. The longest gap between two acknowledged writes around the
fault is reported too (`max_gap_seconds`): writers whose endpoint survives ack almost at once,
while the gap shows how long the layer itself stalled (e.g. Ceph waiting to mark OSDs down).
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import shlex
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sovplatform import tlshttp
from sovplatform.checks import etcd as etcd_checks
from sovplatform.checks.ceph import ceph_json
from sovplatform.checks.model import CheckContext
from sovplatform.checks.openbao import BaoClient, platform_ca, voter_url
from sovplatform.checks.s3 import VERIFY_BUCKET, S3Client, ensure_bucket, load_credentials
from sovplatform.engine.lock import PlatformLock
from sovplatform.operations.context import Context
from sovplatform.operations.drain import drained_hosts
from sovplatform.operations.errors import OperationError, Refused
from sovplatform.operations.lab import lab_for, substrate_errors
from sovplatform.operations.openbao import consumer_token
from sovplatform.operations.pki import service_name
from sovplatform.operations.verify import check_context, deployed_layers, verify
from sovplatform.plan.drill import choose_auto_leader_site
from sovplatform.plan.layout import OpsInputError, layout_from_plan
from sovplatform.plan.observed import Leaders

MODES = ("power", "partition")
SERVICES = ("etcd", "ceph", "s3", "openbao")
S3_PORT = 9443
OPENBAO_GATEWAY_PORT = 8210
KV_PREFIX = "kv/data/volumes/sovplatform-drill"
RECOVERY_TIMEOUT_S = 900.0
# Pause between two writes of one writer: enough resolution for RTOs of a second or more,
# without thousands of records to read back.
PACE_S = 0.2


@dataclass
class Acks:
    """Acknowledged writes of one writer: sequence number -> wall-clock time of the ack."""

    times: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seq: int, at: float) -> None:
        with self.lock:
            self.times[seq] = at

    def after(self, moment: float) -> float | None:
        with self.lock:
            later = [t for t in self.times.values() if t >= moment]
        return min(later) if later else None

    def max_gap(self, start: float, end: float) -> float:
        with self.lock:
            stamps = sorted(t for t in self.times.values() if start <= t <= end)
        edges = [start, *stamps, end]
        return max(b - a for a, b in itertools.pairwise(edges))


@dataclass
class DrillResult:
    ok: bool
    mode: str
    site: str
    rto_seconds: dict[str, float | None]
    max_gap_seconds: dict[str, float]
    acknowledged_writes: int
    lost_writes: int
    split_brain_writes: int
    recovery_seconds: float | None
    checks: list[dict[str, Any]]
    target_reason: str
    writes: dict[str, int]
    lost: dict[str, list[int]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "mode": self.mode,
            "site": self.site,
            "rto_seconds": self.rto_seconds,
            "max_gap_seconds": self.max_gap_seconds,
            "acknowledged_writes": self.acknowledged_writes,
            "lost_writes": self.lost_writes,
            "split_brain_writes": self.split_brain_writes,
            "recovery_seconds": self.recovery_seconds,
            "target_reason": self.target_reason,
            "writes": self.writes,
            "lost": {k: v[:20] for k, v in self.lost.items()},
            "checks": self.checks,
        }


# --- probes of who leads ----------------------------------------------------------------------


def observe_leaders(cctx: CheckContext, plan: dict[str, Any]) -> Leaders:
    address_host = {str(h["management_address"]): h["name"] for h in plan["hosts"]}
    mons = list(plan["quorums"]["ceph_mon"]["members"])
    etcd_leader = ceph_leader = None
    for host in mons:
        status = cctx.ssh(host, etcd_checks.etcdctl("endpoint", "status", "--cluster", "-w", "json"), timeout=20)
        try:
            entries = json.loads(status.stdout)
        except ValueError:
            continue
        for entry in entries:
            header = entry.get("Status", {}).get("header", {})
            if header.get("member_id") == entry.get("Status", {}).get("leader"):
                address = entry.get("Endpoint", "").split("//")[-1].rsplit(":", 1)[0]
                etcd_leader = address_host.get(address)
        break
    for host in mons:
        quorum = cctx.ssh(host, "ceph quorum_status --format json --connect-timeout 10", timeout=30)
        try:
            ceph_leader = json.loads(quorum.stdout).get("quorum_leader_name")
            break
        except ValueError:
            continue
    active = None
    for name in plan["quorums"]["openbao"]["members"]:
        if BaoClient(voter_url(cctx.address(name)), platform_ca(cctx.state), timeout=5).health().status == 200:
            active = name
    return Leaders(etcd_leader=etcd_leader, openbao_active=active, ceph_leader_mon=ceph_leader)


# --- writers ----------------------------------------------------------------------------------


class HostWriter:
    """A shell loop on a surviving host; acks are appended to a file there and read at the end."""

    def __init__(self, cctx: CheckContext, host: str, name: str, write: str, run_id: str) -> None:
        self.cctx, self.host, self.name, self.run_id = cctx, host, name, run_id
        self.flag = f"/run/sovplatform-drill-{run_id}-{name}"
        self.log = f"{self.flag}.acks"
        self.write = write  # shell command writing record $i; exit 0 means acknowledged

    def start(self) -> None:
        loop = (
            f"i=0; while [ -e {self.flag} ]; do i=$((i+1)); "
            f'if {self.write} >/dev/null 2>&1; then echo "$i $(date +%s.%N)" >> {self.log}; fi; sleep {PACE_S}; done'
        )
        command = f"rm -f {self.log}; touch {self.flag}; nohup bash -c {shlex.quote(loop)} >/dev/null 2>&1 &"
        result = self.cctx.ssh(self.host, command)
        if result.returncode != 0:
            raise OperationError([f"drill: cannot start the {self.name} writer on {self.host}: {result.stderr[:200]}"])

    def stop(self) -> Acks:
        self.cctx.ssh(self.host, f"rm -f {self.flag}")
        time.sleep(1)
        acks = Acks()
        for line in self.cctx.ssh(self.host, f"cat {self.log}; rm -f {self.log}", timeout=60).stdout.splitlines():
            parts = line.split()
            if len(parts) == 2:
                acks.add(int(parts[0]), float(parts[1]))
        return acks


class ThreadWriter:
    """A controller-side writer: `write(seq)` returns True when the write was acknowledged."""

    def __init__(self, name: str, write: Callable[[int], bool]) -> None:
        self.name, self.write = name, write
        self.acks = Acks()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"drill-{name}", daemon=True)

    def _loop(self) -> None:
        seq = 0
        while not self.stopping.is_set():
            seq += 1
            try:
                ok = self.write(seq)
            except Exception:  # any failure is simply an unacknowledged write
                ok = False
            if ok:
                self.acks.add(seq, time.time())
            time.sleep(PACE_S)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> Acks:
        self.stopping.set()
        self.thread.join(timeout=60)
        return self.acks


class Failover:
    """Endpoints tried in turn, sticking to the last one that worked (a client with a list)."""

    def __init__(self, endpoints: list[str]) -> None:
        self.endpoints = endpoints
        self.current = 0

    def call(self, attempt: Callable[[str], bool]) -> bool:
        for i in range(len(self.endpoints)):
            index = (self.current + i) % len(self.endpoints)
            try:
                if attempt(self.endpoints[index]):
                    self.current = index
                    return True
            except tlshttp.ERRORS:
                pass
        return False


def _record(run_id: str, seq: int) -> bytes:
    return f"sovplatform drill {run_id} record {seq}\n".encode()


# --- the drill --------------------------------------------------------------------------------


def _wait(probe: Callable[[], bool], timeout: float, interval: float = 3.0) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if probe():
            return time.monotonic() - start
        time.sleep(interval)
    return None


def site_loss(
    ctx: Context, site: str, mode: str = "power", hold_s: float = 30.0, say: Callable[[str], None] | None = None
) -> DrillResult:
    note = say or ctx.progress.update
    plan: dict[str, Any] = ctx.plan.data
    if mode not in MODES:
        raise Refused([f"--mode: {mode!r} is not one of {', '.join(MODES)}"])
    missing = [layer for layer in ("etcd", "ceph", "openbao", "s3") if layer not in deployed_layers(ctx)]
    if missing:
        raise Refused([f"drill: layer {layer} is not deployed (run up without --until)" for layer in missing])
    layout = layout_from_plan(plan)
    lab = lab_for(ctx)
    with PlatformLock(ctx.state, f"drill site-loss {ctx.blueprint.name}"):
        cctx = check_context(ctx)
        with substrate_errors():
            status = lab.status()
        hosts_status: list[dict[str, Any]] = list(status["hosts"])  # type: ignore[call-overload]
        problems = [
            f"drill: host {h['name']} is down already; a second fault while one is outstanding is refused"
            for h in hosts_status
            if not (h["running"] and h["reachable"])
        ]
        problems += [
            f"drill: site {s} is partitioned already; a second fault while one is outstanding is refused"
            for s in status["partitioned"]  # type: ignore[attr-defined]
        ]
        problems += [
            f"drill: host {h} is drained; undrain it first (a second fault while one is outstanding is refused)"
            for h in sorted(drained_hosts(ctx))
        ]
        if problems:
            raise Refused(problems)
        ctx.progress.phase("drill: verify before the fault")
        before = verify(ctx)
        if not before["ok"]:
            failed = [f"{c['layer']}: {c['name']}: {c['detail']}" for c in before["checks"] if not c["ok"]]
            raise Refused(["drill: the platform is not healthy before the fault", *failed])
        reason = f"--site {site}"
        if site == "auto-leader":
            leaders = observe_leaders(cctx, plan)
            try:
                target = choose_auto_leader_site(layout, leaders)
            except OpsInputError as exc:
                raise Refused([f"drill: {exc}"]) from None
            site, reason = target.site, target.reason
        if site not in layout.sites:
            raise Refused([f"--site: no site {site!r} in platform {ctx.blueprint.name}"])
        note(f"drill: target {site} ({reason}), mode {mode}")
        return _run(ctx, cctx, plan, site, mode, hold_s, reason, note)


def _run(
    ctx: Context,
    cctx: CheckContext,
    plan: dict[str, Any],
    site: str,
    mode: str,
    hold_s: float,
    reason: str,
    note: Callable[[str], None],
) -> DrillResult:
    site_of = {h["name"]: h["site"] for h in plan["hosts"]}
    mons = list(plan["quorums"]["ceph_mon"]["members"])
    survivor = next(m for m in mons if site_of[m] != site)
    lost_mons = [m for m in mons if site_of[m] == site]
    run_id = secrets.token_hex(4)
    lab = lab_for(ctx)

    # --- writers ------------------------------------------------------------------------
    members = list(plan["quorums"]["etcd"]["members"])
    endpoints = ",".join(f"https://{cctx.address(m)}:{etcd_checks.CLIENT_PORT}" for m in members)
    etcd_key = f"/sovplatform/drill/{run_id}/"
    # etcdctl() quotes its arguments; the placeholder is a safe word swapped for the loop's $i.
    etcd_put = etcd_checks.etcdctl("put", f"{etcd_key}SEQ", "record-SEQ", endpoint=endpoints).replace("SEQ", "$i")
    rados_put = f"echo record-$i | timeout 60 rados -p rbd put drill-{run_id}-$i -"
    host_writers = {
        "etcd": HostWriter(cctx, survivor, "etcd", etcd_put, run_id),
        "ceph": HostWriter(cctx, survivor, "ceph", rados_put, run_id),
    }
    creds = load_credentials(ctx.state, plan["substrate"])
    if creds is None:
        raise Refused(["drill: no S3 user in the state dir (made by up)"])
    gateways = sorted(h["name"] for h in plan["hosts"] if "gateway" in h["roles"])
    ca = str(ctx.state / "pki" / "ca.crt")
    s3_name = service_name("s3", plan["platform"])
    s3_clients = {gw: S3Client(cctx.address(gw), s3_name, ca, creds, timeout=5) for gw in gateways}
    ok, what = ensure_bucket(s3_clients[gateways[0]], VERIFY_BUCKET)
    if not ok:
        raise OperationError([f"drill: S3 bucket: {what}"])
    s3_failover = Failover(gateways)

    def s3_write(seq: int) -> bool:
        path = f"/{VERIFY_BUCKET}/drill-{run_id}/{seq}"
        return s3_failover.call(lambda gw: s3_clients[gw].request("PUT", path, _record(run_id, seq))[0] == 200)

    bao_name = service_name("openbao", plan["platform"])
    bao_context = ssl.create_default_context(cafile=str(platform_ca(ctx.state)))
    bao_token = consumer_token(ctx, "volumes")
    bao_failover = Failover(gateways)

    def bao_request(address: str, port: int, method: str, path: str, body: dict[str, Any] | None = None) -> int:
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"x-vault-token": bao_token, "content-type": "application/json"}
        status, _, _ = tlshttp.request(address, port, bao_name, bao_context, method, path, headers, data, timeout=5)
        return status

    def bao_write(seq: int) -> bool:
        path = f"/v1/{KV_PREFIX}/{run_id}/{seq}"
        body = {"data": {"record": _record(run_id, seq).decode()}}
        return bao_failover.call(
            lambda gw: bao_request(cctx.address(gw), OPENBAO_GATEWAY_PORT, "POST", path, body) in (200, 204)
        )

    thread_writers = {"s3": ThreadWriter("s3", s3_write), "openbao": ThreadWriter("openbao", bao_write)}
    ctx.progress.phase("drill: writers")
    for writer in (*host_writers.values(), *thread_writers.values()):
        writer.start()
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append({"name": name, "ok": ok, "detail": detail})
        note(f"drill: {'ok  ' if ok else 'FAIL'} {name}: {detail}")

    split_brain = 0
    recovery: float | None = None
    acks: dict[str, Acks] = {}
    fault_start = fault_done = restore_at = time.time()
    try:
        time.sleep(5)  # a baseline of writes before the fault
        ctx.progress.phase(f"drill: {mode} {site}")
        fault_start = time.time()
        with substrate_errors():
            if mode == "power":
                lab.power("off", site=site, progress=note)
            else:
                lab.partition(site)
        fault_done = time.time()
        note(f"drill: {site} is {'off' if mode == 'power' else 'cut off'} ({fault_done - fault_start:.1f}s)")

        # --- during the outage ------------------------------------------------------------
        ctx.progress.phase("drill: during the outage")
        cut_off = [h["name"] for h in plan["hosts"] if h["site"] == site]

        def serving() -> bool:
            quorum = ceph_json(cctx, survivor, "quorum_status")
            pgs = ceph_json(cctx, survivor, "pg", "ls")
            states = [str(s.get("state", "")) for s in (pgs.get("pg_stats", []) if isinstance(pgs, dict) else [])]
            return (
                bool(quorum)
                and set(quorum.get("quorum_names", [])) == set(mons) - set(lost_mons)
                and bool(states)
                and all("active" in s for s in states)
            )

        waited = _wait(serving, timeout=180)
        check(
            "ceph keeps monitor quorum and every PG active",
            waited is not None,
            f"after {waited:.1f}s" if waited is not None else "not within 180 s",
        )
        probe_end = time.time() + hold_s
        while time.time() < probe_end:
            if mode == "partition":
                split_brain += _split_brain_probe(cctx, plan, cut_off, run_id, bao_request)
            time.sleep(2)
        osds = ceph_json(cctx, survivor, "osd", "dump")
        out = [o["osd"] for o in (osds or {}).get("osds", []) if o.get("in") != 1]
        check("no OSD marked out", osds is not None and not out, f"out: {out}" if out else "every OSD still in")
        actives = [
            n
            for n in plan["quorums"]["openbao"]["members"]
            if site_of[n] != site
            and BaoClient(voter_url(cctx.address(n)), platform_ca(ctx.state), timeout=5).health().status == 200
        ]
        check("openbao: exactly one active, unsealed node", len(actives) == 1, f"active: {actives}")
        now = time.time()
        # (the host-side writers' acks are read at the end, from their logs on the host)
        for name, tw in thread_writers.items():
            first = tw.acks.after(fault_done)
            check(f"{name} takes writes during the outage", first is not None and first < now, f"first ack {first}")
        if mode == "partition":
            check("no split-brain write acknowledged by the cut-off site", split_brain == 0, f"{split_brain} acked")
    finally:
        # --- restore ------------------------------------------------------------------------
        ctx.progress.phase(f"drill: restore {site}")
        restore_at = time.time()
        with substrate_errors():
            if mode == "power":
                lab.power("on", site=site, progress=note)
            else:
                lab.heal()
        ctx.progress.phase("drill: recovery")

        def converged() -> bool:
            health = ceph_json(cctx, survivor, "health")
            if not health or health.get("status") != "HEALTH_OK":
                return False
            voters_ok = all(
                BaoClient(voter_url(cctx.address(n)), platform_ca(ctx.state), timeout=5).health().status in (200, 429)
                for n in plan["quorums"]["openbao"]["members"]
            )
            etcd_ok = all(
                cctx.ssh(m, etcd_checks.etcdctl("endpoint", "health"), timeout=20).returncode == 0 for m in members
            )
            return voters_ok and etcd_ok

        waited = _wait(converged, timeout=RECOVERY_TIMEOUT_S, interval=5)
        recovery = None if waited is None else round(time.time() - restore_at, 1)
        time.sleep(3)  # writes after recovery, then stop
        for name, hw in host_writers.items():
            acks[name] = hw.stop()
        for name, tw in thread_writers.items():
            acks[name] = tw.stop()
    check(
        "converged after the site came back",
        recovery is not None,
        f"HEALTH_OK, etcd healthy, every voter unsealed after {recovery}s"
        if recovery
        else f"not within {RECOVERY_TIMEOUT_S:.0f}s",
    )

    # --- RPO: every acknowledged write is there -----------------------------------------------
    ctx.progress.phase("drill: reading back every acknowledged write")
    lost = {
        "etcd": _lost_etcd(cctx, survivor, etcd_key, acks["etcd"]),
        "ceph": _lost_rados(cctx, survivor, run_id, acks["ceph"]),
        "s3": _parallel_lost(
            sorted(acks["s3"].times),
            lambda seq: (
                s3_clients[gateways[-1]].request("GET", f"/{VERIFY_BUCKET}/drill-{run_id}/{seq}")[2]
                == _record(run_id, seq)
            ),
        ),
        "openbao": _lost_bao(cctx, gateways, run_id, acks["openbao"], bao_name, bao_context, bao_token),
    }
    _cleanup(
        cctx, survivor, run_id, etcd_key, s3_clients[gateways[0]], acks["s3"], bao_request, acks["openbao"], gateways
    )
    rto = {}
    gaps = {}
    for name in SERVICES:
        first = acks[name].after(fault_done)
        rto[name] = None if first is None or first > restore_at else round(max(0.0, first - fault_done), 2)
        gaps[name] = round(acks[name].max_gap(fault_start - 5, restore_at), 2)
    acknowledged = sum(len(a.times) for a in acks.values())
    lost_total = sum(len(v) for v in lost.values())
    check("RPO 0: every acknowledged write reads back", lost_total == 0, f"{lost_total} of {acknowledged} lost")
    ok = all(c["ok"] for c in checks) and all(v is not None for v in rto.values())
    return DrillResult(
        ok=ok,
        mode=mode,
        site=site,
        rto_seconds=rto,
        max_gap_seconds=gaps,
        acknowledged_writes=acknowledged,
        lost_writes=lost_total,
        split_brain_writes=split_brain,
        recovery_seconds=recovery,
        checks=checks,
        target_reason=reason,
        writes={k: len(v.times) for k, v in acks.items()},
        lost=lost,
    )


def _split_brain_probe(
    cctx: CheckContext,
    plan: dict[str, Any],
    cut_off: list[str],
    run_id: str,
    bao_request: Callable[..., int],
) -> int:
    """Writes straight to the cut-off site's etcd member and OpenBao voter; returns how many
    were acknowledged (each one a split-brain write)."""
    acked = 0
    for host in cut_off:
        if host in plan["quorums"]["etcd"]["members"]:
            put = etcd_checks.etcdctl("put", f"/sovplatform/drill/{run_id}-split/{host}", "x", timeout="3s")
            if cctx.ssh(host, put, timeout=15).returncode == 0:
                acked += 1
        if host in plan["quorums"]["openbao"]["members"]:
            body = {"data": {"record": "split"}}
            try:
                status = bao_request(cctx.address(host), 8200, "POST", f"/v1/{KV_PREFIX}/{run_id}-split/{host}", body)
            except tlshttp.ERRORS:
                status = 0
            if status in (200, 204):
                acked += 1
    return acked


def _lost_etcd(cctx: CheckContext, host: str, prefix: str, acks: Acks) -> list[int]:
    got = cctx.ssh(host, etcd_checks.etcdctl("get", "--prefix", prefix, "-w", "json", timeout="20s"), timeout=60)
    try:
        kvs = json.loads(got.stdout).get("kvs", [])
    except ValueError:
        return sorted(acks.times)
    found = {
        base64.b64decode(kv["key"]).decode().rsplit("/", 1)[-1]: base64.b64decode(kv["value"]).decode() for kv in kvs
    }
    return [seq for seq in sorted(acks.times) if found.get(str(seq)) != f"record-{seq}"]


def _lost_rados(cctx: CheckContext, host: str, run_id: str, acks: Acks) -> list[int]:
    seqs = "\n".join(str(s) for s in sorted(acks.times))
    # Eight `rados get` at a time: each one is a process with its own cluster connection.
    one = f'echo "$0 $(rados -p rbd get drill-{run_id}-$0 - 2>/dev/null)"'
    script = f"printf '%s\\n' {shlex.quote(seqs)} | xargs -P 8 -n 1 sh -c {shlex.quote(one)}"
    got = cctx.ssh(host, f"bash -c {shlex.quote(script)}", timeout=900).stdout
    found = {}
    for line in got.splitlines():
        seq, _, value = line.partition(" ")
        found[seq] = value
    return [seq for seq in sorted(acks.times) if found.get(str(seq)) != f"record-{seq}"]


def _lost_bao(
    cctx: CheckContext,
    gateways: list[str],
    run_id: str,
    acks: Acks,
    name: str,
    context: ssl.SSLContext,
    token: str,
) -> list[int]:
    def intact(seq: int) -> bool:
        status, _, body = tlshttp.request(
            cctx.address(gateways[-1]),
            OPENBAO_GATEWAY_PORT,
            name,
            context,
            "GET",
            f"/v1/{KV_PREFIX}/{run_id}/{seq}",
            {"x-vault-token": token},
            timeout=10,
        )
        try:
            value = json.loads(body)["data"]["data"]["record"] if status == 200 else None
        except (ValueError, KeyError, TypeError):
            value = None
        return bool(value == _record(run_id, seq).decode())

    return _parallel_lost(sorted(acks.times), intact)


def _parallel_lost(seqs: list[int], intact: Callable[[int], bool]) -> list[int]:
    """The sequence numbers whose record does not read back intact (eight reads at a time)."""

    def safe(seq: int) -> bool:
        try:
            return intact(seq)
        except tlshttp.ERRORS:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [seq for seq, ok in zip(seqs, pool.map(safe, seqs), strict=True) if not ok]


def _cleanup(
    cctx: CheckContext,
    host: str,
    run_id: str,
    etcd_prefix: str,
    s3: S3Client,
    s3_acks: Acks,
    bao_request: Callable[..., int],
    bao_acks: Acks,
    gateways: list[str],
) -> None:
    """Remove the drill's records (best effort: leftovers are harmless and prefixed by run)."""
    cctx.ssh(host, etcd_checks.etcdctl("del", "--prefix", etcd_prefix, timeout="20s"), timeout=60)
    cctx.ssh(host, f"rados -p rbd ls | grep '^drill-{run_id}-' | xargs -r -n 50 rados -p rbd rm", timeout=600)
    _parallel_lost(
        sorted(s3_acks.times), lambda seq: s3.request("DELETE", f"/{VERIFY_BUCKET}/drill-{run_id}/{seq}")[0] == 204
    )
    _parallel_lost(
        sorted(bao_acks.times),
        lambda seq: (
            bao_request(
                cctx.address(gateways[0]),
                OPENBAO_GATEWAY_PORT,
                "DELETE",
                f"/v1/kv/metadata/volumes/sovplatform-drill/{run_id}/{seq}",
            )
            == 204
        ),
    )
