"""The KMS bootstrap, run from the controller: the customer's KMS, the seal token, the platform
OpenBao, and the sovereignty kill switch.

Every secret stays out of Ansible (ansible-runner records command lines and environments): the
controller talks HTTPS to the hosts' management addresses (verifying the platform or customer CA)
and ships the one secret a host needs, the seal token, over SSH (engine/hostfiles.push). What the
controller must keep is stored only encrypted with the platform passphrase (sovplatform.secretbox):

  <state>/customer-kms/   (LAB ONLY: the controller plays the customer)
      unseal-keys.enc      Shamir unseal keys of the customer KMS
      root-token.enc       its root token (the customer's admin credential)
      seal-token.enc       the platform's seal token {token, accessor}
      verify-token.enc     read-only token for checks (reads the seal key's metadata)
  <state>/openbao/
      recovery-keys.json   the platform's recovery keys, each an OpenPGP message to one custodian
                           (plaintext never exists outside OpenBao and the custodian's gpg)
      bootstrap.json       what bootstrap did (no secrets): initialised, configured, root revoked
      token-<consumer>.enc periodic tokens for rgw, volumes, kubernetes, verify
      root-token.enc       only between init and revocation (a crash in between resumes from it)

Re-runs: an initialised customer KMS is only unsealed (if sealed) and its seal token checked;
an initialised, configured platform is skipped: no root token is needed or kept afterwards. An
operator who needs one regenerates it with the custodians' recovery keys
(`bao operator generate-root -init`, then each custodian `bao operator generate-root` with their
decrypted share, then `-decode`), uses it, and revokes it again.

The customer KMS is Shamir-sealed: after a restart it stays sealed until unsealed. In the lab the
controller plays the customer and unseals it in ensure_customer_kms (every `up`, the kill switch
and the test call it); a real customer runs their own KMS with their own unseal procedure.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sovplatform.checks.model import Check, CheckContext
from sovplatform.checks.openbao import (
    VERIFY_KEY,
    BaoClient,
    BaoError,
    customer_ca,
    platform_ca,
    roundtrip,
    stores,
    voter_url,
    voters,
)
from sovplatform.engine.ansible import run_playbook
from sovplatform.engine.hostfiles import HostFile, PushError, push
from sovplatform.files import write_atomic
from sovplatform.operations.context import Context
from sovplatform.operations.errors import OperationError, Refused
from sovplatform.pki.secret import PassphraseError
from sovplatform.secretbox import SecretBoxError, SecretStore

SEAL_ENV_FILE = "/etc/openbao/seal.env"
SERVICE = "openbao"
CUSTOMER_SHARES = 3
CUSTOMER_THRESHOLD = 2
# Periodic tokens never hit a max TTL but must be renewed within the period: the transit seal
# renews its own token; checks renew the verify tokens; consumers renew theirs.
TOKEN_PERIOD = "768h"
SEAL_POLICY = "platform-seal"
CUSTOMER_VERIFY_POLICY = "platform-seal-verify"
PLATFORM_TRANSIT = "transit"
PLATFORM_KV = "kv"
CONSUMER_KEYS = ("rgw", "kubernetes")
# Per-bucket SSE-S3 keys RGW manages itself (the ceph_rgw role's key template starts with it).
SSE_S3_KEY_PREFIX = "sse-s3-"
HEALTH_TIMEOUT_S = 90.0

SELF_SERVICE = """
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
"""


def _policies(transit: str, kv: str) -> dict[str, str]:
    """Least privilege per consumer of the platform OpenBao."""
    return {
        # Ceph RGW SSE-KMS (transit engine): data keys and wrap/unwrap on its own key only.
        "rgw": f"""
path "{transit}/encrypt/rgw" {{ capabilities = ["update"] }}
path "{transit}/decrypt/rgw" {{ capabilities = ["update"] }}
path "{transit}/datakey/plaintext/rgw" {{ capabilities = ["update"] }}
path "{transit}/datakey/wrapped/rgw" {{ capabilities = ["update"] }}
path "{transit}/keys/rgw" {{ capabilities = ["read"] }}
"""
        # SSE-S3 (Ceph 17+): RGW makes one key per bucket, named from the prefix, and deletes it
        # (after setting deletion_allowed in the key's config) when the bucket goes. Confined to
        # that prefix, so the token can never touch the SSE-KMS key or anyone else's.
        + f"""
