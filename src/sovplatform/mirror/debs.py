"""Resolving and downloading the deb closure with apt in a private root.

The private root (own config, lists, and an EMPTY dpkg status) makes apt resolve as for a host
with nothing installed, so the mirror alone can install every package; the machine's own apt
state and configuration are never read or written.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sovplatform.mirror import tools, versions
from sovplatform.mirror.binaries import sha256_file
from sovplatform.mirror.errors import MirrorError
from sovplatform.mirror.layout import apt_archive_name

DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
UPDATE_MAX_AGE_S = 6 * 3600


@dataclass(frozen=True)
class DebianSources:
    suite: str = "bookworm"
    archive: str = "http://deb.debian.org/debian"
    security: str = "http://deb.debian.org/debian-security"
    keyring: str = DEBIAN_KEYRING
    arch: str = "amd64"

    def lines(self) -> list[str]:
        opts = f"[arch={self.arch} signed-by={self.keyring}]"
        return [
            f"deb {opts} {self.archive} {self.suite} main",
            f"deb {opts} {self.archive} {self.suite}-updates main",
            f"deb {opts} {self.security} {self.suite}-security main",
        ]


@dataclass(frozen=True, order=True)
class ResolvedDeb:
    name: str
    version: str
    arch: str

    @property
    def archive_name(self) -> str:
        return apt_archive_name(self.name, self.version, self.arch)


# "Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64]) []"
_INST = re.compile(r"^Inst (?P<name>[^\s:]+)(?::\S+)? \((?P<version>\S+) .*\[(?P<arch>[^\]]+)\]\)")


def parse_madison(text: str) -> dict[str, list[str]]:
    """`apt-cache madison` output → package → versions (duplicates across suites merged)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or not parts[2].endswith("Packages"):
            continue
        versions_ = found.setdefault(parts[0], [])
        if parts[1] not in versions_:
            versions_.append(parts[1])
    return found


def parse_simulation(text: str) -> list[ResolvedDeb]:
    out = []
    for line in text.splitlines():
        m = _INST.match(line)
        if m:
            out.append(ResolvedDeb(m["name"], m["version"], m["arch"]))
    return sorted(out)


