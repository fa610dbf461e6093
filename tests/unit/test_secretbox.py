"""secretbox: small secrets at rest under the platform passphrase (scrypt + AES-256-GCM)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sovplatform.secretbox import MAGIC, SecretBoxError, SecretStore, seal, unseal

PASS = b"correct horse battery staple"


def test_round_trip_and_fresh_randomness() -> None:
    a = seal(b"s.root-token-value", PASS, "x")
    b = seal(b"s.root-token-value", PASS, "x")
    assert a != b  # fresh salt and nonce each time
    assert a.startswith(MAGIC)
    assert b"root-token" not in a
    assert unseal(a, PASS, "x") == unseal(b, PASS, "x") == b"s.root-token-value"


@pytest.mark.parametrize(
    ("passphrase", "label"),
    [(b"wrong passphrase!!", "x"), (PASS, "y")],
    ids=["wrong-passphrase", "wrong-label"],
)
def test_wrong_passphrase_or_label_is_refused(passphrase: bytes, label: str) -> None:
    blob = seal(b"secret", PASS, "x")
    with pytest.raises(SecretBoxError):
        unseal(blob, passphrase, label)


def test_tampering_and_foreign_data_are_refused() -> None:
    blob = bytearray(seal(b"secret", PASS))
    blob[-1] ^= 1
    with pytest.raises(SecretBoxError):
        unseal(bytes(blob), PASS)
    with pytest.raises(SecretBoxError):
        unseal(b"plain text", PASS)
    with pytest.raises(SecretBoxError):
        seal(b"x", b"")


def test_store_files_are_private_and_bound_to_their_name(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "kms", PASS, "customer-kms")
    path = store.put("root-token", b"s.abc")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"s.abc" not in path.read_bytes()
    assert store.get_text("root-token") == "s.abc"
    # a box copied under another name does not open there
    store.path("seal-token").write_bytes(path.read_bytes())
    with pytest.raises(SecretBoxError):
        store.get("seal-token")
    # nor in another namespace
    with pytest.raises(SecretBoxError):
        SecretStore(tmp_path / "kms", PASS, "openbao").get("root-token")
    store.delete("root-token")
    assert not store.exists("root-token")
