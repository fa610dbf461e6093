"""Small secrets at rest in the state dir, encrypted with the platform passphrase.

Used for what the controller must keep but never store in plaintext: the customer KMS's
unseal keys and root token (lab only: there the controller plays the customer), the platform
seal token, and the tokens later consumers (RGW, volumes, Kubernetes) are given.

Format (one file per secret): MAGIC | salt (16) | nonce (12) | AES-256-GCM(ciphertext + tag).
The key is scrypt(passphrase, salt, n=2**15, r=8, p=1); every write draws a fresh salt and
nonce. The label (e.g. "customer-kms/root-token") is authenticated as associated data, so a
blob copied to another name does not decrypt there.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sovplatform.files import write_atomic

MAGIC = b"SOVBOX1\n"
SALT_BYTES = 16
NONCE_BYTES = 12
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SUFFIX = ".enc"


class SecretBoxError(Exception):
    """Wrong passphrase, wrong label, or a damaged/foreign file (never says which part)."""


def _key(passphrase: bytes, salt: bytes) -> bytes:
    if not passphrase:
        raise SecretBoxError("empty passphrase")
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase)


def seal(plaintext: bytes, passphrase: bytes, label: str = "") -> bytes:
    salt = os.urandom(SALT_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    box = AESGCM(_key(passphrase, salt)).encrypt(nonce, plaintext, label.encode())
    return MAGIC + salt + nonce + box


def unseal(blob: bytes, passphrase: bytes, label: str = "") -> bytes:
    header = len(MAGIC) + SALT_BYTES + NONCE_BYTES
    if not blob.startswith(MAGIC) or len(blob) < header + 16:
        raise SecretBoxError("not a sovplatform secret box")
    salt = blob[len(MAGIC) : len(MAGIC) + SALT_BYTES]
    nonce = blob[len(MAGIC) + SALT_BYTES : header]
    try:
        return AESGCM(_key(passphrase, salt)).decrypt(nonce, blob[header:], label.encode())
    except InvalidTag:
        raise SecretBoxError("cannot decrypt: wrong passphrase, wrong label or damaged file") from None


class SecretStore:
    """A directory of secret boxes, named by label (`<dir>/<label>.enc`, mode 0600)."""

    def __init__(self, directory: Path, passphrase: bytes, namespace: str) -> None:
        self.directory = directory
        self.passphrase = passphrase
        self.namespace = namespace

    def path(self, name: str) -> Path:
        return self.directory / f"{name}{SUFFIX}"

    def _label(self, name: str) -> str:
        return f"{self.namespace}/{name}"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def put(self, name: str, value: bytes) -> Path:
        path = self.path(name)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, seal(value, self.passphrase, self._label(name)), mode=0o600)
        return path

    def get(self, name: str) -> bytes:
        return unseal(self.path(name).read_bytes(), self.passphrase, self._label(name))

    def get_text(self, name: str) -> str:
        return self.get(name).decode()

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)
