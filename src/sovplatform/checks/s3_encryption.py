"""Encryption at rest for every way a stock S3 client writes, proven with boto3.

Objects are written through the first gateway the way applications do it: with no encryption
header, asking for SSE-S3 (`AES256`), asking for SSE-KMS without a key (the platform's default
key), and naming the key; each once in a single PUT and once as a multipart upload. Each must come
back intact through another site's gateway, and none of the RADOS objects holding it may contain
its plaintext. The kill switch reuses the probe: while the customer's key is revoked every one of
them must be unreadable, and readable again once it is restored.

What "encrypted" means per Ceph release (the gateway role decides the default): with SSE-S3
(Ceph 17 and later) a write that names nothing is stored as SSE-S3 under the bucket's own transit
key; on Ceph 16 it is stored as SSE-KMS under the default key, and an SSE-S3 request is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import shlex
import time
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sovplatform.checks.model import Check, CheckContext
from sovplatform.checks.s3 import DATA_POOL, KMS_KEY_ID, S3_PORT, VERIFY_BUCKET, check_user

# RGW refuses parts under 5 MiB except the last, so two parts need a little more than that.
PART_SIZE = 5 * 1024 * 1024
MULTIPART_SIZE = PART_SIZE + 64 * 1024
SINGLE_SIZE = 64 * 1024
CLIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, BotoCoreError, ClientError)


@dataclass(frozen=True)
class Case:
    label: str  # as the report names it
    slug: str  # part of the object key
    extra: dict[str, str]  # boto3 ExtraArgs
    expect: str  # x-amz-server-side-encryption the object must report


def cases(sse_s3: bool) -> tuple[Case, ...]:
    default = "AES256" if sse_s3 else "aws:kms"
    out = [
        Case("no encryption header", "none", {}, default),
        Case("SSE-KMS, default key", "kms-default", {"ServerSideEncryption": "aws:kms"}, "aws:kms"),
        Case(
            "SSE-KMS, key named", "kms-named", {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KMS_KEY_ID}, "aws:kms"
        ),
    ]
    if sse_s3:
        out.insert(1, Case("SSE-S3", "sse-s3", {"ServerSideEncryption": "AES256"}, "AES256"))
    return tuple(out)


def sse_s3_served(plan: dict[str, Any]) -> bool:
    """Ceph 17 and later serve SSE-S3 (the gateway and ceph_rgw roles decide the same way)."""
    major = str(plan.get("versions", {}).get("ceph", "18")).split(".")[0]
    return major.isdigit() and int(major) >= 17


def _client(address: str, ca_file: str, access: str, secret: str) -> Any:
    options: dict[str, Any] = {
        "signature_version": "s3v4",
        "s3": {"addressing_style": "path"},
        "retries": {"max_attempts": 2, "mode": "standard"},
        "connect_timeout": 10,
        "read_timeout": 30,
    }
    return boto3.client(
        "s3",
        endpoint_url=f"https://{address}:{S3_PORT}",
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        verify=ca_file,
        config=Config(**options),
    )


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


@dataclass
class Written:
    case: Case
    multipart: bool
    key: str
    body: bytes
    marker: str

    @property
    def label(self) -> str:
        return f"{self.case.label}, {'multipart' if self.multipart else 'single PUT'}"


class EncryptionProbe:
    """Objects for every encryption case, written through the first gateway, read through the last."""

    def __init__(self, ctx: CheckContext, access: str, secret: str) -> None:
        plan: dict[str, Any] = ctx.plan
        self.ctx = ctx
        self.gateways = sorted(h["name"] for h in plan["hosts"] if "gateway" in h["roles"])
        self.mon = str(plan["quorums"]["ceph_mon"]["members"][0])
        ca = str(ctx.state / "pki" / "ca.crt")
        self.writer = _client(ctx.address(self.gateways[0]), ca, access, secret)
        self.reader = _client(ctx.address(self.gateways[-1]), ca, access, secret)
        self.transfer = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, use_threads=False)
        self.cases = cases(sse_s3_served(plan))
        self.run_id = secrets.token_hex(4)
        self.written: list[Written] = []

    def _object(self, case: Case, multipart: bool) -> Written:
        marker = f"sovplatform-plaintext-{secrets.token_hex(8)}"
        line = (marker + "\n").encode()
        size = MULTIPART_SIZE if multipart else SINGLE_SIZE
        body = (line * (size // len(line) + 1))[:size]
        key = f"enc-{self.run_id}-{case.slug}-{'mp' if multipart else 'put'}"
        return Written(case, multipart, key, body, marker)

    def write(self) -> list[Check]:
        checks = []
        for case in self.cases:
            for multipart in (False, True):
                w = self._object(case, multipart)
                try:
                    if multipart:
                        self.writer.upload_fileobj(
                            BytesIO(w.body), VERIFY_BUCKET, w.key, ExtraArgs=dict(case.extra), Config=self.transfer
                        )
                    else:
                        self.writer.put_object(Bucket=VERIFY_BUCKET, Key=w.key, Body=w.body, **case.extra)
                    head = self.writer.head_object(Bucket=VERIFY_BUCKET, Key=w.key)
                except CLIENT_ERRORS as exc:
                    checks.append(Check("gateway", f"s3 write: {w.label}", False, _error(exc)))
                    continue
                self.written.append(w)
                sse = head.get("ServerSideEncryption")
                checks.append(
                    Check(
                        "gateway",
                        f"s3 write: {w.label}",
                        sse == case.expect,
                        f"via {self.gateways[0]}: stored with {sse or 'no encryption'} (expected {case.expect})",
                    )
                )
        return checks

    def _read(self, w: Written) -> tuple[bool, str]:
        try:
            got = self.reader.get_object(Bucket=VERIFY_BUCKET, Key=w.key)["Body"].read()
        except CLIENT_ERRORS as exc:
            return False, _error(exc)
        if got == w.body:
            return True, "intact"
        return False, f"{len(got)} of {len(w.body)} bytes, sha256 {hashlib.sha256(got).hexdigest()[:12]}"

    def read(self, prefix: str = "s3 read") -> list[Check]:
        out = []
        for w in self.written:
            ok, what = self._read(w)
            out.append(Check("gateway", f"{prefix}: {w.label}", ok, f"GET via {self.gateways[-1]}: {what}"))
        return out

    def unreadable(self, prefix: str) -> list[Check]:
        out = []
        for w in self.written:
            ok, what = self._read(w)
            out.append(
                Check("kms", f"{prefix}: {w.label}", not ok, "the plaintext came back" if ok else f"refused ({what})")
            )
        return out

    def readable_again(self, prefix: str, wait_s: float) -> list[Check]:
        """Readable once more, waiting up to wait_s for the gateways to take OpenBao back."""
        started = time.monotonic()
        pending = list(self.written)
        while pending and time.monotonic() - started < wait_s:
            pending = [w for w in pending if not self._read(w)[0]]
            if pending:
                time.sleep(1)
        waited = time.monotonic() - started
        return [
            Check(
                "kms",
                f"{prefix}: {w.label}",
                w not in pending,
                f"intact after {waited:.1f}s" if w not in pending else "still unreadable",
            )
            for w in self.written
        ]

    def at_rest(self) -> list[Check]:
        """One SSH round trip: for every object, how many RADOS objects hold it and how many of
        them contain its plaintext marker."""
        lines = []
        for w in self.written:
            lines.append(
                f'n=0; hit=0; for o in $(grep -F -- {shlex.quote("_" + w.key)} "$all"); do n=$((n+1)); '
                f'if rados -p {DATA_POOL} get "$o" - | grep -q -F -- {shlex.quote(w.marker)}; then hit=$((hit+1)); fi; '
                f"done; echo {shlex.quote(w.key)} $n $hit"
            )
        script = (
            f'set -o pipefail; all=$(mktemp); rados -p {DATA_POOL} ls > "$all"; ' + "; ".join(lines) + '; rm -f "$all"'
        )
        result = self.ctx.ssh(self.mon, f"bash -c {shlex.quote(script)}", timeout=120)
        counts: dict[str, tuple[int, int]] = {}
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                counts[parts[0]] = (int(parts[1]), int(parts[2]))
        out = []
        for w in self.written:
            if w.key not in counts:
                detail = f"rados ls/get on {self.mon} failed: {result.stderr.strip()[:200]}"
                out.append(Check("kms", f"at rest, not plaintext: {w.label}", False, detail))
                continue
            n, hits = counts[w.key]
            out.append(
                Check(
                    "kms",
                    f"at rest, not plaintext: {w.label}",
                    n > 0 and hits == 0,
                    f"{n} RADOS object(s) in {DATA_POOL}, {hits} containing the plaintext",
                )
            )
        return out

    def delete(self) -> None:
        for w in self.written:
            with contextlib.suppress(*CLIENT_ERRORS):
                self.writer.delete_object(Bucket=VERIFY_BUCKET, Key=w.key)


def probe_for(ctx: CheckContext) -> EncryptionProbe | Check:
    """A probe, or the failed check saying why there cannot be one."""
    creds = check_user(ctx, "s3 encryption at rest")
    return creds if isinstance(creds, Check) else EncryptionProbe(ctx, creds.access_key, creds.secret_key)


def run(ctx: CheckContext) -> list[Check]:
    probe = probe_for(ctx)
    if isinstance(probe, Check):
        return [probe]
    try:
        return probe.write() + probe.read() + probe.at_rest()
    finally:
        probe.delete()
