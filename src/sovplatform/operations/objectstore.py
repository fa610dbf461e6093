"""The S3 layer, for `up`: RADOS Gateways with SSE-KMS on the platform OpenBao, then the gateways.

Controller steps around the playbooks keep secrets out of Ansible (ansible-runner records
command lines and variables):
  1. the `rgw` consumer token of the platform OpenBao is written to every gateway host over SSH
     (/etc/ceph/rgw-kms.token, 0600), then renewed so its period starts afresh;
  2. playbooks/rgw.yml with SSE-KMS on, RGW reaching OpenBao through the service name
     openbao.<platform>.internal (its own host's gateway; common role's /etc/hosts);
  3. the S3 user of `verify`, made with radosgw-admin on a monitor host; its keys are read
     from that command's output and stored only encrypted (checks/s3.py reads them);
  4. playbooks/gateway.yml: HAProxy in front of S3 and OpenBao on every gateway host;
  5. the check's bucket is made (RGW creates its bucket index pool then) and `up` waits until
     every PG is active+clean, so the first `verify` finds a settled cluster.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

from sovplatform import tlshttp
from sovplatform.checks.ceph import wait_pgs_clean
from sovplatform.checks.gateway import backend_states
from sovplatform.checks.model import CheckContext
from sovplatform.checks.openbao import BaoClient, platform_ca, voter_url
from sovplatform.checks.s3 import (
    VERIFY_BUCKET,
    VERIFY_USER,
    S3Client,
    credentials_store,
    ensure_bucket,
    load_credentials,
)
from sovplatform.engine.hostfiles import HostFile, PushError, push
from sovplatform.operations.context import Context
from sovplatform.operations.errors import OperationError
from sovplatform.operations.openbao import consumer_token
from sovplatform.operations.pki import service_name
from sovplatform.operations.playbook import play

RGW_TOKEN_FILE = "/etc/ceph/rgw-kms.token"
GATEWAY_OPENBAO_PORT = 8210


def _gateways(ctx: Context, hosts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = {h["name"] for h in ctx.plan.data["hosts"] if "gateway" in h["roles"]}
    return [h for h in hosts if h["name"] in names]


def ship_rgw_token(ctx: Context, hosts: list[dict[str, Any]]) -> list[str]:
    """Write the rgw token to every gateway host; returns the hosts whose file changed."""
    token = consumer_token(ctx, "rgw")
    gateways = _gateways(ctx, hosts)
    try:
        changed = push(
            gateways,
            {str(h["name"]): [HostFile(RGW_TOKEN_FILE, token.encode(), mode=0o600)] for h in gateways},
            ctx.state / "ssh" / "known_hosts",
        )
    except PushError as exc:
        raise OperationError([f"rgw: {p}" for p in exc.problems]) from None
    # A periodic token lives as long as it is renewed within its period; RGW never renews it.
    by_name = {str(h["name"]): h for h in hosts}
    voter = by_name[str(ctx.plan.data["quorums"]["openbao"]["members"][0])]
    client = BaoClient(voter_url(str(voter["address"])), platform_ca(ctx.state), token=token)
    renewed = client.post("auth/token/renew-self", {})
    if not renewed.ok:
        ctx.progress.update(f"rgw token not renewed ({renewed.status}); it still holds until its period ends")
    return [n for n, paths in changed.items() if paths]


def ensure_verify_user(ctx: Context, hosts: list[dict[str, Any]]) -> bool:
    """Make the S3 user `verify` writes with; returns True when it was (re)made."""
    store = credentials_store(ctx.state, ctx.plan.data["substrate"])
    mon = str(ctx.plan.data["quorums"]["ceph_mon"]["members"][0])
    cctx = CheckContext({str(h["name"]): h for h in hosts}, ctx.plan.data, ctx.state, ctx.state / "ssh" / "known_hosts")
    info = cctx.ssh(mon, f"radosgw-admin user info --uid {VERIFY_USER}", timeout=60)
    if info.returncode == 0 and store.exists(VERIFY_USER):
        return False
    if info.returncode == 0:
        # The user exists but its keys are not in this state dir (a state dir rebuilt): new keys.
        cctx.ssh(mon, f"radosgw-admin user rm --uid {VERIFY_USER} --purge-data", timeout=120)
    made = cctx.ssh(
        mon,
        f"radosgw-admin user create --uid {VERIFY_USER} --display-name 'sovplatform verify' --max-buckets 1",
        timeout=60,
    )
    try:
        keys = json.loads(made.stdout)["keys"][0]
    except (ValueError, KeyError, IndexError):
        problem = f"rgw: cannot create the S3 user {VERIFY_USER} on {mon}: {made.stderr.strip()[:300]}"
        raise OperationError([problem]) from None
    store.put(VERIFY_USER, f"{keys['access_key']}\n{keys['secret_key']}\n".encode())
    return True


def converge(ctx: Context, hosts: list[dict[str, Any]], inventory: Path, extravars: dict[str, Any]) -> dict[str, Any]:
    phases: dict[str, Any] = {}
    t = time.monotonic()
    phases["rgw_kms_file_on"] = ship_rgw_token(ctx, hosts)
    rgw_vars = {
        **extravars,
        "ceph_rgw_kms_enabled": True,
        "ceph_rgw_kms_address": f"https://{service_name('openbao', ctx.blueprint.name)}:{GATEWAY_OPENBAO_PORT}",
        "ceph_rgw_kms_token_file": RGW_TOKEN_FILE,
    }
    phases["changed"] = play(ctx, "rgw.yml", inventory, rgw_vars)
    phases["verify_user_made"] = ensure_verify_user(ctx, hosts)
    phases["rgw_seconds"] = round(time.monotonic() - t, 2)
    t = time.monotonic()
    phases["changed"] += play(ctx, "gateway.yml", inventory, extravars)
    phases["gateway_seconds"] = round(time.monotonic() - t, 2)
    ctx.progress.update("waiting until every gateway has every RGW backend in rotation")
    phases["backends_up_after_s"] = wait_backends_up(ctx, hosts)
    ctx.progress.update("waiting until the gateways serve the check user")
    phases["s3_user_served_after_s"] = wait_user_served(ctx, hosts)
    ctx.progress.update("waiting until no pool is resizing and every PG is active+clean")
    phases["pgs_clean_after_s"] = settle_pools(ctx, hosts)
    return phases


def settle_pools(ctx: Context, hosts: list[dict[str, Any]], timeout: float = 300.0) -> float | None:
    """Make the check's bucket now, so RGW creates its bucket index pool during `up` rather than
    during the first `verify`, then wait until no pool is still splitting or merging its PGs (RGW
    makes its own pools with the autoscaler on) and every PG, that pool's too, is active+clean.
    Seconds waited, or None (verify then reports the PG states)."""
    creds = load_credentials(ctx.state, ctx.plan.data["substrate"])
    gateways = _gateways(ctx, hosts)
    if creds is not None and gateways:
        client = S3Client(
            str(gateways[0]["address"]),
            service_name("s3", ctx.blueprint.name),
            str(ctx.state / "pki" / "ca.crt"),
            creds,
            timeout=20,
        )
        with contextlib.suppress(tlshttp.ERRORS):
            ensure_bucket(client, VERIFY_BUCKET)
    cctx = CheckContext({str(h["name"]): h for h in hosts}, ctx.plan.data, ctx.state, ctx.state / "ssh" / "known_hosts")
    mons = [m for m in ctx.plan.data.get("quorums", {}).get("ceph_mon", {}).get("members", []) if m in cctx.hosts]
    return wait_pgs_clean(cctx, mons[0], timeout) if mons else None


def wait_user_served(ctx: Context, hosts: list[dict[str, Any]], timeout: float = 90.0) -> float | None:
    """Wait until the gateways accept the check user's signed requests: RGW learns about a user
    made with radosgw-admin through its metadata cache, which can lag behind. Seconds waited,
    or None (verify then says what the gateway answers)."""
    creds = load_credentials(ctx.state, ctx.plan.data["substrate"])
    if creds is None:
        return None
    name = service_name("s3", ctx.blueprint.name)
    ca = str(ctx.state / "pki" / "ca.crt")
    clients = [S3Client(str(h["address"]), name, ca, creds, timeout=10) for h in _gateways(ctx, hosts)]
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if all(client.request("GET", "/")[0] == 200 for client in clients):
                return round(time.monotonic() - started, 1)
        except tlshttp.ERRORS:
            pass
        time.sleep(2)
    return None


def wait_backends_up(ctx: Context, hosts: list[dict[str, Any]], timeout: float = 90.0) -> float | None:
    """Wait until every gateway has every backend in rotation: a (re)started HAProxy takes a few
    health checks per backend (rise 2 x inter 2 s) before it forwards anything. Seconds waited,
    or None when some backend stayed down (verify then says which)."""
    cctx = CheckContext({str(h["name"]): h for h in hosts}, ctx.plan.data, ctx.state, ctx.state / "ssh" / "known_hosts")
    names = [str(h["name"]) for h in _gateways(ctx, hosts)]
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        states = [backend_states(cctx, name) for name in names]
        if all(s and all(v.startswith("UP") for v in s.values()) for s in states):
            return round(time.monotonic() - started, 1)
        time.sleep(2)
    return None
