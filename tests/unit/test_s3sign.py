"""SigV4 signing against the example AWS publishes for S3 (GET Object with a Range header,
in the "Signature Calculations for the Authorization Header" section of the S3 API reference)."""

from __future__ import annotations

import datetime

from sovplatform.s3sign import Credentials, sign

EXAMPLE = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
MOMENT = datetime.datetime(2013, 5, 24, tzinfo=datetime.UTC)


def test_get_object_example_signature() -> None:
    headers = sign(
        "GET", "examplebucket.s3.amazonaws.com", "/test.txt", EXAMPLE, headers={"Range": "bytes=0-9"}, now=MOMENT
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    assert headers["x-amz-date"] == "20130524T000000Z"


def test_a_changed_header_changes_the_signature() -> None:
    plain = sign("PUT", "s3.example", "/b/k", EXAMPLE, b"data", now=MOMENT)
    sse = sign("PUT", "s3.example", "/b/k", EXAMPLE, b"data", {"x-amz-server-side-encryption": "aws:kms"}, now=MOMENT)
    assert plain["authorization"] != sse["authorization"]
    assert "x-amz-server-side-encryption" in sse["authorization"]


def test_the_secret_never_shows_in_a_repr() -> None:
    assert EXAMPLE.secret_key not in repr(EXAMPLE)
