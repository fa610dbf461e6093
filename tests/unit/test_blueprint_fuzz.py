"""Arbitrary edits of the shipped blueprints, at the text and at the data level: `validate`
accepts or returns problems (never raises anything else), and `plan` succeeds on whatever it
accepts. Deterministic: derandomized, no example database."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from sovplatform.blueprint import Blueprint, BlueprintError, validate_text
from sovplatform.plan.build import build_plan, render_files
from tests.helpers import ROOT, dump
from tests.unit.test_properties import draw_node

SHIPPED = sorted(
    [
        *(ROOT / "blueprints").glob("*.yaml"),
        *(ROOT / "tests" / "data" / "blueprints").glob("*.yaml"),
        *(ROOT / "molecule").glob("*/lab/blueprint.yaml"),
    ]
)
TEXTS = {p.relative_to(ROOT).as_posix(): p.read_text() for p in SHIPPED}
DATA = {name: YAML(typ="safe", pure=True).load(text) for name, text in TEXTS.items()}
SOV = str(Path(sys.executable).parent / "sovplatform")

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FRAGMENTS = st.sampled_from(
    ["&a ", "*a", "<<: *a", "[", "]", "{", "}", ": ", "- ", "\n", "  ", "---\n", "'", '"', "#", "|", "!!str ",
     "!!binary ", "~", "null", "1e9", "-1", "0x10", "é", "\t", "\ufeff", "\u2028"]
)  # fmt: skip


def outcome(text: str) -> Blueprint | None:
    """The accepted blueprint, or None when refused with located problems."""
    try:
        bp = validate_text(text)
    except BlueprintError as exc:
        assert exc.problems
        assert all(p.render().count("\n") == 0 for p in exc.problems)
        event("refused")
        return None
    event("accepted")
    assert isinstance(bp, Blueprint)
    return bp


def plans(bp: Blueprint) -> None:
    files = render_files(build_plan(bp))
    assert files


@st.composite
def text_edits(draw: st.DrawFn) -> str:
    """A shipped blueprint with a few lines cut, doubled, moved or spliced with YAML fragments."""
    lines = TEXTS[draw(st.sampled_from(sorted(TEXTS)))].splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["cut", "double", "move", "splice", "indent"]))
        if action == "cut":
            del lines[at]
        elif action == "double":
            lines.insert(at, lines[at])
        elif action == "move":
            lines.insert(draw(st.integers(0, len(lines) - 1)), lines.pop(at))
        elif action == "splice":
            col = draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:col] + draw(FRAGMENTS) + lines[at][col:]
        else:
            lines[at] = "  " + lines[at] if draw(st.booleans()) else lines[at].removeprefix("  ")
        if not lines:
            break
    return "".join(lines)


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["dc1", "dc1-a", "storage", "kms", "198.18.1.10", "10.0.0.0/8", "18.2.7", "rbd", "datacenter"]),
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def data_edits(draw: st.DrawFn) -> str:
    """A shipped blueprint with nodes anywhere replaced, removed or copied elsewhere."""
    data: Any = copy.deepcopy(DATA[draw(st.sampled_from(sorted(DATA)))])
    for _ in range(draw(st.integers(1, 3))):
        parent, key = draw_node(draw, data)
        if parent is None:
            continue
        action = draw(st.sampled_from(["replace", "remove", "copy"]))
        if action == "replace":
            parent[key] = draw(values)
        elif action == "remove":
            del parent[key]
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        else:
            parent[f"{key}x"] = copy.deepcopy(parent[key])
    return dump(data)


def test_every_shipped_blueprint_validates_and_plans() -> None:
    assert len(TEXTS) >= 10
    for text in TEXTS.values():
        plans(validate_text(text))


@settings(FUZZ, max_examples=150)
@given(text_edits())
def test_text_edits_are_accepted_or_refused(text: str) -> None:
    bp = outcome(text)
    if bp is not None:
        plans(bp)


@settings(FUZZ, max_examples=150)
@given(data_edits())
def test_data_edits_are_accepted_or_refused(text: str) -> None:
    bp = outcome(text)
    if bp is not None:
        plans(bp)


@settings(FUZZ, max_examples=4)
@given(st.one_of(text_edits(), data_edits()))
def test_the_command_exits_0_or_2_without_a_traceback(text: str) -> None:
    result = subprocess.run(
        [SOV, "validate", "/dev/stdin"], input=text, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    if result.returncode == 2:
        assert result.stderr.strip() and all(": " in line for line in result.stderr.strip().splitlines())
