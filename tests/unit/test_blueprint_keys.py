"""Custodian keys are read offline at validate time: one OpenPGP public key each, usable for
encryption, not expired, not shared, and never a private key."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sovplatform.blueprint import BlueprintError, validate_text
from sovplatform.blueprint.openpgp import inspect_key
from tests.helpers import ROOT, dump, lab_dict

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg (GnuPG) is not installed")

SECRETS = ROOT / "tests" / "data" / "lab-custodians"
PAST = "20200101T000000"


class Keyring:
    def __init__(self, home: Path) -> None:
        self.home = home

    def gpg(self, *args: str) -> str:
        base = ["gpg", "--homedir", str(self.home), "--batch", "--no-tty", "--passphrase", "", "--pinentry-mode"]
        return subprocess.run([*base, "loopback", *args], capture_output=True, text=True, check=True, timeout=60).stdout

    def make(self, uid: str, algo: str, usage: str, expire: str, *, faked: str | None = None) -> str:
        when = ["--faked-system-time", faked] if faked else []
        self.gpg(*when, "--quick-generate-key", uid, algo, usage, expire)
        return self.fingerprint(uid)

    def fingerprint(self, uid: str) -> str:
        out = self.gpg("--with-colons", "--list-keys", uid)
        return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr"))

    def export(self, *fprs: str) -> str:
        return self.gpg("--armor", "--export", *fprs)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    ring = Keyring(home)
    try:
        sign_only = ring.make("sign-only@example", "ed25519", "sign", "never")
        expired = ring.make("expired@example", "future-default", "default", "1y", faked=PAST)
        stale_sub = ring.make("stale-subkey@example", "ed25519", "sign", "never", faked=PAST)
        ring.gpg("--faked-system-time", PAST, "--quick-add-key", stale_sub, "cv25519", "encr", "1y")
        good = ring.make("good@example", "future-default", "default", "never")
        yield {
            "sign-only": ring.export(sign_only),
            "expired": ring.export(expired),
            "stale-subkey": ring.export(stale_sub),
            "good": ring.export(good),
            "two": ring.export(good, sign_only),
        }
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False)


def problems_with(*custodian_keys: str) -> list[str]:
    data: dict[str, Any] = lab_dict()
    custodians = data["customer_kms"]["custodians"]
    for i, key in enumerate(custodian_keys):
        custodians[i]["pgp_public_key"] = key
    try:
        validate_text(dump(data))
    except BlueprintError as exc:
        return [p.render() for p in exc.problems]
    return []


def test_the_lab_keys_are_usable() -> None:
    for custodian in lab_dict()["customer_kms"]["custodians"]:
        facts = inspect_key(custodian["pgp_public_key"])
        assert facts.problems == () and facts.fingerprint


def test_a_freshly_made_key_is_accepted(keys: dict[str, str]) -> None:
    assert problems_with(keys["good"]) == []


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("sign-only", "no usable (sub)key able to encrypt"),
        ("stale-subkey", "no usable (sub)key able to encrypt"),
        ("expired", "the key expired on 2020-12-31"),
        ("two", "holds 2 keys; give exactly one key per custodian"),
    ],
)
def test_unusable_keys_are_refused(keys: dict[str, str], name: str, fragment: str) -> None:
    lines = problems_with(keys[name])
    assert any(line.startswith("customer_kms.custodians[0].pgp_public_key: ") and fragment in line for line in lines)


@pytest.mark.parametrize(
    "text",
    [
        "ssh-ed25519 AAAA",
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----",
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n-----END PGP PUBLIC KEY BLOCK-----",
    ],
    ids=["not-armoured", "armoured-garbage", "empty-block"],
)
def test_what_is_not_a_key_is_refused(text: str) -> None:
    lines = problems_with(text)
    assert any(line.startswith("customer_kms.custodians[0].pgp_public_key: ") for line in lines), lines


def test_a_private_key_is_refused_as_a_leak_and_not_echoed() -> None:
    secret = (SECRETS / "two.secret.asc").read_text()
    lines = problems_with(secret)
    assert len(lines) == 1
    assert lines[0].startswith("customer_kms.custodians[0].pgp_public_key: holds a PRIVATE key")
    body = next(line for line in secret.splitlines() if len(line) > 40)
    assert body not in lines[0]


def test_a_private_key_anywhere_is_a_leak() -> None:
    data = lab_dict()
    data["sites"][0]["hosts"][0]["bmc"] = {
        "address": "192.0.2.55",
        "credentials_ref": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n"
        "-----END OPENSSH PRIVATE KEY-----",
    }
    with pytest.raises(BlueprintError) as info:
        validate_text(dump(data))
    (problem,) = info.value.problems
    assert problem.path.startswith("sites[0].hosts[0].bmc") and "PRIVATE key" in problem.message


def test_one_key_for_two_custodians_is_refused() -> None:
    first = lab_dict()["customer_kms"]["custodians"][0]["pgp_public_key"]
    lines = problems_with(first, first)
    assert any(
        line.startswith("customer_kms.custodians[1].pgp_public_key: the same key as customer_kms.custodians[0]")
        for line in lines
    ), lines
