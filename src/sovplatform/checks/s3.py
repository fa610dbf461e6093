"""S3 with SSE-KMS, end to end: an object written through one gateway (TLS, verified against the
platform CA under the S3 service name) with SSE-KMS on the platform OpenBao's `rgw` transit key,
read back intact through another site's gateway; its bytes at rest in RADOS hold no plaintext.

The check writes one object under a bucket of its own and deletes it afterwards. Its S3 user's
keys live in the state dir, encrypted (operations/objectstore.py makes them).
"""

from __future__ import annotations

import contextlib
import http.client
import secrets
import shlex
import ssl
import time
from pathlib import Path
from typing import Any

from sovplatform import tlshttp
from sovplatform.checks.model import Check, CheckContext
from sovplatform.operations.pki import service_name
from sovplatform.pki.secret import PassphraseError, platform_passphrase
from sovplatform.s3sign import Credentials, sign
from sovplatform.secretbox import SecretBoxError, SecretStore

S3_PORT = 9443
STORE_DIR = "s3"
VERIFY_USER = "sovplatform-verify"
VERIFY_BUCKET = "sovplatform-verify"
KMS_KEY_ID = "rgw"  # the platform OpenBao transit key RGW's token may use (operations/openbao.py)
DATA_POOL = "default.rgw.buckets.data"


def credentials_store(state: Path, substrate: str) -> SecretStore:
    return SecretStore(state / STORE_DIR, platform_passphrase(state, substrate), STORE_DIR)


def load_credentials(state: Path, substrate: str) -> Credentials | None:
    store = credentials_store(state, substrate)
    if not store.exists(VERIFY_USER):
        return None
    access, _, secret = store.get_text(VERIFY_USER).partition("\n")
    return Credentials(access, secret.strip())


class S3Client:
    """One gateway, TLS verified against the platform CA under the S3 service name."""

    def __init__(self, address: str, server_name: str, ca_file: str, creds: Credentials, timeout: float = 20):
        self.address, self.server_name, self.creds, self.timeout = address, server_name, creds, timeout
        self.context = ssl.create_default_context(cafile=ca_file)

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        signed = sign(method, self.server_name, path, self.creds, body, headers)
        return tlshttp.request(
            self.address, S3_PORT, self.server_name, self.context, method, path, signed, body, self.timeout
        )


