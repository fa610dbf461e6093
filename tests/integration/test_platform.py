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

import itertools
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sovplatform.blueprint import load_blueprint
from sovplatform.checks import ceph as ceph_checks
from sovplatform.checks.model import CheckContext
from sovplatform.s3sign import Credentials, sign
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
LOST_SITE = BP.sites[-1].name
SURVIVOR = MONS[0]
UNITS = "'ceph-mon@*' 'ceph-mgr@*' 'ceph-osd@*' 'ceph-radosgw@*' etcd openbao haproxy"


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


def health_ok(p: Platform) -> bool:
    health = p.ceph("health")
    return bool(health) and health.get("status") == "HEALTH_OK"


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
        start = time.monotonic()
        p.up = p.sov("up", str(BLUEPRINT), "--yes")
        p.measure("up_first_s", time.monotonic() - start)
        yield p
    finally:
        p.sov("lab", "heal", str(BLUEPRINT))
        down = p.sov("down", str(BLUEPRINT), "--yes")
        print("down:", down.returncode, down.stderr[-500:])
        print("MEASURES", json.dumps(p.measures, sort_keys=True))


def test_up_builds_every_layer_and_verifies(platform: Platform) -> None:
    up = platform.up
    assert up is not None and up.returncode == 0, up and (up.stdout[-5000:] + up.stderr[-3000:])
    journal = [json.loads(line) for line in (platform.state / "journal.jsonl").read_text().splitlines()]
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


def _pg_states(p: Platform) -> list[str] | None:
    pgs = p.ceph("pg", "ls")
    if pgs is None:
        return None
    stats = pgs.get("pg_stats", []) if isinstance(pgs, dict) else pgs
    return [str(s.get("state", "")) for s in stats]


def test_losing_a_site_keeps_quorum_and_io_then_recovers(platform: Platform) -> None:
    lost_mons = [m for m in MONS if BP.host_site()[m] == LOST_SITE]
    # A writer on a surviving host: one small object per iteration, each write stamped with its end.
    writer = (
        "nohup bash -c 'i=0; while [ -e /run/t-ceph-writer ]; do i=$((i+1)); "
        "timeout 120 rados -p rbd put stall-$i /etc/hostname && date +%s.%N >> /run/t-ceph-writes; "
        "sleep 0.2; done' >/dev/null 2>&1 &"
    )
    assert platform.ssh(SURVIVOR, f"rm -f /run/t-ceph-writes; touch /run/t-ceph-writer; {writer}").returncode == 0
    try:
        time.sleep(5)
        off_at = time.time()
        off = platform.sov("lab", "power", "off", str(BLUEPRINT), "--site", LOST_SITE, timeout=300)
        assert off.returncode == 0, off.stderr
        platform.measure("power_off_s", time.time() - off_at)

        seen: dict[str, Any] = {}

        def degraded_but_serving() -> bool:
            q = platform.ceph("quorum_status")
            states = _pg_states(platform)
            seen["quorum"] = q and q.get("quorum_names")
            seen["pgs"] = states and dict(Counter(states))
            if not q or states is None:
                return False
            in_quorum = set(q.get("quorum_names", []))
            return in_quorum == set(MONS) - set(lost_mons) and all("active" in s for s in states)

        try:
            _, waited = wait_for("quorum of the surviving monitors and every PG active", degraded_but_serving, 180)
        except pytest.fail.Exception:
            # the admin socket answers without a quorum: each surviving monitor's own view
            views = {
                m: platform.ssh(m, f"timeout 20 ceph daemon mon.{m} mon_status", timeout=40).stdout[:600]
                for m in MONS
                if m not in lost_mons
            }
            pytest.fail(f"after losing {LOST_SITE}: {seen}; monitors: {views}")
        platform.measure("all_pgs_active_after_power_off_s", waited + platform.measures["power_off_s"])
        time.sleep(20)  # keep writing while the site is gone
        osds = platform.ceph("osd", "dump")
        assert osds and all(o["in"] == 1 for o in osds["osds"]), "an OSD of the lost site was marked out"
        states = _pg_states(platform) or []
        assert states and all("active" in s for s in states), sorted(set(states))
        write = platform.ssh(
            SURVIVOR, "echo still-writing | rados -p rbd put during-loss - && rados -p rbd get during-loss -"
        )
        assert write.returncode == 0 and write.stdout.strip() == "still-writing", write.stderr
    finally:
        stamps = platform.ssh(SURVIVOR, "rm -f /run/t-ceph-writer; cat /run/t-ceph-writes").stdout.split()
        on_at = time.time()
        on = platform.sov("lab", "power", "on", str(BLUEPRINT), "--site", LOST_SITE, timeout=300)
    times = sorted(float(s) for s in stamps if re.fullmatch(r"[0-9.]+", s))
    window = [t for t in times if t >= off_at - 5]
    gaps = [b - a for a, b in itertools.pairwise(window)]
    platform.measure("io_stall_max_s", max(gaps) if gaps else float("nan"))
    assert len(window) > 10, f"the writer made only {len(window)} writes while the site was down"
    assert on.returncode == 0, on.stderr
    _, waited = wait_for("HEALTH_OK after the site came back", lambda: health_ok(platform), timeout=600, interval=5)
    platform.measure("health_ok_after_power_on_s", time.time() - on_at)
    failed = [c for c in platform.checks() if not c.ok]
    assert not failed, failed
    assert max(gaps) <= 60, f"writes stalled for {max(gaps):.1f} s while {LOST_SITE} went down"


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


def test_zz_down_removes_the_platform(platform: Platform) -> None:
    result = platform.sov("down", str(BLUEPRINT), "--yes")
    assert result.returncode == 0, result.stderr
