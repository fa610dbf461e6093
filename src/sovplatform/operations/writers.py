"""The drill's writers: sequence-numbered records written continuously to every stateful
service, each acknowledged write logged with the time it was sent and the time it was
acknowledged, and read back afterwards.

  etcd     etcdctl on a host of a surviving site, against every member's client URL
  ceph     `rados put` into the rbd pool, on the same host
  s3       PUT through the gateways (controller; TLS verified as s3.<platform>.internal), next
           gateway on failure, as a client configured with every gateway would
  openbao  kv writes through the gateways' OpenBao port with the `volumes` token (controller)
  kubernetes  (where the layer is deployed) a ConfigMap per record through the Kubernetes API,
           with kubectl on a control-plane node of a surviving site, through that node's own
           API balancer (127.0.0.1:7443, every API server behind it): the API's RTO as a node
           sees it

The host-side writers are shell loops (no secret on a command line); the controller-side ones
are threads.
"""

from __future__ import annotations

import base64
import itertools
import json
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
from sovplatform.checks.model import CheckContext
from sovplatform.checks.openbao import platform_ca
from sovplatform.checks.s3 import VERIFY_BUCKET, S3Client, ensure_bucket, load_credentials
from sovplatform.operations.context import Context
from sovplatform.operations.errors import OperationError, Refused
from sovplatform.operations.openbao import consumer_token
from sovplatform.operations.pki import service_name

SERVICES = ("etcd", "ceph", "s3", "openbao")
KUBE_NAMESPACE = "sovplatform-drill"
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf --request-timeout=5s"
KUBECTL_PATIENT = "kubectl --kubeconfig /etc/kubernetes/admin.conf --request-timeout=60s"
OPENBAO_GATEWAY_PORT = 8210
KV_PREFIX = "kv/data/volumes/sovplatform-drill"
# Pause between two writes of one writer: enough resolution for RTOs of a second or more,
# without thousands of records to read back.
PACE_S = 0.2


@dataclass
class Acks:
    """Acknowledged writes of one writer: sequence number -> wall-clock time of the ack, and
    the time the write was sent."""

    times: dict[int, float] = field(default_factory=dict)
    starts: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seq: int, at: float, sent: float | None = None) -> None:
        with self.lock:
            self.times[seq] = at
            self.starts[seq] = at if sent is None else sent

    def after(self, moment: float) -> float | None:
        with self.lock:
            later = [t for t in self.times.values() if t >= moment]
        return min(later) if later else None

    def max_gap(self, start: float, end: float) -> float:
        with self.lock:
            stamps = sorted(t for t in self.times.values() if start <= t <= end)
        edges = [start, *stamps, end]
        return max(b - a for a, b in itertools.pairwise(edges))

    def sent_and_acked_within(self, start: float, end: float) -> list[int]:
        """Writes sent after `start` and acknowledged before `end`: taken wholly inside the window
        (a write in flight when it opened, or one held until after it closed, does not count)."""
        with self.lock:
            return sorted(s for s, t in self.times.items() if self.starts[s] > start and t < end)


class HostWriter:
    """A shell loop on a host; acks are appended to a file there and read at the end."""

    def __init__(self, cctx: CheckContext, host: str, name: str, write: str, run_id: str) -> None:
        self.cctx, self.host, self.name, self.run_id = cctx, host, name, run_id
        self.flag = f"/run/sovplatform-drill-{run_id}-{name}"
        self.log = f"{self.flag}.acks"
        self.write = write  # shell command writing record $i; exit 0 means acknowledged

    def start(self) -> None:
        loop = (
            f"i=0; while [ -e {self.flag} ]; do i=$((i+1)); s=$(date +%s.%N); "
            f'if {self.write} >/dev/null 2>&1; then echo "$i $(date +%s.%N) $s" >> {self.log}; fi; '
            f"sleep {PACE_S}; done"
        )
        command = f"rm -f {self.log}; touch {self.flag}; nohup bash -c {shlex.quote(loop)} >/dev/null 2>&1 &"
        result = self.cctx.ssh(self.host, command)
        if result.returncode != 0:
            raise OperationError([f"drill: cannot start the {self.name} writer on {self.host}: {result.stderr[:200]}"])

    def count(self) -> int:
        said = self.cctx.ssh(self.host, f"wc -l < {self.log} 2>/dev/null || echo 0", timeout=30).stdout.strip()
        return int(said) if said.isdigit() else 0

    def stop(self) -> Acks:
        self.cctx.ssh(self.host, f"rm -f {self.flag}")
        time.sleep(1)
        acks = Acks()
        for line in self.cctx.ssh(self.host, f"cat {self.log}; rm -f {self.log}", timeout=60).stdout.splitlines():
            parts = line.split()
            if len(parts) == 3:
                acks.add(int(parts[0]), float(parts[1]), float(parts[2]))
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
            sent = time.time()
            try:
                ok = self.write(seq)
            except Exception:  # any failure is simply an unacknowledged write
                ok = False
            if ok:
                self.acks.add(seq, time.time(), sent)
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


