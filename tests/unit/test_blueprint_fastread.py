"""libyaml's fast path reads a blueprint into exactly what ruamel's round-trip path reads (data
and line map), or declines and leaves the file to ruamel; never a third answer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovplatform.blueprint import BlueprintError, fastread
from sovplatform.blueprint.loader import _read_ruamel
from tests.unit.test_blueprint_fuzz import FUZZ, TEXTS, data_edits, text_edits


def agrees(text: str) -> bool:
    """True when the fast path read it (and matched ruamel), False when it declined."""
    fast = fastread.read(text)
    if fast is None:
        return False
    try:
        slow = _read_ruamel(text)
    except BlueprintError as exc:
        pytest.fail(f"the fast path read what ruamel refuses: {exc.problems}")
    assert fast == slow
    # ruamel keeps quoted keys as str subclasses; what counts is str, int, float, bool or None.
    assert [_kind(v) for v in _leaves(fast[0])] == [_kind(v) for v in _leaves(slow[0])]
    return True


def _kind(value: object) -> type:
    return str if isinstance(value, str) else type(value)


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in (k, *_leaves(v))]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    return [value]


def test_every_shipped_blueprint_takes_the_fast_path_and_reads_the_same() -> None:
    for name, text in TEXTS.items():
        assert agrees(text), name


@pytest.mark.parametrize(
    "text",
    [
        "a: !!str 123\n",  # explicit tag
        "base: &b {x: 1}\nc:\n  <<: *b\n",  # merge key
        "a: 0x1f\n",  # hex
        "a: 0o17\n",  # octal
        "a: 1e3\n",  # exponent
        "a: .inf\n",
        "a: 2026-12-07\n",  # timestamp
        "? [a, b]\n: 1\n",  # non-scalar key
        "%YAML 1.1\n---\na: yes\n",  # another YAML version
        "a: [1, 2\n",  # broken: ruamel words the error
        "1: a\ntrue: b\n",  # keys equal as values
        "a: 1\n\u2028b: 2\n",  # a line break to libyaml only
        "a:\t1\n",  # a tab
        "a: 1\n\ufeffb: 2\n",  # a byte order mark inside
    ],
)
def test_anything_unusual_is_left_to_ruamel(text: str) -> None:
    assert fastread.read(text) is None


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("a: yes\nb: on\nc: NO\n", {"a": "yes", "b": "on", "c": "NO"}),  # YAML 1.2: strings
        ("a: true\nb: FALSE\nc: ~\nd:\n", {"a": True, "b": False, "c": None, "d": None}),
        ("a: 007\nb: -1\nc: 1.36\nd: 3.5.16\n", {"a": 7, "b": -1, "c": 1.36, "d": "3.5.16"}),
        ("x: &k [1, {y: 2}]\nz: *k\n", {"x": [1, {"y": 2}], "z": [1, {"y": 2}]}),
        ("1: a\nx: b\n~: c\n", {"1": "a", "x": "b", "None": "c"}),
        ("a: 'q'\nb: \"r\"\nc: |\n  s\n", {"a": "q", "b": "r", "c": "s\n"}),
    ],
)  # fmt: skip
def test_scalars_and_aliases_read_as_ruamel_reads_them(text: str, data: object) -> None:
    assert agrees(text)
    fast = fastread.read(text)
    assert fast is not None and fast[0] == data


@settings(FUZZ, max_examples=150)
@given(st.one_of(text_edits(), data_edits()))
def test_edited_blueprints_read_the_same_or_are_left_to_ruamel(text: str) -> None:
    agrees(text)