path "{transit}/keys/{SSE_S3_KEY_PREFIX}*" {{ capabilities = ["create", "read", "update", "delete"] }}
path "{transit}/datakey/plaintext/{SSE_S3_KEY_PREFIX}*" {{ capabilities = ["update"] }}
path "{transit}/decrypt/{SSE_S3_KEY_PREFIX}*" {{ capabilities = ["update"] }}
"""
        + SELF_SERVICE,
        # RBD/LUKS volume passphrases, one kv-v2 entry per volume.
        "volumes": f"""
path "{kv}/data/volumes/*" {{ capabilities = ["create", "read", "update", "delete"] }}
path "{kv}/metadata/volumes/*" {{ capabilities = ["read", "list", "delete"] }}
"""
        + SELF_SERVICE,
        # Kubernetes KMS v2 plugin for Secrets at rest.
        "kubernetes": f"""
path "{transit}/encrypt/kubernetes" {{ capabilities = ["update"] }}
path "{transit}/decrypt/kubernetes" {{ capabilities = ["update"] }}
path "{transit}/keys/kubernetes" {{ capabilities = ["read"] }}
"""
        + SELF_SERVICE,
        # sovplatform verify: raft state and a round trip on a key nobody else uses.
        "verify": f"""
path "sys/storage/raft/autopilot/state" {{ capabilities = ["read"] }}
path "sys/storage/raft/configuration" {{ capabilities = ["read"] }}
path "{transit}/encrypt/{VERIFY_KEY}" {{ capabilities = ["update"] }}
path "{transit}/decrypt/{VERIFY_KEY}" {{ capabilities = ["update"] }}
"""
        + SELF_SERVICE,
    }


# --- helpers --------------------------------------------------------------------------------


def _kms(ctx: Context) -> dict[str, Any]:
    return dict(ctx.plan.data["customer_kms"])


def _stores(ctx: Context) -> tuple[SecretStore, SecretStore]:
    try:
        return stores(ctx.state, ctx.blueprint.substrate.kind)
    except PassphraseError as exc:
        raise Refused([f"openbao: {exc}"]) from None


def _json_secret(store: SecretStore, name: str) -> dict[str, Any] | None:
    if not store.exists(name):
        return None
    try:
        return dict(json.loads(store.get(name)))
    except SecretBoxError:
        raise Refused([f"openbao: the platform passphrase does not decrypt {store.path(name)}"]) from None


def _put_json(store: SecretStore, name: str, value: dict[str, Any]) -> None:
    store.put(name, json.dumps(value).encode())


def _by_name(hosts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(h["name"]): h for h in hosts}


def _check_ctx(ctx: Context, hosts: list[dict[str, Any]]) -> CheckContext:
    return CheckContext(_by_name(hosts), ctx.plan.data, ctx.state, ctx.state / "ssh" / "known_hosts")


def _customer(ctx: Context, token: str | None = None) -> BaoClient:
    return BaoClient(_kms(ctx)["endpoint"], customer_ca(ctx.state), token=token)


def _voter_clients(ctx: Context, hosts: list[dict[str, Any]], token: str | None = None) -> dict[str, BaoClient]:
    by_name = _by_name(hosts)
    return {
        name: BaoClient(voter_url(str(by_name[name]["address"])), platform_ca(ctx.state), token=token, timeout=5)
        for name in voters(ctx.plan.data)
        if name in by_name
    }


def _wait(what: str, probe: Callable[[], bool], timeout: float, interval: float = 1.0) -> float:
    started = time.monotonic()
    while True:
        if probe():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise OperationError([f"openbao: timed out after {timeout:.0f}s waiting for {what}"])
        time.sleep(interval)


def _say(ctx: Context, message: str) -> None:
    ctx.progress.update(message)


def dearmor(armored: str) -> bytes:
    """Binary OpenPGP packets from an ASCII-armoured block (what recovery_pgp_keys wants, base64'd)."""
    lines = armored.strip().splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("-----BEGIN PGP"))
        end = next(i for i, line in enumerate(lines) if line.startswith("-----END PGP"))
    except StopIteration:
        raise ValueError("not an ASCII-armoured OpenPGP block") from None
    body = lines[start + 1 : end]
    while body and body[0].strip() and ":" in body[0]:  # armor headers (Version: …)
        body = body[1:]
    data = [line.strip() for line in body if line.strip() and not line.startswith("=")]
    return base64.b64decode("".join(data), validate=True)


