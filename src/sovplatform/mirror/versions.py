"""Debian version handling (pure): the plan pins upstream versions, the archive carries Debian
versions with epochs and revisions, and the mirror must pick the one that matches."""

from __future__ import annotations

import functools
import re

# A pinned upstream version must end where the Debian decoration starts: a repack suffix
# ("+ds", "+dfsg", "~rc"), the Debian revision ("-1"), or nothing. Without this boundary
# "16.2.1" would match "16.2.15".
_BOUNDARY = "+-~"


def split_epoch(version: str) -> tuple[int, str]:
    epoch, sep, rest = version.partition(":")
    if sep and epoch.isdigit():
        return int(epoch), rest
    return 0, version


def matches_upstream(wanted: str, debian_version: str) -> bool:
    """True when ``debian_version`` packages upstream ``wanted`` ("" matches anything)."""
    if not wanted:
        return True
    # An explicit epoch in the pin is compared as written; otherwise the epoch is ignored.
    candidate = debian_version if ":" in wanted else split_epoch(debian_version)[1]
    if not candidate.startswith(wanted):
        return False
    rest = candidate[len(wanted) :]
    return rest == "" or rest[0] in _BOUNDARY


def _order(ch: str) -> int:
    # Debian policy ordering of non-digit characters: '~' sorts before everything, even the
    # end of the string; letters sort before other punctuation.
    if ch == "~":
        return -1
    if ch.isalpha():
        return ord(ch)
    return ord(ch) + 256


_DIGITS = re.compile(r"\d*")


def _compare_part(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        # Non-digit run, character by character; the end of a string counts as 0.
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ca = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            cb = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ca != cb:
                return -1 if ca < cb else 1
            i += 1
            j += 1
        # Digit run, numerically; an empty run counts as 0.
        da = _DIGITS.match(a, i)
        db = _DIGITS.match(b, j)
        assert da is not None and db is not None
        na = int(da.group() or 0)
        nb = int(db.group() or 0)
        if na != nb:
            return -1 if na < nb else 1
        i, j = da.end(), db.end()
    return 0


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as Debian orders two versions (epoch, then upstream, then revision)."""
    ea, ra = split_epoch(a)
    eb, rb = split_epoch(b)
    if ea != eb:
        return -1 if ea < eb else 1
    ua, _, reva = ra.rpartition("-") if "-" in ra else (ra, "", "")
    ub, _, revb = rb.rpartition("-") if "-" in rb else (rb, "", "")
    return _compare_part(ua, ub) or _compare_part(reva, revb)


def pick(wanted: str, available: list[str]) -> str | None:
    """The highest available Debian version matching the upstream pin, or None."""
    matching = [v for v in available if matches_upstream(wanted, v)]
    if not matching:
        return None
    return max(matching, key=functools.cmp_to_key(compare))
