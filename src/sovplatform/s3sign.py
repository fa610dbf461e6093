"""AWS Signature Version 4 for the few S3 requests the platform makes itself (checks, drills).

A full S3 SDK is not worth its weight for PUT/GET of one object; this signs a request the way
RGW verifies it: every header we send is signed, the payload hash is sent in x-amz-content-sha256.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import urllib.parse
from dataclasses import dataclass

REGION = "us-east-1"  # RGW's default zonegroup answers to this region name
SERVICE = "s3"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str

    def __repr__(self) -> str:  # never print the secret half
        return f"Credentials(access_key={self.access_key!r}, secret_key=<hidden>)"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def sign(
    method: str,
    host: str,
    path: str,
    credentials: Credentials,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    query: str = "",
    now: datetime.datetime | None = None,
) -> dict[str, str]:
    """Headers (including Host and Authorization) for one request to `host` (`name[:port]`)."""
    moment = now or datetime.datetime.now(datetime.UTC)
    amz_date, day = moment.strftime("%Y%m%dT%H%M%SZ"), moment.strftime("%Y%m%d")
    payload = hashlib.sha256(body).hexdigest()
    signed_headers = {k.lower(): v.strip() for k, v in (headers or {}).items()}
    signed_headers.update({"host": host, "x-amz-content-sha256": payload, "x-amz-date": amz_date})
    names = sorted(signed_headers)
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
    )
    canonical = "\n".join(
        [
            method,
            urllib.parse.quote(path or "/", safe="/-_.~"),
            canonical_query,
            "".join(f"{k}:{signed_headers[k]}\n" for k in names),
            ";".join(names),
            payload,
        ]
    )
    scope = f"{day}/{REGION}/{SERVICE}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{credentials.secret_key}".encode()
    for part in (day, REGION, SERVICE, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed_headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed_headers