# --- customer KMS (lab: the controller plays the customer) ---------------------------------


def _customer_root(ctx: Context, customer_store: SecretStore) -> str:
    root = _json_secret(customer_store, "root-token")
    if root is None:
        raise OperationError(["customer-kms: initialised, but no root token in the state dir (another controller?)"])
    return str(root["token"])


def unseal_customer_kms(ctx: Context) -> bool:
    """Unseal the customer KMS with the stored Shamir keys if it is sealed; True if it was."""
    customer_store, _ = _stores(ctx)
    client = _customer(ctx)
    _wait("the customer KMS API", lambda: client.get("sys/seal-status").status != 0, 60)
    status = client.get("sys/seal-status")
    if not status.data.get("sealed"):
        return False
    keys = _json_secret(customer_store, "unseal-keys")
    if keys is None:
        raise OperationError(["customer-kms: sealed, and no unseal keys in the state dir"])
    for key in keys["keys"][: int(keys["threshold"])]:
        reply = client.must("POST", "sys/unseal", {"key": key})
        if not reply.data.get("sealed", True):
            break
    return True


def _lookup_accessor(client: BaoClient, accessor: str) -> bool:
    return client.post("auth/token/lookup-accessor", {"accessor": accessor}).ok


def ensure_customer_kms(ctx: Context, hosts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Init (once), unseal, transit mount + seal key, seal policy + token, verify token.

    Idempotent: returns what it did (no secrets). A revoked or expired seal token is replaced by
    a new one (ship it with ship_seal_token).
    """
    customer_store, _ = _stores(ctx)
    kms = _kms(ctx)
    client = _customer(ctx)
    did: dict[str, Any] = {"initialised": False, "unsealed": False, "seal_access": "kept"}
    _wait("the customer KMS API", lambda: client.get("sys/seal-status").status != 0, 90)
    init = client.must("GET", "sys/init")
    if not init.data.get("initialized"):
        if customer_store.exists("root-token"):
            raise Refused(
                [
                    f"customer-kms: {kms['endpoint']} is not initialised but the state dir holds its keys; "
                    f"remove {customer_store.directory} if the customer KMS was rebuilt on purpose"
                ]
            )
        _say(ctx, "customer KMS: initialising (Shamir)")
        reply = client.must(
            "POST", "sys/init", {"secret_shares": CUSTOMER_SHARES, "secret_threshold": CUSTOMER_THRESHOLD}
        )
        _put_json(customer_store, "unseal-keys", {"keys": reply.data["keys_base64"], "threshold": CUSTOMER_THRESHOLD})
        _put_json(customer_store, "root-token", {"token": reply.data["root_token"]})
        did["initialised"] = True
    did["unsealed"] = unseal_customer_kms(ctx)
    client.token = _customer_root(ctx, customer_store)
    _wait("the customer KMS to serve", lambda: client.get("sys/health").status == 200, 60)

    mounts = client.must("GET", "sys/mounts").data
    mounts = mounts.get("data", mounts)
    if f"{kms['mount']}/" not in mounts:
        client.must("POST", f"sys/mounts/{kms['mount']}", {"type": "transit"})
        did["transit"] = "enabled"
    if client.get(f"{kms['mount']}/keys/{kms['transit_key']}").status == 404:
        client.must("POST", f"{kms['mount']}/keys/{kms['transit_key']}", {"type": "aes256-gcm96"})
        did["transit_key"] = "created"
    seal_policy = (
        f'path "{kms["mount"]}/encrypt/{kms["transit_key"]}" {{ capabilities = ["update"] }}\n'
        f'path "{kms["mount"]}/decrypt/{kms["transit_key"]}" {{ capabilities = ["update"] }}\n' + SELF_SERVICE
    )
    verify_policy = f'path "{kms["mount"]}/keys/{kms["transit_key"]}" {{ capabilities = ["read"] }}\n' + SELF_SERVICE
    for name, policy in ((SEAL_POLICY, seal_policy), (CUSTOMER_VERIFY_POLICY, verify_policy)):
        have = client.get(f"sys/policies/acl/{name}")
        if not have.ok or have.data.get("data", {}).get("policy") != policy:
            client.must("PUT", f"sys/policies/acl/{name}", {"policy": policy})
            did[f"policy {name}"] = "written"

    for store_name, policy, display in (
        ("seal-token", SEAL_POLICY, "platform-seal"),
        ("verify-token", CUSTOMER_VERIFY_POLICY, "platform-seal-verify"),
    ):
        have_token = _json_secret(customer_store, store_name)
        if have_token is not None and _lookup_accessor(client, have_token["accessor"]):
            continue
        _store_new_token(client, customer_store, store_name, policy, display)
        if store_name == "seal-token":
            did["seal_access"] = "new"
    return did


def _store_new_token(client: BaoClient, store: SecretStore, store_name: str, policy: str, display: str) -> None:
    """A periodic orphan token with one policy, kept encrypted with its accessor.

    Orphans, so revoking the root token (their creator) does not revoke them.
    """
    reply = client.must(
        "POST",
        "auth/token/create-orphan",
        {
            "policies": [policy],
            "no_default_policy": True,
            "period": TOKEN_PERIOD,
            "renewable": True,
            "display_name": display,
        },
    )
    auth = reply.data["auth"]
    _put_json(store, store_name, {"token": auth["client_token"], "accessor": auth["accessor"]})


# --- seal token on the voters, rolling restarts --------------------------------------------


def _ssh(ctx: Context, hosts: list[dict[str, Any]], host: str, command: str) -> subprocess.CompletedProcess[str]:
    return _check_ctx(ctx, hosts).ssh(host, command, timeout=60)


def service_active(ctx: Context, hosts: list[dict[str, Any]], host: str) -> bool:
    return _ssh(ctx, hosts, host, f"systemctl is-active --quiet {SERVICE}").returncode == 0


def _serving(client: BaoClient) -> bool:
    return client.health().status in (200, 429, 473)


def restart_voter(ctx: Context, hosts: list[dict[str, Any]], host: str, wait: bool = True) -> float:
    """Restart one voter; with wait, block until it serves again (the health gate). Seconds taken."""
    started = time.monotonic()
    result = _ssh(ctx, hosts, host, f"systemctl restart {SERVICE}")
    if result.returncode != 0:
        raise OperationError([f"openbao: restarting {host} failed: {result.stderr.strip()[:200]}"])
    if wait:
        client = _voter_clients(ctx, hosts)[host]
        _wait(f"{host} to serve after its restart", lambda: _serving(client), HEALTH_TIMEOUT_S)
    return time.monotonic() - started


def rolling_restart(ctx: Context, hosts: list[dict[str, Any]], names: list[str]) -> None:
    """One voter at a time, each behind the health gate; standbys first, the active one last."""
    clients = _voter_clients(ctx, hosts)
    active = [n for n in names if clients[n].health().status == 200]
    for name in [n for n in names if n not in active] + active:
        _say(ctx, f"openbao: restarting {name}")
        restart_voter(ctx, hosts, name)


def ship_seal_token(ctx: Context, hosts: list[dict[str, Any]], restart: bool = True) -> list[str]:
    """Write the seal token to every voter (SSH, 0600); restart running voters whose file changed.

    Returns the voters whose file changed.
    """
    customer_store, _ = _stores(ctx)
    seal = _json_secret(customer_store, "seal-token")
    if seal is None:
        raise OperationError(["openbao: no seal token yet; run ensure_customer_kms first"])
    content = f"VAULT_TOKEN={seal['token']}\n".encode()
    by_name = _by_name(hosts)
    targets = [by_name[n] for n in voters(ctx.plan.data) if n in by_name]
    try:
        changed = push(
            targets,
            {str(h["name"]): [HostFile(SEAL_ENV_FILE, content, mode=0o600)] for h in targets},
            ctx.state / "ssh" / "known_hosts",
        )
    except PushError as exc:
        raise OperationError([f"openbao: {p}" for p in exc.problems]) from None
    names = [n for n, paths in changed.items() if paths]
    if restart:
        running = [n for n in names if service_active(ctx, hosts, n)]
        if running:
            rolling_restart(ctx, hosts, running)
    return names


# --- the platform OpenBao --------------------------------------------------------------------


@dataclass
class BootstrapResult:
    initialised: bool = False
    configured: bool = False
    root_revoked: bool = False
    seconds: float = 0.0
    tokens: list[str] = field(default_factory=list)


def _bootstrap_file(ctx: Context) -> Path:
    return ctx.state / "openbao" / "bootstrap.json"


def _bootstrap_state(ctx: Context) -> dict[str, Any]:
    path = _bootstrap_file(ctx)
    return dict(json.loads(path.read_text())) if path.exists() else {}


def _record(ctx: Context, **values: Any) -> None:
    state = {**_bootstrap_state(ctx), **values}
    write_atomic(_bootstrap_file(ctx), (json.dumps(state, indent=2, sort_keys=True) + "\n").encode())


def recovery_keys_file(ctx: Context) -> Path:
    return ctx.state / "openbao" / "recovery-keys.json"


def _active(clients: dict[str, BaoClient]) -> tuple[str, BaoClient] | None:
    for name, client in clients.items():
        if client.health().status == 200:
            return name, client
    return None


def _init_platform(ctx: Context, client: BaoClient, platform_store: SecretStore) -> None:
    kms = _kms(ctx)
    custodians = kms["custodians"]
    threshold = int(kms["recovery_threshold"])
    body = {
        "recovery_shares": len(custodians),
        "recovery_threshold": threshold,
        "recovery_pgp_keys": [base64.b64encode(dearmor(c["pgp_public_key"])).decode() for c in custodians],
    }
    reply = client.must("POST", "sys/init", body)
    # The root token first (encrypted): a crash after this line resumes configuration from it.
    _put_json(platform_store, "root-token", {"token": reply.data["root_token"]})
    shares = reply.data.get("recovery_keys_base64") or []
    if len(shares) != len(custodians):
        raise OperationError([f"openbao: init returned {len(shares)} recovery shares for {len(custodians)} custodians"])
    document = {
        "platform": ctx.blueprint.name,
        "recovery_shares": len(custodians),
        "recovery_threshold": threshold,
        "how_to_read": "each entry is an OpenPGP message for one custodian: base64 -d | gpg --decrypt",
        "recovery_keys": [
            {"custodian": c["name"], "pgp_message_b64": share} for c, share in zip(custodians, shares, strict=True)
        ],
    }
    write_atomic(recovery_keys_file(ctx), (json.dumps(document, indent=2) + "\n").encode(), mode=0o600)
    _record(ctx, initialised=True, configured=False, root_revoked=False, initialised_at=time.time())


def _configure_platform(ctx: Context, client: BaoClient, platform_store: SecretStore) -> list[str]:
    mounts = client.must("GET", "sys/mounts").data
    mounts = mounts.get("data", mounts)
    if f"{PLATFORM_TRANSIT}/" not in mounts:
        client.must("POST", f"sys/mounts/{PLATFORM_TRANSIT}", {"type": "transit"})
    if f"{PLATFORM_KV}/" not in mounts:
        client.must("POST", f"sys/mounts/{PLATFORM_KV}", {"type": "kv", "options": {"version": "2"}})
    for key in (*CONSUMER_KEYS, VERIFY_KEY):
        if client.get(f"{PLATFORM_TRANSIT}/keys/{key}").status == 404:
            client.must("POST", f"{PLATFORM_TRANSIT}/keys/{key}", {"type": "aes256-gcm96"})
    made = []
    for name, policy in _policies(PLATFORM_TRANSIT, PLATFORM_KV).items():
        client.must("PUT", f"sys/policies/acl/{name}", {"policy": policy})
        store_name = f"token-{name}"
        have = _json_secret(platform_store, store_name)
        if have is not None and _lookup_accessor(client, have["accessor"]):
            continue
        _store_new_token(client, platform_store, store_name, name, f"sovplatform-{name}")
        made.append(name)
    return made


def wait_platform_healthy(ctx: Context, hosts: list[dict[str, Any]], timeout: float = HEALTH_TIMEOUT_S) -> float:
    """Every voter unsealed and exactly one active; returns the seconds it took."""
    clients = _voter_clients(ctx, hosts)

    def healthy() -> bool:
        codes = [c.health().status for c in clients.values()]
        return codes.count(200) == 1 and all(code in (200, 429) for code in codes)

    return _wait("every voter unsealed with one active", healthy, timeout)


def wait_raft_voters(ctx: Context, hosts: list[dict[str, Any]], timeout: float = 120) -> float:
    """Every planned voter is a raft voter and autopilot calls the cluster healthy.

    Joining nodes start as non-voters; autopilot promotes them once they have been stable for its
    server_stabilization_time (10 s by default). Read with the verify token.
    """
    token = consumer_token(ctx, "verify")
    clients = _voter_clients(ctx, hosts, token=token)
    want = sorted(voters(ctx.plan.data))

    def promoted() -> bool:
        found = _active(clients)
        if found is None:
            return False
        reply = found[1].get("sys/storage/raft/autopilot/state")
        data = reply.data.get("data", reply.data) if reply.ok else {}
        servers = data.get("servers", {}) or {}
        have = sorted(s.get("id", k) for k, s in servers.items() if s.get("status") in ("voter", "leader"))
        return have == want and bool(data.get("healthy"))

    return _wait("every planned voter to be a healthy raft voter", promoted, timeout)


def bootstrap_platform(ctx: Context, hosts: list[dict[str, Any]]) -> BootstrapResult:
    """Initialise the platform OpenBao once, configure it with the root token, revoke the token."""
    started = time.monotonic()
    _, platform_store = _stores(ctx)
    result = BootstrapResult()
    clients = _voter_clients(ctx, hosts)
    if not clients:
        raise OperationError(["openbao: none of the planned voters is among the hosts"])
    first_name, first = next(iter(clients.items()))
    _wait("the voters' API", lambda: all(c.get("sys/seal-status").status != 0 for c in clients.values()), 90)
    if not first.must("GET", "sys/init").data.get("initialized"):
        if recovery_keys_file(ctx).exists():
            raise Refused(
                [
                    "openbao: the cluster is not initialised but the state dir holds recovery keys of an earlier "
                    f"one; move {recovery_keys_file(ctx).parent} away if the cluster was rebuilt on purpose"
                ]
            )
        _say(ctx, f"openbao: initialising on {first_name} (recovery keys to {len(_kms(ctx)['custodians'])} custodians)")
        _init_platform(ctx, first, platform_store)
        result.initialised = True
    state = _bootstrap_state(ctx)
    root = _json_secret(platform_store, "root-token")
    if state.get("configured") and root is None:
        wait_platform_healthy(ctx, hosts)
        wait_raft_voters(ctx, hosts)
        result.configured = True
        result.root_revoked = bool(state.get("root_revoked"))
        result.seconds = round(time.monotonic() - started, 2)
        return result
    if root is None:
        raise OperationError(
            [
                "openbao: the cluster is initialised but not configured, and no root token is kept; "
                "regenerate one with the custodians' recovery keys (bao operator generate-root) and set "
                "it up by hand, or rebuild the cluster"
            ]
        )
    _say(ctx, "openbao: waiting for the voters to join and unseal")
    wait_platform_healthy(ctx, hosts, timeout=180)
    found = _active(clients)
    if found is None:
        raise OperationError(["openbao: no active voter"])
    _, client = found
    client.token = str(root["token"])
    _say(ctx, "openbao: transit, kv-v2, policies and consumer tokens")
    result.tokens = _configure_platform(ctx, client, platform_store)
    _record(ctx, configured=True)
    # Least privilege from here on: nobody holds a root token.
    client.must("POST", "auth/token/revoke-self", ok=(403,))
    if client.get("auth/token/lookup-self").status != 403:
        raise OperationError(["openbao: the root token still works after revoke-self"])
    platform_store.delete("root-token")
    _record(ctx, root_revoked=True, root_revoked_at=time.time())
    _say(ctx, "openbao: waiting for autopilot to promote every voter")
    wait_raft_voters(ctx, hosts)
    result.configured = result.root_revoked = True
    result.seconds = round(time.monotonic() - started, 2)
    return result


def consumer_token(ctx: Context, consumer: str) -> str:
    """The periodic token of one consumer (rgw, volumes, kubernetes, verify), decrypted, for
    pushing to its hosts with engine/hostfiles.push. Never log it or pass it to Ansible."""
    _, platform_store = _stores(ctx)
    token = _json_secret(platform_store, f"token-{consumer}")
    if token is None:
        raise OperationError([f"openbao: no token for {consumer!r}; bootstrap_platform makes them"])
    return str(token["token"])


# --- the whole layer, for `up` ---------------------------------------------------------------


def converge(ctx: Context, hosts: list[dict[str, Any]], inventory: Path, extravars: dict[str, Any]) -> dict[str, Any]:
    """playbooks/openbao.yml with the controller steps in between (see that playbook's header).

    `extravars` are the ones `up` gives site.yml (sov_mirror_url is what these roles need).
    Returns per-step seconds and the changed task count.
    """
    phases: dict[str, Any] = {"changed": 0}

    def play(limit: str) -> None:
        started = time.monotonic()
        result = run_playbook(
            "openbao.yml", inventory, ctx.state / "runner", ctx.progress, extravars=extravars, limit=limit
        )
        if not result.ok:
            raise OperationError(
                [f.render() for f in result.failures] or [f"openbao.yml ended with status {result.status}"],
                hint=f"full log: {result.log}",
            )
        phases["changed"] += result.changed_total
        phases[f"play {limit}"] = round(time.monotonic() - started, 2)

    play("customer_kms")
    t = time.monotonic()
    phases["customer_kms_setup"] = ensure_customer_kms(ctx, hosts)
    phases["seal_env_on"] = ship_seal_token(ctx, hosts)
    phases["customer_kms_seconds"] = round(time.monotonic() - t, 2)
    play("openbao_voters")
    result = bootstrap_platform(ctx, hosts)
    phases["bootstrap"] = {
        "initialised": result.initialised,
        "root_revoked": result.root_revoked,
        "seconds": result.seconds,
        "consumers_issued": result.tokens,
    }
    return phases


# --- the sovereignty kill switch -------------------------------------------------------------


def _sealed_or_down(client: BaoClient) -> bool:
    status = client.get("sys/seal-status")
    return status.status == 0 or bool(status.data.get("sealed", True))


def kill_switch(
    ctx: Context,
    hosts: list[dict[str, Any]],
    hold_s: float = 20.0,
    while_sealed: Callable[[], list[Check]] | None = None,
) -> list[Check]:
    """Prove the customer's key is the root of trust, then restore.

    1. The customer revokes the platform's seal token (what a customer does to withdraw
       consent: the token is its only credential for the seal key).
    2. A running voter keeps its keys in memory, so the revocation bites at the next start:
       every voter is restarted, standbys first, and each must stay sealed for `hold_s`
       seconds. `while_sealed` then runs (e.g. reading an SSE-KMS object must fail).
    3. The customer issues a new seal token; it is shipped to every voter and they restart one
       at a time: all unsealed, one active, transit works again.
    """
    checks: list[Check] = []
    customer_store, platform_store = _stores(ctx)
    unseal_customer_kms(ctx)
    customer = _customer(ctx, _customer_root(ctx, customer_store))
    seal = _json_secret(customer_store, "seal-token")
    if seal is None:
        return [Check("kms", "kill switch", False, "no seal token in the state dir (bootstrap not done)")]
    clients = _voter_clients(ctx, hosts)
    try:
        wait_platform_healthy(ctx, hosts, timeout=30)
    except OperationError as exc:
        return [Check("kms", "kill switch: platform healthy before", False, "; ".join(exc.problems))]
    active = [n for n, c in clients.items() if c.health().status == 200]
    victims = [n for n in clients if n not in active] + active

    revoked = customer.post("auth/token/revoke-accessor", {"accessor": seal["accessor"]})
    gone = not _lookup_accessor(customer, seal["accessor"])
    checks.append(
        Check(
            "kms",
            "kill switch: customer revokes the seal token",
            revoked.ok and gone,
            f"revoke-accessor {revoked.status}; token {'gone' if gone else 'still valid'}",
        )
    )
    restore_problems: list[str] = []
    try:
        since = int(time.time())
        for victim in victims:
            _say(ctx, f"openbao: restarting {victim} without a valid seal token")
            _ssh(ctx, hosts, victim, f"systemctl restart {SERVICE}")
        start = time.monotonic()
        samples = 0
        unsealed: set[str] = set()
        while time.monotonic() - start < hold_s:
            samples += 1
            unsealed |= {n for n in victims if not _sealed_or_down(clients[n])}
            time.sleep(1)
        # OpenBao refuses to start when the seal cannot encrypt/decrypt with the customer's key
        # ("Error configuring seal"): the node cannot unseal, which is the point.
        refused = [
            n
            for n in victims
            if "403"
            in _ssh(
                ctx,
                hosts,
                n,
                f"journalctl -u {SERVICE} --since @{since} --no-pager -o cat | grep -A3 -m1 'Error configuring seal'",
            ).stdout
        ]
        checks.append(
            Check(
                "kms",
                "kill switch: every restarted voter stays sealed",
                not unsealed,
                f"{len(victims)} voter(s) restarted, {samples} probes over {hold_s:.0f}s; "
                + (f"UNSEALED: {', '.join(sorted(unsealed))}" if unsealed else "none unsealed")
                + f"; customer KMS answered 403 to {len(refused)} of them",
            )
        )
        if while_sealed is not None:
            checks += while_sealed()
    finally:
        # Restore whatever happened above: a new token from the customer, shipped, rolled out.
        try:
            ensure_customer_kms(ctx, hosts)
            t = time.monotonic()
            ship_seal_token(ctx, hosts, restart=False)
            rolling_restart(ctx, hosts, victims)
            took = wait_platform_healthy(ctx, hosts)
            detail = (
                f"new seal token on {len(victims)} voter(s); healthy {time.monotonic() - t:.1f}s after ({took:.1f}s)"
            )
        except (OperationError, BaoError) as exc:
            restore_problems = getattr(exc, "problems", [str(exc)])
            detail = "; ".join(restore_problems)
    checks.append(Check("kms", "kill switch: restored with a new seal token", not restore_problems, detail))
    if not restore_problems:
        verify = _json_secret(platform_store, "token-verify")
        found = _active(clients)
        if verify and found:
            found[1].token = str(verify["token"])
            ok, what = roundtrip(found[1], PLATFORM_TRANSIT, VERIFY_KEY)
        else:
            ok, what = False, "no verify token or no active voter"
        checks.append(Check("kms", "kill switch: transit works again", ok, what))
    return checks


def journal_safe(value: Any) -> str:
    """For callers that log a step: a compact, secret-free rendering."""
    text = json.dumps(value, sort_keys=True, default=str)
    return re.sub(r"\b(hvs|s|b)\.[A-Za-z0-9_-]{20,}\b", "<redacted>", text)