def sse_kms_headers() -> dict[str, str]:
    return {"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY_ID}


def ensure_bucket(client: S3Client, bucket: str) -> tuple[bool, str]:
    status, _, _ = client.request("HEAD", f"/{bucket}")
    if status == 200:
        return True, "bucket exists"
    status, _, data = client.request("PUT", f"/{bucket}")
    # 409 BucketAlreadyOwnedByYou: made by an earlier run, which is fine.
    ok = status == 200 or (status == 409 and b"BucketAlreadyOwnedByYou" in data)
    return ok, f"PUT bucket: {status} {data[:200]!r}"


def _rados_holds(ctx: CheckContext, mon: str, name: str, marker: str) -> tuple[int, int, str]:
    """(RADOS objects of the S3 object, how many of them contain the marker, problem)."""
    script = (
        f"set -o pipefail; n=0; hit=0; for o in $(rados -p {DATA_POOL} ls | grep -F -- {shlex.quote('_' + name)}); "
        f'do n=$((n+1)); if rados -p {DATA_POOL} get "$o" - | grep -q -F -- {shlex.quote(marker)}; '
        "then hit=$((hit+1)); fi; done; echo $n $hit"
    )
    result = ctx.ssh(mon, f"bash -c {shlex.quote(script)}", timeout=60)
    try:
        count, hits = (int(x) for x in result.stdout.split())
    except ValueError:
        return 0, 0, f"rados ls/get on {mon} failed: {result.stderr.strip()[:200]}"
    return count, hits, ""


class SseProbe:
    """One SSE-KMS object: written through the first gateway, read through the last one."""

    def __init__(self, ctx: CheckContext, creds: Credentials) -> None:
        plan: dict[str, Any] = ctx.plan
        self.ctx = ctx
        self.gateways = sorted(h["name"] for h in plan["hosts"] if "gateway" in h["roles"])
        self.mon = str(plan["quorums"]["ceph_mon"]["members"][0])
        name = service_name("s3", plan["platform"])
        ca = str(ctx.state / "pki" / "ca.crt")
        self.writer = S3Client(ctx.address(self.gateways[0]), name, ca, creds)
        self.reader = S3Client(ctx.address(self.gateways[-1]), name, ca, creds)
        self.key = f"verify-{secrets.token_hex(6)}"
        self.marker = f"sovplatform-plaintext-{secrets.token_hex(8)}"
        self.body = (self.marker + "\n").encode() * 256
        self.path = f"/{VERIFY_BUCKET}/{self.key}"

    def write(self) -> Check:
        try:
            ok, what = ensure_bucket(self.writer, VERIFY_BUCKET)
            if not ok:
                return Check("gateway", "s3 sse-kms write", False, what)
            status, headers, data = self.writer.request("PUT", self.path, self.body, sse_kms_headers())
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            return Check("gateway", "s3 sse-kms write", False, f"{type(exc).__name__}: {exc}")
        sse = headers.get("x-amz-server-side-encryption")
        return Check(
            "gateway",
            "s3 sse-kms write",
            status == 200 and sse == "aws:kms",
            f"PUT via {self.gateways[0]}: {status} (sse={sse})" + ("" if status == 200 else f" {data[:300]!r}"),
        )

    def _get(self) -> tuple[int, bytes]:
        try:
            status, _, got = self.reader.request("GET", self.path)
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            return 0, f"{type(exc).__name__}: {exc}".encode()
        return status, got

    def read(self, name: str, expect_readable: bool = True, wait_s: float = 0.0) -> Check:
        """GET through the last gateway; with wait_s, retry until readable (a KMS coming back:
        the gateways take a few health checks to put its backends in rotation again)."""
        started = time.monotonic()
        status, got = self._get()
        while expect_readable and not (status == 200 and got == self.body) and time.monotonic() - started < wait_s:
            time.sleep(1)
            status, got = self._get()
        intact = status == 200 and got == self.body
        if expect_readable:
            what = "intact" if intact else f"{len(got)} of {len(self.body)} bytes, not the object"
            waited = f" after {time.monotonic() - started:.1f}s" if wait_s else ""
            return Check("gateway", name, intact, f"GET via {self.gateways[-1]}: {status}, {what}{waited}")
        return Check(
            "kms",
            name,
            not intact and status != 200,
            f"GET via {self.gateways[-1]}: {status}" + (" - the plaintext came back" if intact else ", refused"),
        )

    def at_rest(self) -> Check:
        count, hits, problem = _rados_holds(self.ctx, self.mon, self.key, self.marker)
        return Check(
            "kms",
            "s3 object bytes at rest are not plaintext",
            not problem and count > 0 and hits == 0,
            problem or f"{count} RADOS object(s) in {DATA_POOL}, {hits} containing the plaintext",
        )

    def delete(self) -> None:
        with contextlib.suppress(OSError, ssl.SSLError, http.client.HTTPException):
            self.writer.request("DELETE", self.path)


def check_user(ctx: CheckContext, check_name: str) -> Credentials | Check:
    """The S3 check user's keys, or the failed check saying why there are none to probe with."""
    plan: dict[str, Any] = ctx.plan
    try:
        creds = load_credentials(ctx.state, plan["substrate"])
    except (PassphraseError, SecretBoxError) as exc:
        return Check("gateway", check_name, False, f"cannot open the S3 check's keys: {exc}")
    if creds is None or not any("gateway" in h["roles"] for h in plan["hosts"]):
        return Check("gateway", check_name, False, "no S3 check user yet (made by `up`)")
    return creds


def probe_for(ctx: CheckContext) -> SseProbe | Check:
    """A probe, or the failed check saying why there cannot be one."""
    creds = check_user(ctx, "s3 sse-kms round trip")
    return creds if isinstance(creds, Check) else SseProbe(ctx, creds)


def run(ctx: CheckContext) -> list[Check]:
    probe = probe_for(ctx)
    if isinstance(probe, Check):
        return [probe]
    try:
        written = probe.write()
        if not written.ok:
            return [Check("gateway", "s3 sse-kms round trip", False, written.detail)]
        read = probe.read("s3 sse-kms round trip")
        round_trip = Check("gateway", read.name, read.ok, f"{written.detail}; {read.detail}")
        return [round_trip, probe.at_rest()]
    finally:
        probe.delete()
