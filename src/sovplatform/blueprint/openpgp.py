"""Custodian keys read offline at validate time, with gpg in a throwaway home.

OpenBao encrypts each recovery share to a custodian's key only during initialisation, after
every host is built; a key it cannot use would fail there. So `validate` reads each key now:
it must be one OpenPGP public key, not revoked or expired, with a (sub)key able to encrypt.
A private key anywhere in the blueprint is a leaked secret and is refused loudly, never echoed.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache

PUBLIC_ARMOUR = ("-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----END PGP PUBLIC KEY BLOCK-----")
# PGP and PEM private keys (RSA, EC, OpenSSH, PKCS#8, encrypted PKCS#8).
PRIVATE_MARKER = re.compile(r"-----BEGIN (PGP PRIVATE KEY BLOCK|(?:[A-Z0-9]+ )*PRIVATE KEY)-----")
LEAKED = (
    "holds a PRIVATE key: that is a leaked secret. Remove it from the blueprint and its history, "
    "have its owner revoke it, and give only the public key"
)
GPG_TIMEOUT_S = 20


@dataclass(frozen=True)
class KeyFacts:
    fingerprint: str | None  # of the primary key, when gpg could read one
    problems: tuple[str, ...]


def private_key_lines(text: str) -> list[int]:
    """Line numbers (1-based) where a private key begins, anywhere in the file."""
    return [text.count("\n", 0, m.start()) + 1 for m in PRIVATE_MARKER.finditer(text)]


def _run_gpg(text: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="sovplatform-gpg-") as home:
        return subprocess.run(
            [
                "gpg",
                "--homedir",
                home,
                "--batch",
                "--no-tty",
                "--no-autostart",  # reading keys needs no agent; none must outlive the check
                "--with-colons",
                "--fixed-list-mode",
                "--show-keys",
            ],
            input=text,
            capture_output=True,
            text=True,
            timeout=GPG_TIMEOUT_S,
            check=False,
        )


def _usable(record: list[str], now: float) -> bool:
    validity, expires = record[1], record[6]
    if validity in ("r", "e"):
        return False
    return not (expires.isdigit() and int(expires) <= now)


@lru_cache(maxsize=256)
def inspect_key(text: str) -> KeyFacts:
    """What is wrong with one armoured key (nothing: problems is empty). Cached: a blueprint is
    validated by every command, and its keys do not change between them."""
    key = text.strip()
    if PRIVATE_MARKER.search(key):
        return KeyFacts(None, (LEAKED,))
    if not (key.startswith(PUBLIC_ARMOUR[0]) and key.endswith(PUBLIC_ARMOUR[1])):
        return KeyFacts(None, ("expected an ASCII-armoured PGP public key block (recovery keys are encrypted to it)",))
    try:
        result = _run_gpg(key + "\n")
    except FileNotFoundError:
        return KeyFacts(None, ("gpg (GnuPG) is needed to read the key offline; install the gnupg package",))
    except subprocess.TimeoutExpired:
        return KeyFacts(None, (f"gpg did not read the key within {GPG_TIMEOUT_S} s",))
    records = [line.split(":") for line in result.stdout.splitlines()]
    if any(r[0] in ("sec", "ssb") for r in records):
        return KeyFacts(None, (LEAKED,))
    primaries = [i for i, r in enumerate(records) if r[0] == "pub"]
    if result.returncode != 0 or not primaries:
        why = next((line for line in result.stderr.splitlines() if line.startswith("gpg: ")), "")
        why = why.removeprefix("gpg: ").strip()
        return KeyFacts(None, (f"not a readable OpenPGP public key{f' ({why})' if why else ''}",))
    if len(primaries) > 1:
        return KeyFacts(None, (f"holds {len(primaries)} keys; give exactly one key per custodian",))
    pub = records[primaries[0]]
    fingerprint = next((r[9] for r in records if r[0] == "fpr"), None)
    now = time.time()
    if pub[1] == "r":
        return KeyFacts(fingerprint, ("the key is revoked",))
    if pub[6].isdigit() and int(pub[6]) <= now:
        day = time.strftime("%Y-%m-%d", time.gmtime(int(pub[6])))
        return KeyFacts(fingerprint, (f"the key expired on {day}; ask the custodian for a renewed key",))
    if not any(r[0] in ("pub", "sub") and "e" in r[11] and _usable(r, now) for r in records if len(r) > 11):
        return KeyFacts(
            fingerprint, ("the key has no usable (sub)key able to encrypt; recovery shares are encrypted to it",)
        )
    return KeyFacts(fingerprint, ())
