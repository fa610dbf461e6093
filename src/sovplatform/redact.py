"""Keep secrets out of logs, journals and reports."""

from __future__ import annotations

import re
from typing import Any

SECRET_KEYS = re.compile(r"(token|secret|password|passphrase|private|unseal|recovery_key|credential)", re.I)
SECRET_VALUES = [
    re.compile(r"\b(hvs|s|b)\.[A-Za-z0-9_-]{20,}\b"),  # OpenBao/Vault tokens
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"\bAQ[A-Za-z0-9+/]{36}=="),  # cephx keys: 40 base64 characters
]
MASK = "<redacted>"


def redact_text(text: str) -> str:
    for pattern in SECRET_VALUES:
        text = pattern.sub(MASK, text)
    return text


def redact(value: Any, key: str = "") -> Any:
    # A flag or a count under a secret-sounding key ("unsealed": true) tells no secret.
    if key and SECRET_KEYS.search(key) and not isinstance(value, bool | int | float | None):
        return MASK
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
