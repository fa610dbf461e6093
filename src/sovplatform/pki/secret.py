"""The operator passphrase that protects the platform's secrets at rest in the state dir.

Real substrates (openstack, baremetal) take it from SOVPLATFORM_PASSPHRASE or a terminal
prompt and never store it. The lab is a disposable test cloud that must come up unattended:
when no passphrase is given it generates one and keeps it in the lab's state dir (0600). That
is a documented lab-only exception, not a pattern for real platforms.
"""

from __future__ import annotations

import getpass
import os
import secrets
import sys
from pathlib import Path

from sovplatform.files import write_atomic

ENV = "SOVPLATFORM_PASSPHRASE"
MIN_LENGTH = 12


class PassphraseError(Exception):
    pass


def platform_passphrase(state: Path, substrate: str) -> bytes:
    given = os.environ.get(ENV)
    if given:
        if len(given) < MIN_LENGTH:
            raise PassphraseError(f"{ENV} must be at least {MIN_LENGTH} characters")
        return given.encode()
    if substrate == "lab":
        path = state / "lab" / "passphrase"
        if not path.exists():
            write_atomic(path, secrets.token_urlsafe(32).encode(), mode=0o600)
        return path.read_bytes().strip()
    if sys.stdin.isatty():
        value = getpass.getpass("platform passphrase (protects the CA key at rest): ")
        if len(value) >= MIN_LENGTH:
            return value.encode()
    raise PassphraseError(
        f"set {ENV} (at least {MIN_LENGTH} characters): it encrypts the platform CA key in the state dir"
    )
