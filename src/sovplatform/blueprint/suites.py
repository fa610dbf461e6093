"""What each supported Debian suite delivers (pure): the upstream releases of the packaged
components a blueprint pins. ``validate`` checks a blueprint's pins against its suite offline, so
a pin the archive cannot serve is refused before any mirror is built; the mirror build then
checks the archive itself (point releases can move a revision, never the upstream release)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Suite:
    name: str
    release: str  # Debian's release number, as operators say it
    packaged: dict[str, str]  # blueprint `versions` key -> upstream release in the suite


# Trixie (Debian 13, current stable) is the default; bookworm (Debian 12) stays supported so that
# an existing platform can be read, operated and upgraded from it.
SUITES: dict[str, Suite] = {
    "trixie": Suite("trixie", "13", {"ceph": "18.2.7", "haproxy": "3.0.11"}),
    "bookworm": Suite("bookworm", "12", {"ceph": "16.2.15", "haproxy": "2.6.12"}),
}

DEFAULT_SUITE = "trixie"


def packaged_mismatches(suite: str, pins: dict[str, str]) -> list[tuple[str, str, str]]:
    """(key, pinned, packaged) for every pin the suite does not deliver."""
    known = SUITES[suite].packaged
    return [(key, pins[key], want) for key, want in sorted(known.items()) if key in pins and pins[key] != want]
