"""Read-only checks of the KMS layers, from the controller over HTTPS.

layer "openbao" (the platform KMS): every voter unsealed, exactly one active, raft peers = one
voter per site (autopilot state, read with the narrowly scoped verify token made at bootstrap),
the seal is `transit` and points at the customer's KMS endpoint.

layer "kms" (the customer's KMS and the path through it): the customer KMS is unsealed and holds
the seal key, and a transit encrypt/decrypt round trip through the PLATFORM OpenBao works.

Tokens come from the encrypted stores in the state dir (sovplatform.secretbox) and are never
put in a Check's detail.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sovplatform.checks.model import Check, CheckContext
from sovplatform.pki.secret import PassphraseError, platform_passphrase
from sovplatform.secretbox import SecretBoxError, SecretStore

API_PORT = 8200
VERIFY_KEY = "verify"  # platform transit key used only for the round-trip check
CUSTOMER_DIR = "customer-kms"
PLATFORM_DIR = "openbao"


class BaoError(Exception):
    """An OpenBao API call failed; the message never carries a token."""


@dataclass
class Reply:
    status: int  # 0 = no answer (connection refused, timeout, TLS failure)
    data: dict[str, Any]
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class BaoClient:
    """A minimal OpenBao HTTP API client (stdlib only) that verifies TLS against one CA file."""

    url: str  # https://host:port
    cafile: Path
    token: str | None = None
    timeout: float = 10.0

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cafile))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Reply:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url.rstrip("/") + "/v1/" + path.lstrip("/"), data=data, method=method)
        request.add_header("Content-Type", "application/json")
        use = token if token is not None else self.token
        if use:
            request.add_header("X-Vault-Token", use)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context()) as response:
                raw = response.read()
                return Reply(response.status, json.loads(raw) if raw.strip() else {})
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError:
                payload = {}
            errors = payload.get("errors") or [exc.reason]
            return Reply(exc.code, payload, "; ".join(str(e) for e in errors)[:300])
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            return Reply(0, {}, f"no answer: {reason}"[:300])

    def get(self, path: str, **kw: Any) -> Reply:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: dict[str, Any] | None = None, **kw: Any) -> Reply:
        return self.call("POST", path, body if body is not None else {}, **kw)

    def must(self, method: str, path: str, body: dict[str, Any] | None = None, ok: tuple[int, ...] = ()) -> Reply:
        reply = self.call(method, path, body)
        if not (reply.ok or reply.status in ok):
            raise BaoError(f"{method} {self.url}/v1/{path}: {reply.status or 'no answer'} {reply.error}".strip())
        return reply

    def health(self) -> Reply:
        """sys/health with codes that tell the state apart without an error."""
        return self.get("sys/health?standbyok=false&sealedcode=503&uninitcode=501")


def voter_url(address: str) -> str:
    return f"https://{address}:{API_PORT}"


def platform_ca(state: Path) -> Path:
    return state / "pki" / "ca.crt"


def customer_ca(state: Path) -> Path:
    return state / "customer-pki" / "ca.crt"


def stores(state: Path, substrate: str) -> tuple[SecretStore, SecretStore]:
    """(customer KMS store, platform OpenBao store) under the platform passphrase."""
    passphrase = platform_passphrase(state, substrate)
    return (
        SecretStore(state / CUSTOMER_DIR, passphrase, CUSTOMER_DIR),
        SecretStore(state / PLATFORM_DIR, passphrase, PLATFORM_DIR),
    )


def voters(plan: dict[str, Any]) -> list[str]:
    return list(plan["quorums"]["openbao"]["members"])


def roundtrip(client: BaoClient, mount: str, key: str) -> tuple[bool, str]:
    """Encrypt then decrypt a random value with transit; (ok, what went wrong)."""
    value = base64.b64encode(secrets.token_bytes(24)).decode()
    enc = client.post(f"{mount}/encrypt/{key}", {"plaintext": value})
    if not enc.ok:
        return False, f"encrypt: {enc.status or 'no answer'} {enc.error}"
    ciphertext = enc.data.get("data", {}).get("ciphertext", "")
    dec = client.post(f"{mount}/decrypt/{key}", {"ciphertext": ciphertext})
    if not dec.ok:
        return False, f"decrypt: {dec.status or 'no answer'} {dec.error}"
    if dec.data.get("data", {}).get("plaintext") != value:
        return False, "decrypt returned another value"
    return True, f"ciphertext {ciphertext.split(':')[1] if ':' in ciphertext else '?'}"


def _seal_address(ctx: CheckContext, host: str) -> str | None:
    """The seal stanza's address in the voter's configuration (read over SSH)."""
    result = ctx.ssh(host, 'awk \'/^seal "transit"/{s=1} s && $1=="address"{print $3; exit}\' /etc/openbao/openbao.hcl')
    if result.returncode != 0:
        return None
    return result.stdout.strip().strip('"') or None


def _token(store: SecretStore, name: str) -> str | None:
    try:
        return json.loads(store.get(name))["token"] if store.exists(name) else None
    except (SecretBoxError, ValueError, KeyError):
        return None


def run(ctx: CheckContext) -> list[Check]:
    plan = ctx.plan
    members = voters(plan)
    site_of = {h["name"]: h["site"] for h in plan["hosts"]}
    checks: list[Check] = []
    try:
        customer_store, platform_store = stores(ctx.state, plan["substrate"])
    except PassphraseError as exc:
        return [Check("openbao", "secrets", False, f"cannot open the state dir's secrets: {exc}")]

    # --- layer openbao ------------------------------------------------------------------
    active: list[str] = []
    reachable: dict[str, BaoClient] = {}
    for name in members:
        if name not in ctx.hosts:
            checks.append(Check("openbao", f"{name} unsealed", False, "no such host in the substrate's output"))
            continue
        client = BaoClient(voter_url(ctx.address(name)), platform_ca(ctx.state), timeout=5)
        status = client.get("sys/seal-status")
        if not status.ok:
            checks.append(Check("openbao", f"{name} unsealed", False, f"seal-status: {status.status} {status.error}"))
            continue
        sealed = bool(status.data.get("sealed", True))
        checks.append(
            Check(
                "openbao",
                f"{name} unsealed",
                not sealed and bool(status.data.get("initialized")),
                f"sealed={sealed} initialized={status.data.get('initialized')} version={status.data.get('version')}",
            )
        )
        seal_type = status.data.get("type")
        address = _seal_address(ctx, name)
        endpoint = plan["customer_kms"]["endpoint"]
        checks.append(
            Check(
                "openbao",
                f"{name} seal is the customer's transit key",
                seal_type == "transit" and address == endpoint,
                f"type={seal_type} address={address} (want transit at {endpoint})",
            )
        )
        health = client.health()
        if health.status == 200:
            active.append(name)
        if not sealed:
            reachable[name] = client
    checks.append(
        Check("openbao", "exactly one active voter", len(active) == 1, f"active: {', '.join(active) or 'none'}")
    )

    verify = _token(platform_store, "token-verify")
    client = reachable.get(active[0]) if active else next(iter(reachable.values()), None)
    if verify is None:
        checks.append(Check("openbao", "raft peers", False, "no verify token in the state dir (bootstrap not done)"))
    elif client is None:
        checks.append(Check("openbao", "raft peers", False, "no unsealed voter to ask"))
    else:
        client.token = verify
        client.post("auth/token/renew-self")  # periodic token: every check keeps it alive
        state = client.get("sys/storage/raft/autopilot/state")
        if not state.ok:
            checks.append(Check("openbao", "raft peers", False, f"autopilot state: {state.status} {state.error}"))
        else:
            servers = state.data.get("data", state.data).get("servers", {}) or {}
            voting = sorted(s.get("id", k) for k, s in servers.items() if s.get("status") in ("voter", "leader"))
            per_site: dict[str, int] = {}
            for node in voting:
                per_site[site_of.get(node, "?")] = per_site.get(site_of.get(node, "?"), 0) + 1
            want_sites = {site_of[m] for m in members}
            ok = sorted(voting) == sorted(members) and all(per_site.get(s) == 1 for s in want_sites)
            healthy = state.data.get("data", state.data).get("healthy")
            checks.append(
                Check(
                    "openbao",
                    "raft peers: one voter per site",
                    ok,
                    f"voters {', '.join(v + '@' + site_of.get(v, '?') for v in voting) or 'none'}; "
                    f"autopilot healthy={healthy}",
                )
            )

    # --- layer kms ------------------------------------------------------------------------
    kms = plan["customer_kms"]
    customer = BaoClient(kms["endpoint"], customer_ca(ctx.state), timeout=5)
    status = customer.get("sys/seal-status")
    checks.append(
        Check(
            "kms",
            "customer KMS unsealed",
            status.ok and not status.data.get("sealed", True),
            f"{kms['endpoint']}: "
            + (f"sealed={status.data.get('sealed')}" if status.ok else f"{status.status or ''} {status.error}"),
        )
    )
    customer.token = _token(customer_store, "verify-token")
    if customer.token is None:
        checks.append(Check("kms", "customer transit key exists", False, "no customer verify token in the state dir"))
    else:
        customer.post("auth/token/renew-self")
        key = customer.get(f"{kms['mount']}/keys/{kms['transit_key']}")
        checks.append(
            Check(
                "kms",
                "customer transit key exists",
                key.ok,
                f"{kms['mount']}/keys/{kms['transit_key']}: "
                + (f"type {key.data.get('data', {}).get('type')}" if key.ok else f"{key.status} {key.error}"),
            )
        )
    if verify is None or client is None:
        checks.append(Check("kms", "transit round trip through the platform", False, "no verify token or voter"))
    else:
        ok, detail = roundtrip(client, "transit", VERIFY_KEY)
        checks.append(Check("kms", "transit round trip through the platform", ok, detail))
    return checks