class AptRoot:
    """apt confined to ``root`` (lists, config, status) and ``archives`` (shared .deb cache)."""

    def __init__(self, root: Path, archives: Path, sources: DebianSources) -> None:
        self.root = root
        self.archives = archives
        self.sources = sources
        self.config = root / "apt.conf"
        self._stamp = root / "updated"

    def prepare(self) -> None:
        for sub in (
            "etc/apt.conf.d",
            "etc/sources.list.d",
            "etc/preferences.d",
            "etc/trusted.gpg.d",
            "state/lists/partial",
            "cache",
            "dpkg",
        ):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.archives / "partial").mkdir(parents=True, exist_ok=True)
        status = self.root / "dpkg" / "status"
        # Empty: resolve as for a host with nothing installed. Rewritten only when needed, since
        # a new mtime makes apt rebuild its 37 MB package cache (~1 s per call).
        if not status.exists() or status.stat().st_size:
            status.write_text("")
        sources = "\n".join(self.sources.lines()) + "\n"
        if not (self.root / "etc/sources.list").exists() or (self.root / "etc/sources.list").read_text() != sources:
            (self.root / "etc/sources.list").write_text(sources)
            self._stamp.unlink(missing_ok=True)
        r = self.root
        # APT_CONFIG is read before /etc/apt/apt.conf.d, and redirects Dir::Etc itself, so none of
        # the machine's apt configuration (proxies aside from the environment) leaks in.
        self.config.write_text(
            "\n".join(
                [
                    f'Dir::Etc "{r}/etc/";',
                    'Dir::Etc::main "apt.conf";',
                    'Dir::Etc::parts "apt.conf.d/";',
                    'Dir::Etc::sourcelist "sources.list";',
                    'Dir::Etc::sourceparts "sources.list.d/";',
                    'Dir::Etc::preferences "preferences";',
                    'Dir::Etc::preferencesparts "preferences.d/";',
                    'Dir::Etc::trusted "trusted.gpg";',
                    'Dir::Etc::trustedparts "trusted.gpg.d/";',
                    f'Dir::State "{r}/state/";',
                    f'Dir::State::status "{status}";',
                    f'Dir::Cache "{r}/cache/";',
                    f'Dir::Cache::archives "{self.archives}/";',
                    f'APT::Architecture "{self.sources.arch}";',
                    f'APT::Architectures {{ "{self.sources.arch}"; }};',
                    # Root downloads as root: the _apt sandbox user cannot write into a user's cache.
                    'APT::Sandbox::User "root";',
                    'APT::Install-Recommends "false";',
                    'APT::Get::Assume-Yes "true";',
                    # A failed index download must fail the build, not leave stale lists in use.
                    'APT::Update::Error-Mode "any";',
                    'Acquire::Languages "none";',
                    'Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";',
                    'Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";',
                    'Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled "false";',
                    'Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled "false";',
                    'Acquire::Retries "1";',
                    "",
                ]
            )
        )

    @property
    def env(self) -> dict[str, str]:
        return {"APT_CONFIG": str(self.config), "LC_ALL": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}

    def fresh(self, max_age_s: float = UPDATE_MAX_AGE_S) -> bool:
        try:
            return time.time() - self._stamp.stat().st_mtime < max_age_s
        except FileNotFoundError:
            return False

    def update(self) -> None:
        self._stamp.unlink(missing_ok=True)
        tools.run(["apt-get", "update", "-q"], "apt-get update (Debian archive)", env=self.env)
        self._stamp.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))

    def available(self, names: list[str]) -> dict[str, list[str]]:
        out = tools.run(["apt-cache", "madison", *names], "apt-cache madison", env=self.env)
        return parse_madison(out)

    def pin(self, wanted: dict[str, str]) -> dict[str, str]:
        """Package → exact Debian version for each upstream pin; every miss is a problem."""
        found = self.available(sorted(wanted))
        pins: dict[str, str] = {}
        problems: list[str] = []
        suites = f"{self.sources.suite}{{,-updates,-security}}"
        for name, upstream in sorted(wanted.items()):
            if name not in found:
                problems.append(f"deb {name}: no such package in Debian {suites}")
                continue
            exact = versions.pick(upstream, found[name])
            if exact is None:
                have = ", ".join(found[name])
                problems.append(f"deb {name}: no version matching {upstream!r} in Debian {suites} (available: {have})")
                continue
            pins[name] = exact
        if problems:
            raise MirrorError(problems)
        return pins

    def closure(self, pins: dict[str, str]) -> list[ResolvedDeb]:
        """Every package a host with nothing installed needs for the pinned ones (no recommends).

        apt's resolver takes ~3 s for a full platform from an empty status; its answer depends
        only on the exact pins and the package lists, so it is memoised against both.
        """
        args = [f"{n}={v}" for n, v in sorted(pins.items())]
        try:
            lists = self._stamp.read_text()
        except FileNotFoundError:
            lists = ""
        key = hashlib.sha256("\n".join([lists, *args]).encode()).hexdigest()
        memo = self.root / "closures" / f"{key}.json"
        if lists and memo.is_file():
            return [ResolvedDeb(*row) for row in json.loads(memo.read_text())]
        out = tools.run(
            ["apt-get", "install", "-s", "-q", "--no-install-recommends", *args],
            "resolving the deb closure",
            env=self.env,
        )
        resolved = parse_simulation(out)
        if not resolved:
            raise MirrorError("resolving the deb closure: apt selected no packages")
        if lists:
            shutil.rmtree(memo.parent, ignore_errors=True)  # older answers are for older lists or pins
            memo.parent.mkdir(parents=True)
            memo.write_text(json.dumps([[d.name, d.version, d.arch] for d in resolved]))
        return resolved

    def index_hashes(self, closure: list[ResolvedDeb]) -> dict[ResolvedDeb, str]:
        """The sha256 Debian's signed indexes give each resolved package, to check cached files
        against (a .deb damaged in the cache would otherwise be indexed, and served, as is)."""
        out = tools.run(
            ["apt-cache", "show", *(f"{d.name}:{d.arch}={d.version}" for d in closure)],
            "apt-cache show",
            env=self.env,
        )
        wanted = {(d.name, d.version): d for d in closure}
        hashes: dict[ResolvedDeb, str] = {}
        for stanza in out.split("\n\n"):
            fields = dict(
                line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line.startswith(" ")
            )
            deb = wanted.get((fields.get("Package", ""), fields.get("Version", "")))
            if deb is not None and "SHA256" in fields:
                hashes[deb] = fields["SHA256"]
        return hashes

    def download(self, pins: dict[str, str], closure: list[ResolvedDeb], progress: Callable[[str], None]) -> None:
        missing = [d for d in closure if not (self.archives / d.archive_name).is_file()]
        if not missing:
            return
        progress(f"debs: downloading {len(missing)} of {len(closure)} packages")
        args = [f"{n}={v}" for n, v in sorted(pins.items())]

        def relay(line: str) -> None:
            if line.startswith(("Get:", "Fetched")):
                progress(f"debs: {line}")

        tools.stream(
            ["apt-get", "install", "--download-only", "-q", "--no-install-recommends", *args],
            "downloading debs",
            relay,
            env=self.env,
        )
        still = [d.archive_name for d in closure if not (self.archives / d.archive_name).is_file()]
        if still:
            raise MirrorError([f"downloading debs: apt did not store {name}" for name in still])


def resolve_and_download(
    apt: AptRoot,
    wanted: dict[str, str],
    progress: Callable[[str], None],
    refresh: bool = False,
) -> tuple[dict[str, str], list[ResolvedDeb]]:
    """Pins and closure, downloaded into the shared archives dir.

    Cached package lists are reused when recent; if they turn out stale (a pinned version or a
    file has gone from the archive, as happens when a security update supersedes it) the lists
    are refreshed once and the whole resolution is retried.
    """
    apt.prepare()
    updated = False
    if refresh or not apt.fresh():
        progress(f"debs: updating package lists ({apt.sources.suite}, -updates, -security)")
        apt.update()
        updated = True
    else:
        progress("debs: package lists are recent, not updating")
    try:
        pins = apt.pin(wanted)
        closure = apt.closure(pins)
        apt.download(pins, closure, progress)
    except MirrorError:
        if updated:
            raise
        progress("debs: resolution failed with cached lists; updating and retrying")
        apt.update()
        pins = apt.pin(wanted)
        closure = apt.closure(pins)
        apt.download(pins, closure, progress)
    return pins, closure


def verify_cached(apt: AptRoot, closure: list[ResolvedDeb]) -> None:
    """Every cached .deb must hash as Debian's index says; a damaged one is deleted (the next
    build downloads it again) and reported."""
    expected = apt.index_hashes(closure)
    problems = []
    for deb in closure:
        path = apt.archives / deb.archive_name
        want = expected.get(deb)
        if want is None:
            problems.append(f"deb {deb.name} {deb.version}: not in the package index any more")
        elif sha256_file(path) != want:
            path.unlink(missing_ok=True)
            problems.append(f"deb {deb.name} {deb.version}: cached file was damaged; deleted, build again")
    if problems:
        raise MirrorError(problems)
