"""Hostile blueprint files are refused with one line naming the place and the limit, quickly and
without building what they would expand to."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sovplatform.blueprint import BlueprintError, validate_text
from sovplatform.blueprint.limits import MAX_ALIASES, MAX_BYTES, MAX_DEPTH, MAX_NODES
from sovplatform.blueprint.loader import read_blueprint_text
from tests.helpers import LAB, ROOT

HOSTILE = ROOT / "tests" / "data" / "hostile"
SOV = str(Path(sys.executable).parent / "sovplatform")

# file -> the one line `validate` prints for it
EXPECTED = {
    "billion-laughs.yaml": f"l5[2]: the document grows past {MAX_NODES} nodes (aliases expanded)",
    "deep-block.yaml": f"level0.level1.level2.level3.level4.level5.level6.level7.level8.level9.level10.level11."
    f"level12.level13.level14.level15.level16.level17.level18.level19.level20.level21.level22.level23.level24."
    f"level25.level26.level27.level28.level29.level30.level31: nests deeper than {MAX_DEPTH} levels",
    "deep-flow.yaml": f"<yaml>: nests deeper than {MAX_DEPTH} levels",
    "duplicate-key.yaml": "versions.ceph: duplicate key 'ceph' (first at line 5)",
    "two-documents.yaml": "<yaml>: holds more than one YAML document",
    "recursive-alias.yaml": "sites[0].hosts: alias *sites refers to a node that contains it",
    "undefined-alias.yaml": "sites: alias *sites refers to no anchor defined before it",
    "many-aliases.yaml": f"b[{MAX_ALIASES}]: more than {MAX_ALIASES} aliases",
    "latin1.yaml": "<file>: tests/data/hostile/latin1.yaml is not UTF-8 text (byte 36",
    "utf16.yaml": "<file>: tests/data/hostile/utf16.yaml is not UTF-8 text (byte 0",
}


def problems(text: str) -> list[str]:
    with pytest.raises(BlueprintError) as info:
        validate_text(text)
    return [p.render() for p in info.value.problems]


def test_every_fixture_is_listed() -> None:
    assert sorted(p.name for p in HOSTILE.iterdir()) == sorted(EXPECTED)


def test_hostile_files_exit_2_with_one_line_each() -> None:
    names = sorted(EXPECTED)
    started = time.monotonic()
    result = subprocess.run(
        [SOV, "validate", *(f"tests/data/hostile/{n}" for n in names)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(names), lines
    for name, line in zip(names, lines, strict=True):
        assert line.startswith(f"tests/data/hostile/{name}: {EXPECTED[name]}"), line
    # generous: the point is "never hangs", not a benchmark
    assert time.monotonic() - started < 30


def test_billion_laughs_is_refused_before_it_is_built() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    (line,) = problems((HOSTILE / "billion-laughs.yaml").read_text())
    assert "grows past" in line
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n" + "".join(f"d{i}: [*c, *c, *c]\n" for i in range(50_000)),
        "[" + "0, " * (MAX_NODES + 1) + "0]\n",
        "- " * 200 + "x\n",
        "{a: " * 100 + "x" + "}" * 100 + "\n",
    ],
    ids=["aliases-fan-out", "flat-list", "nested-block-seq", "nested-flow-map"],
)
def test_node_and_depth_limits(text: str) -> None:
    (line,) = problems(text)
    assert "grows past" in line or "nests deeper" in line or "aliases" in line, line


def test_alias_nesting_counts_as_expanded() -> None:
    # shallow in the text, deep once every alias is replaced by what it names
    text = "l0: &l0 [x]\n" + "".join(f"l{i}: &l{i} [*l{i - 1}]\n" for i in range(1, 40))
    (line,) = problems(text)
    assert f"nests deeper than {MAX_DEPTH} levels once expanded" in line


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: 1\nb: 2\na: 3\n", "a: duplicate key 'a' (first at line 1) (line 3)"),
        ("a: {x: 1, 'x': 2}\n", "a.x: duplicate key 'x'"),
        ("s:\n  - n: 1\n  - n: 2\n    n: 3\n", "s[1].n: duplicate key 'n' (first at line 3) (line 4)"),
        ("{}\n---\n{}\n", "<yaml>: holds more than one YAML document"),
        ("a: 1\n...\n---\nb: 2\n", "<yaml>: holds more than one YAML document"),
    ],
)
def test_duplicates_and_documents(text: str, fragment: str) -> None:
    assert any(fragment in line for line in problems(text)), problems(text)


def test_a_lab_blueprint_with_anchors_still_loads() -> None:
    text = LAB.read_text().replace("    links:\n", "    links: &links\n", 1)
    validate_text(text)


def test_oversize_file_and_endless_device_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * MAX_BYTES + b"\n")
    with pytest.raises(BlueprintError) as info:
        read_blueprint_text(big)
    assert f"larger than {MAX_BYTES} bytes" in info.value.problems[0].render()
    # /dev/zero has no size to stat; reading stops one byte past the limit
    with pytest.raises(BlueprintError) as info:
        read_blueprint_text(Path("/dev/zero"))
    assert f"larger than {MAX_BYTES} bytes" in info.value.problems[0].render()
    (line,) = problems("a: '" + "x" * MAX_BYTES + "'\n")
    assert f"a blueprint is at most {MAX_BYTES}" in line
