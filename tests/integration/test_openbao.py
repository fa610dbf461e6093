"""The KMS layer on the real lab: customer KMS, platform OpenBao, seal, bootstrap, failover and
the sovereignty kill switch.

Brings up tests/data/blueprints/t-bao.yaml (platform t-bao: one host per site plus the customer's
KMS host, on addresses of its own so it runs beside other labs), converges playbooks/openbao.yml
with the controller steps in between (sovplatform.operations.openbao.converge), and always takes
the platform down at the end.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sovplatform.blueprint import load_blueprint
from sovplatform.checks import openbao as checks
from sovplatform.checks.model import CheckContext
from sovplatform.engine.progress import Progress
from sovplatform.operations import openbao
from sovplatform.operations.context import Context
from sovplatform.operations.lab import lab_for
from sovplatform.secretbox import SecretStore
from tests.helpers import ROOT
from tests.integration.labkit import skip_reason

pytestmark = pytest.mark.lab

BLUEPRINT = ROOT / "tests" / "data" / "blueprints" / "t-bao.yaml"
CUSTODIANS = ROOT / "tests" / "data" / "lab-custodians"
SOV = str(Path(sys.executable).parent / "sovplatform")
BP = load_blueprint(BLUEPRINT)
TOKEN = re.compile(r"\b(hvs|s|b)\.[A-Za-z0-9_-]{20,}\b")


@dataclass
class Lab:
    state_root: Path
    ctx: Context
    hosts: list[dict[str, Any]]
    secrets: list[tuple[str, str]]  # (store/name, value) the stores were given (captured in-process)
    timings: dict[str, float] = field(default_factory=dict)
    first: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> Path:
        return self.ctx.state

    def sov(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SOVPLATFORM_STATE_DIR": str(self.state_root)}
        return subprocess.run([SOV, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)

    def check_ctx(self) -> CheckContext:
        return CheckContext(
            {h["name"]: h for h in self.hosts}, self.ctx.plan.data, self.state, self.state / "ssh" / "known_hosts"
        )

    def converge(self) -> dict[str, Any]:
        extravars = {"sov_mirror_url": (self.state / "mirror-url").read_text().strip()}
        return openbao.converge(self.ctx, self.hosts, self.state / "inventory", extravars)

    def clients(self) -> dict[str, checks.BaoClient]:
        by_name = {h["name"]: h for h in self.hosts}
        return {
            n: checks.BaoClient(checks.voter_url(by_name[n]["address"]), checks.platform_ca(self.state), timeout=2)
            for n in checks.voters(self.ctx.plan.data)
        }


def _capture_puts(secrets: list[tuple[str, str]]) -> Any:
    original = SecretStore.put

    def put(self: SecretStore, name: str, value: bytes) -> Path:
        data = json.loads(value)
        for item in data["keys"] if "keys" in data else [data["token"]]:
            secrets.append((f"{self.namespace}/{name}", str(item)))
        return original(self, name, value)

    SecretStore.put = put  # type: ignore[method-assign]
    return original


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    state_root = tmp_path_factory.mktemp("bao-state")
    reason = skip_reason(state_root)
    if reason:
        pytest.skip(reason)
    old_env = os.environ.get("SOVPLATFORM_STATE_DIR")
    os.environ["SOVPLATFORM_STATE_DIR"] = str(state_root)
    secrets: list[tuple[str, str]] = []
    original_put = _capture_puts(secrets)
    progress = Progress(Console(file=io.StringIO()))
    progress.__enter__()
    ctx = Context(BP, progress)
    lab = Lab(state_root, ctx, [], secrets)
    try:
        # Hosts and the layers below OpenBao only: the bootstrap itself runs in-process below,
        # where the test can watch every secret it stores (`up` runs the same converge).
        up = lab.sov("up", str(BLUEPRINT), "--yes", "--until", "etcd")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        lab.hosts = lab_for(ctx).contract()
        started = time.monotonic()
        lab.first = lab.converge()
        lab.timings["first_converge_s"] = round(time.monotonic() - started, 1)
        yield lab
    finally:
        SecretStore.put = original_put  # type: ignore[method-assign]
        progress.__exit__(None, None, None)
        lab.sov("down", str(BLUEPRINT), "--yes")
        if old_env is None:
            os.environ.pop("SOVPLATFORM_STATE_DIR", None)
        else:
            os.environ["SOVPLATFORM_STATE_DIR"] = old_env
        print(f"\nt-bao timings: {json.dumps(lab.timings)}")


def _failed(found: list[Any]) -> list[str]:
    return [f"{c.layer} {c.name}: {c.detail}" for c in found if not c.ok]


def test_bootstrap_initialises_once_and_revokes_the_root_token(lab: Lab) -> None:
    boot = lab.first["bootstrap"]
    lab.timings["bootstrap_s"] = boot["seconds"]
    assert boot["initialised"] and boot["root_revoked"], lab.first
    assert sorted(boot["consumers_issued"]) == ["kubernetes", "rgw", "verify", "volumes"]
    state = json.loads((lab.state / "openbao" / "bootstrap.json").read_text())
    assert state["configured"] and state["root_revoked"]
    assert not (lab.state / "openbao" / "root-token.enc").exists()
    # the root token init returned (captured in-process) no longer works on any voter
    roots = [v for k, v in lab.secrets if k == "openbao/root-token"]
    assert len(roots) == 1
    for client in lab.clients().values():
        assert client.get("auth/token/lookup-self", token=roots[0]).status == 403
        assert client.get("sys/mounts", token=roots[0]).status == 403
    # a consumer token works, but only on its own paths
    rgw = openbao.consumer_token(lab.ctx, "rgw")
    active = next(c for c in lab.clients().values() if c.health().status == 200)
    active.token = rgw
    assert checks.roundtrip(active, "transit", "rgw")[0]
    assert not checks.roundtrip(active, "transit", "kubernetes")[0]
    assert active.get("sys/mounts").status == 403


def test_checks_pass(lab: Lab) -> None:
    found = checks.run(lab.check_ctx())
    assert {c.layer for c in found} == {"openbao", "kms"}
    assert not _failed(found), _failed(found)
    assert sum(c.name.endswith("unsealed") and c.layer == "openbao" for c in found) == 3


def _gpg(env: dict[str, str], *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["gpg", "--batch", *args], input=data, env=env, capture_output=True, check=False)


def test_recovery_keys_are_pgp_messages_each_custodian_can_decrypt(lab: Lab, tmp_path: Path) -> None:
    """Each share is an OpenPGP message to exactly its custodian's encryption key.

    The test identities in tests/data/lab-custodians are S2K-protected (their passphrase is not
    in the repository): with SOVPLATFORM_CUSTODIAN_PASSPHRASE set, or with unprotected keys,
    every share is also decrypted; otherwise the recipients are proven from the packets.
    """
    if not shutil.which("gpg"):
        pytest.skip("gpg is not installed")
    doc = json.loads((lab.state / "openbao" / "recovery-keys.json").read_text())
    assert doc["recovery_shares"] == 3 and doc["recovery_threshold"] == 2
    names = [c.name for c in BP.customer_kms.custodians]
    assert [k["custodian"] for k in doc["recovery_keys"]] == names
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subkeys = {}
    for custodian in BP.customer_kms.custodians:
        shown = _gpg(
            env, "--with-colons", "--import-options", "show-only", "--import", data=custodian.pgp_public_key.encode()
        )
        subkeys[custodian.name] = {
            line.split(":")[4] for line in shown.stdout.decode().splitlines() if line.startswith("sub:")
        }
    for secret in sorted(CUSTODIANS.glob("*.secret.asc")):
        assert _gpg(env, "--import", str(secret)).returncode == 0
    passphrase = os.environ.get("SOVPLATFORM_CUSTODIAN_PASSPHRASE")
    protected = "protected" in _gpg(env, "--list-packets", str(next(CUSTODIANS.glob("*.secret.asc")))).stdout.decode()
    plain = []
    for entry in doc["recovery_keys"]:
        message = base64.b64decode(entry["pgp_message_b64"])
        assert message[0] & 0x80, "not an OpenPGP packet"
        packets = _gpg(env, "--list-packets", data=message).stdout.decode()
        recipients = set(re.findall(r"pubkey enc packet: .*keyid ([0-9A-F]{16})", packets))
        assert recipients and recipients <= subkeys[entry["custodian"]], (entry["custodian"], recipients)
        assert "encrypted data packet" in packets or "aead encrypted packet" in packets
        if protected and not passphrase:
            continue
        extra = ["--pinentry-mode", "loopback", "--passphrase", passphrase] if passphrase else []
        out = _gpg(env, *extra, "--decrypt", data=message)
        assert out.returncode == 0, out.stderr.decode()[-500:]
        assert out.stdout.strip()
        plain.append(out.stdout.strip())
    if plain:
        assert len(set(plain)) == 3
        blob = b"".join(p.read_bytes() for p in lab.state.rglob("*") if p.is_file() and p.stat().st_size < 50_000_000)
        assert not any(p in blob for p in plain)


def test_no_secret_in_artifacts_journal_or_host_logs(lab: Lab) -> None:
    secrets = sorted({v for _, v in lab.secrets})
    # unseal keys of the customer KMS, its root token, the seal token, the platform root token,
    # the consumer tokens
    assert len(secrets) >= 3 + 1 + 2 + 1 + 4, len(secrets)
    # The controller's side: everything in the state dir except the encrypted boxes. The lab
    # hosts' disks live under lab/hosts/<name>/root: there only the seal token's own file may
    # hold a secret (on the places where anything is written: /etc, logs, home dirs, tmp).
    hosts_dir = lab.state / "lab" / "hosts"
    controller = [p for p in lab.state.rglob("*") if not p.is_relative_to(hosts_dir)]
    on_hosts = [
        p
        for root in hosts_dir.glob("*/root")
        for sub in ("etc", "var/log", "root", "tmp", "var/tmp", "home")
        for p in (root / sub).rglob("*")
    ]
    leaks = []
    for path in controller + on_hosts:
        if not path.is_file() or path.is_symlink() or path.suffix == ".enc" or path.stat().st_size > 50_000_000:
            continue
        if path.is_relative_to(hosts_dir) and str(path).endswith("/etc/openbao/seal.env"):
            continue
        data = path.read_bytes()
        leaks += [f"{path}" for s in secrets if s.encode() in data]
    assert not leaks, sorted(set(leaks))
    runner = "\n".join(p.read_text(errors="replace") for p in (lab.state / "runner").rglob("*") if p.is_file())
    assert not TOKEN.search(runner)
    ctx = lab.check_ctx()
    pattern = "\n".join(secrets).encode()
    for host in [*checks.voters(lab.ctx.plan.data), "customer-kms"]:
        result = ctx.ssh(host, "journalctl --no-pager -o cat | grep -c -F -f - || true", data=pattern)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "0", f"{host}: a secret is in the journal"
    # the seal token on the voters is root-only
    for host in checks.voters(lab.ctx.plan.data):
        mode = ctx.ssh(host, f"stat -c '%a %U' {openbao.SEAL_ENV_FILE}").stdout.split()
        assert mode == ["600", "root"], (host, mode)


def _started(lab: Lab) -> dict[str, str]:
    ctx = lab.check_ctx()
    return {
        h: ctx.ssh(h, "systemctl show -p ExecMainStartTimestampMonotonic --value openbao").stdout.strip()
        for h in [*checks.voters(lab.ctx.plan.data), "customer-kms"]
    }


def test_second_run_changes_and_restarts_nothing(lab: Lab) -> None:
    before = _started(lab)
    started = time.monotonic()
    again = lab.converge()
    lab.timings["second_converge_s"] = round(time.monotonic() - started, 1)
    assert again["changed"] == 0, again
    assert again["seal_env_on"] == []
    assert not again["bootstrap"]["initialised"] and again["bootstrap"]["consumers_issued"] == []
    assert _started(lab) == before


def test_losing_the_active_site_fails_over_within_seconds(lab: Lab) -> None:
    clients = lab.clients()
    active = next(n for n, c in clients.items() if c.health().status == 200)
    site = BP.host_site()[active]
    token = openbao.consumer_token(lab.ctx, "verify")
    lost_at: list[float] = []

    def watch() -> None:
        while not lost_at:
            if clients[active].health().status != 200:
                lost_at.append(time.monotonic())
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    power = subprocess.Popen(
        [SOV, "lab", "power", "off", str(BLUEPRINT), "--site", site],
        env={**os.environ, "SOVPLATFORM_STATE_DIR": str(lab.state_root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        others = {n: c for n, c in clients.items() if n != active}
        new_active = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and new_active is None:
            for name, client in others.items():
                if client.health().status == 200:
                    client.token = token
                    ok, _ = checks.roundtrip(client, "transit", checks.VERIFY_KEY)
                    if ok:
                        new_active = name
                        break
            time.sleep(0.2)
        found_at = time.monotonic()
        assert new_active, "no surviving voter became active with working transit"
        watcher.join(timeout=5)
        failover = found_at - lost_at[0] if lost_at else 0.0
        lab.timings["failover_s"] = round(failover, 2)
        assert failover <= 12, f"failover took {failover:.1f}s"
    finally:
        power.wait(timeout=300)
        assert lab.sov("lab", "power", "on", str(BLUEPRINT), "--site", site).returncode == 0
    # the site comes back and its voter rejoins unsealed (auto-unseal via the customer KMS)
    openbao.wait_platform_healthy(lab.ctx, lab.hosts, timeout=180)
    assert not _failed(checks.run(lab.check_ctx()))


def test_kill_switch(lab: Lab) -> None:
    started = time.monotonic()
    found = openbao.kill_switch(lab.ctx, lab.hosts)
    lab.timings["kill_switch_s"] = round(time.monotonic() - started, 1)
    names = [c.name for c in found]
    assert "kill switch: every restarted voter stays sealed" in names, names
    assert "kill switch: transit works again" in names, names
    assert not _failed(found), _failed(found)
    assert not _failed(checks.run(lab.check_ctx()))
