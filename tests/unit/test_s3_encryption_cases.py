"""Which encryption cases `verify` writes, and what each must be stored as, per Ceph release."""

from __future__ import annotations

from sovplatform.checks.s3_encryption import cases, sse_s3_served


def test_ceph_18_serves_sse_s3_and_stores_unlabelled_writes_with_it() -> None:
    assert sse_s3_served({"versions": {"ceph": "18.2.7"}})
    got = {c.slug: c.expect for c in cases(True)}
    assert got == {"none": "AES256", "sse-s3": "AES256", "kms-default": "aws:kms", "kms-named": "aws:kms"}


def test_ceph_16_has_no_sse_s3_so_unlabelled_writes_use_the_default_kms_key() -> None:
    assert not sse_s3_served({"versions": {"ceph": "16.2.15"}})
    got = {c.slug: c.expect for c in cases(False)}
    assert got == {"none": "aws:kms", "kms-default": "aws:kms", "kms-named": "aws:kms"}