def record(run_id: str, seq: int) -> bytes:
    return f"sovplatform drill {run_id} record {seq}\n".encode()


def parallel_lost(seqs: list[int], intact: Callable[[int], bool]) -> list[int]:
    """The sequence numbers whose record does not read back intact (eight reads at a time)."""

    def safe(seq: int) -> bool:
        try:
            return intact(seq)
        except tlshttp.ERRORS:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [seq for seq, ok in zip(seqs, pool.map(safe, seqs), strict=True) if not ok]


class Writers:
    """The writers of one drill run; host-side ones on `host`, the Kubernetes one on
    `kube_host` (a control-plane node of a surviving site; None where the layer is not deployed)."""

    def __init__(self, ctx: Context, cctx: CheckContext, host: str, run_id: str, kube_host: str | None = None) -> None:
        plan: dict[str, Any] = ctx.plan.data
        self.cctx, self.host, self.run_id = cctx, host, run_id
        members = list(plan["quorums"]["etcd"]["members"])
        endpoints = ",".join(f"https://{cctx.address(m)}:{etcd_checks.CLIENT_PORT}" for m in members)
        self.etcd_key = f"/sovplatform/drill/{run_id}/"
        # etcdctl() quotes its arguments; the placeholder is a safe word swapped for the loop's $i.
        etcd_put = etcd_checks.etcdctl("put", f"{self.etcd_key}SEQ", "record-SEQ", endpoint=endpoints)
        rados_put = f"echo record-$i | timeout 60 rados -p rbd put drill-{run_id}-$i -"
        self.host_writers = {
            "etcd": HostWriter(cctx, host, "etcd", etcd_put.replace("SEQ", "$i"), run_id),
            "ceph": HostWriter(cctx, host, "ceph", rados_put, run_id),
        }
        self.kube_host = kube_host
        if kube_host is not None:
            kube_put = (
                f"{KUBECTL} -n {KUBE_NAMESPACE} create configmap drill-{run_id}-$i --from-literal=record=record-$i"
            )
            self.host_writers["kubernetes"] = HostWriter(cctx, kube_host, "kubernetes", kube_put, run_id)
        creds = load_credentials(ctx.state, plan["substrate"])
        if creds is None:
            raise Refused(["drill: no S3 user in the state dir (made by up)"])
        self.gateways = sorted(h["name"] for h in plan["hosts"] if "gateway" in h["roles"])
        ca = str(ctx.state / "pki" / "ca.crt")
        s3_name = service_name("s3", plan["platform"])
        self.s3 = {gw: S3Client(cctx.address(gw), s3_name, ca, creds, timeout=5) for gw in self.gateways}
        self.s3_failover = Failover(self.gateways)
        self.bao_name = service_name("openbao", plan["platform"])
        self.bao_context = ssl.create_default_context(cafile=str(platform_ca(ctx.state)))
        self.bao_token = consumer_token(ctx, "volumes")
        self.bao_failover = Failover(self.gateways)
        self.thread_writers = {
            "s3": ThreadWriter("s3", self._s3_write),
            "openbao": ThreadWriter("openbao", self._bao_write),
        }

    # --- the writes -------------------------------------------------------------------------

    def _s3_path(self, seq: int) -> str:
        return f"/{VERIFY_BUCKET}/drill-{self.run_id}/{seq}"

    def _s3_write(self, seq: int) -> bool:
        body = record(self.run_id, seq)
        return self.s3_failover.call(lambda gw: self.s3[gw].request("PUT", self._s3_path(seq), body)[0] == 200)

    def bao_request(self, address: str, port: int, method: str, path: str, body: dict[str, Any] | None = None) -> int:
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"x-vault-token": self.bao_token, "content-type": "application/json"}
        status, _, _ = tlshttp.request(
            address, port, self.bao_name, self.bao_context, method, path, headers, data, timeout=5
        )
        return status

    def _bao_write(self, seq: int) -> bool:
        path = f"/v1/{KV_PREFIX}/{self.run_id}/{seq}"
        body = {"data": {"record": record(self.run_id, seq).decode()}}
        return self.bao_failover.call(
            lambda gw: self.bao_request(self.cctx.address(gw), OPENBAO_GATEWAY_PORT, "POST", path, body) in (200, 204)
        )

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        # Any gateway will do, and one may be slow while a site is away (RGW waits on RADOS).
        what = "no gateway answered"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for gw in self.gateways:
                try:
                    ok, what = ensure_bucket(self.s3[gw], VERIFY_BUCKET)
                except tlshttp.ERRORS as exc:
                    ok, what = False, f"{gw}: {exc}"
                if ok:
                    break
            else:
                time.sleep(3)
                continue
            break
        else:
            raise OperationError([f"drill: S3 bucket: {what}"])
        if self.kube_host is not None:
            made = self.cctx.ssh(
                self.kube_host,
                f"{KUBECTL} get namespace {KUBE_NAMESPACE} >/dev/null 2>&1 || "
                f"{KUBECTL} create namespace {KUBE_NAMESPACE}",
                timeout=60,
            )
            if made.returncode != 0:
                raise OperationError([f"drill: Kubernetes namespace on {self.kube_host}: {made.stderr.strip()[:200]}"])
        for writer in (*self.host_writers.values(), *self.thread_writers.values()):
            writer.start()

    @property
    def services(self) -> tuple[str, ...]:
        return SERVICES + (("kubernetes",) if self.kube_host is not None else ())

    def kube_nodes_ready(self) -> bool:
        """Every Kubernetes node Ready again (True where the layer is not deployed)."""
        if self.kube_host is None:
            return True
        said = self.cctx.ssh(self.kube_host, f"{KUBECTL} get nodes --no-headers", timeout=30)
        rows = [line.split() for line in said.stdout.splitlines() if line.strip()]
        return said.returncode == 0 and bool(rows) and all(len(r) > 1 and r[1] == "Ready" for r in rows)

    def acked_by_all(self) -> bool:
        """Every writer has had at least one write acknowledged."""
        if not all(tw.acks.times for tw in self.thread_writers.values()):
            return False
        return all(hw.count() > 0 for hw in self.host_writers.values())

    def thread_acks(self) -> dict[str, Acks]:
        """The controller-side writers' acks so far (the host-side ones are read at the end)."""
        return {name: tw.acks for name, tw in self.thread_writers.items()}

    def stop(self) -> dict[str, Acks]:
        acks = {name: hw.stop() for name, hw in self.host_writers.items()}
        acks.update({name: tw.stop() for name, tw in self.thread_writers.items()})
        return acks

    # --- reading back -------------------------------------------------------------------------

    def lost(self, acks: dict[str, Acks]) -> dict[str, list[int]]:
        """Per service, the acknowledged writes that do not read back intact."""
        # Read through any gateway that answers: a site may still be away (a second-fault drill).
        readers = Failover(list(reversed(self.gateways)))

        def s3_intact(seq: int) -> bool:
            want = record(self.run_id, seq)
            return readers.call(lambda gw: self.s3[gw].request("GET", self._s3_path(seq))[2] == want)

        lost = {
            "etcd": self._lost_etcd(acks["etcd"]),
            "ceph": self._lost_rados(acks["ceph"]),
            "s3": parallel_lost(sorted(acks["s3"].times), s3_intact),
            "openbao": parallel_lost(
                sorted(acks["openbao"].times), lambda seq: readers.call(lambda gw: self._bao_intact(gw, seq))
            ),
        }
        if "kubernetes" in acks:
            lost["kubernetes"] = self._lost_kube(acks["kubernetes"])
        return lost

    def _lost_kube(self, acks: Acks) -> list[int]:
        if self.kube_host is None:
            return []
        listing = (
            f"{KUBECTL_PATIENT} -n {KUBE_NAMESPACE} get configmaps "
            "-o jsonpath='{range .items[*]}{.metadata.name} {.data.record}{\"\\n\"}{end}'"
        )
        got = self.cctx.ssh(self.kube_host, listing, timeout=120)
        if got.returncode != 0:
            return sorted(acks.times)
        prefix = f"drill-{self.run_id}-"
        found = {}
        for line in got.stdout.splitlines():
            name, _, value = line.partition(" ")
            if name.startswith(prefix):
                found[name.removeprefix(prefix)] = value
        return [seq for seq in sorted(acks.times) if found.get(str(seq)) != f"record-{seq}"]

    def _lost_etcd(self, acks: Acks) -> list[int]:
        get = etcd_checks.etcdctl("get", "--prefix", self.etcd_key, "-w", "json", timeout="20s")
        got = self.cctx.ssh(self.host, get, timeout=60)
        try:
            kvs = json.loads(got.stdout).get("kvs", [])
        except ValueError:
            return sorted(acks.times)
        found = {
            base64.b64decode(kv["key"]).decode().rsplit("/", 1)[-1]: base64.b64decode(kv["value"]).decode()
            for kv in kvs
        }
        return [seq for seq in sorted(acks.times) if found.get(str(seq)) != f"record-{seq}"]

    def _lost_rados(self, acks: Acks) -> list[int]:
        seqs = "\n".join(str(s) for s in sorted(acks.times))
        # Eight `rados get` at a time: each one is a process with its own cluster connection.
        one = f'echo "$0 $(rados -p rbd get drill-{self.run_id}-$0 - 2>/dev/null)"'
        script = f"printf '%s\\n' {shlex.quote(seqs)} | xargs -P 8 -n 1 sh -c {shlex.quote(one)}"
        got = self.cctx.ssh(self.host, f"bash -c {shlex.quote(script)}", timeout=900).stdout
        found = {}
        for line in got.splitlines():
            seq, _, value = line.partition(" ")
            found[seq] = value
        return [seq for seq in sorted(acks.times) if found.get(str(seq)) != f"record-{seq}"]

    def _bao_intact(self, gateway: str, seq: int) -> bool:
        status, _, body = tlshttp.request(
            self.cctx.address(gateway),
            OPENBAO_GATEWAY_PORT,
            self.bao_name,
            self.bao_context,
            "GET",
            f"/v1/{KV_PREFIX}/{self.run_id}/{seq}",
            {"x-vault-token": self.bao_token},
            timeout=10,
        )
        try:
            value = json.loads(body)["data"]["data"]["record"] if status == 200 else None
        except (ValueError, KeyError, TypeError):
            value = None
        return bool(value == record(self.run_id, seq).decode())

    def cleanup(self, acks: dict[str, Acks]) -> None:
        """Remove the drill's records (best effort: leftovers are harmless and prefixed by run)."""
        cctx, run_id = self.cctx, self.run_id
        cctx.ssh(self.host, etcd_checks.etcdctl("del", "--prefix", self.etcd_key, timeout="20s"), timeout=60)
        cctx.ssh(self.host, f"rados -p rbd ls | grep '^drill-{run_id}-' | xargs -r -n 50 rados -p rbd rm", timeout=600)
        gateways = Failover(self.gateways)
        parallel_lost(
            sorted(acks["s3"].times),
            lambda seq: gateways.call(lambda gw: self.s3[gw].request("DELETE", self._s3_path(seq))[0] == 204),
        )
        metadata = f"/v1/kv/metadata/volumes/sovplatform-drill/{run_id}"

        def bao_delete(seq: int) -> bool:
            return gateways.call(
                lambda gw: (
                    self.bao_request(cctx.address(gw), OPENBAO_GATEWAY_PORT, "DELETE", f"{metadata}/{seq}") == 204
                )
            )

        parallel_lost(sorted(acks["openbao"].times), bao_delete)
        if self.kube_host is not None:
            # The namespace holds nothing but drill records.
            cctx.ssh(self.kube_host, f"{KUBECTL_PATIENT} delete namespace {KUBE_NAMESPACE} --wait=false", timeout=90)
