"""Read an ordinary blueprint with libyaml instead of ruamel's pure-Python round-trip loader.

A plan of a large platform re-reads its blueprint on every command, and ruamel took most of that
time (benchmarks/plan_scale.py). libyaml's event stream is turned here into the same plain data
and the same line map the ruamel path produces (YAML 1.2 scalars, lines of keys and of sequence
items, aliases read as their anchor's content). Anything outside the common case - an explicit
tag, a merge key, a non-scalar key, a scalar whose value is not plainly a string, decimal number,
boolean or null, or any error - returns None, and the ruamel path reads the file (and words the
error) exactly as before. tests/unit/test_blueprint_fastread.py holds both paths to agreement.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from sovplatform.blueprint.problems import format_path

_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]+")
_TAG = "tag:yaml.org,2002:"
# Characters libyaml and ruamel read differently: line breaks to libyaml (YAML 1.1) but not to
# ruamel (YAML 1.2), and a byte order mark, which libyaml skips wherever it stands.
_YAML11_BREAKS = ("\u2028", "\u2029", "\x85", "\ufeff")
# libyaml lets a tab through in places ruamel refuses it; blueprints are indented with spaces.
_TAB = "\t"
# ruamel's own YAML 1.2 resolver decides what a plain scalar is, so both paths agree on it.
_RESOLVER = VersionedResolver(version=(1, 2))


class _Unusual(Exception):
    """Outside the common case: the ruamel path reads this file."""


def _scalar(event: yaml.ScalarEvent) -> Any:
    plain_implicit = event.implicit[0]
    if event.tag is not None and not (plain_implicit or event.implicit[1]):
        raise _Unusual  # an explicit tag
    value = event.value
    if event.style or not plain_implicit:
        return value  # quoted or block scalar: a string
    tag = str(_RESOLVER.resolve(ScalarNode, value, (True, False)))
    if tag == _TAG + "str":
        return value
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "bool":
        return value.lower() == "true"
    if tag == _TAG + "int" and _INT.fullmatch(value):
        return int(value)
    if tag == _TAG + "float" and _FLOAT.fullmatch(value):
        return float(value)
    raise _Unusual  # octal, hex, exponents, .inf, timestamps, merge keys, ...


class _Reader:
    def __init__(self, events: Iterator[yaml.Event]) -> None:
        self.events = events
        self.anchors: dict[str, list[yaml.Event]] = {}
        self.lines: dict[str, int] = {}

    def _take(self) -> yaml.Event:
        return next(self.events)

    def _subtree(self, first: yaml.Event) -> list[yaml.Event]:
        """The events of one node, first included (to replay at its aliases)."""
        out = [first]
        depth = 0 if isinstance(first, yaml.ScalarEvent | yaml.AliasEvent) else 1
        while depth:
            event = self._take()
            out.append(event)
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
        return out

    def node(self, first: yaml.Event, loc: tuple[str | int, ...]) -> Any:
        if isinstance(first, yaml.AliasEvent):
            if first.anchor not in self.anchors:
                raise _Unusual
            return _Replay(self.anchors[first.anchor], self.anchors, self.lines).node_at(loc)
        if getattr(first, "anchor", None):
            events = self._subtree(first)
            self.anchors[first.anchor] = events
            return _Replay(events, self.anchors, self.lines).node_at(loc)
        return _build(first, self._take, loc, self)


class _Replay(_Reader):
    def __init__(self, events: list[yaml.Event], anchors: dict[str, list[yaml.Event]], lines: dict[str, int]) -> None:
        super().__init__(iter(events))
        self.anchors = anchors
        self.lines = lines

    def node_at(self, loc: tuple[str | int, ...]) -> Any:
        first = self._take()
        if getattr(first, "anchor", None) and not isinstance(first, yaml.AliasEvent):
            # the anchored node itself, replayed: build it without registering it again
            return _build(first, self._take, loc, self)
        return self.node(first, loc)


def _build(first: yaml.Event, take: Any, loc: tuple[str | int, ...], reader: _Reader) -> Any:
    if isinstance(first, yaml.ScalarEvent):
        return _scalar(first)
    if isinstance(first, yaml.SequenceStartEvent):
        if first.tag is not None and not first.implicit:
            raise _Unusual
        items: list[Any] = []
        while True:
            event = take()
            if isinstance(event, yaml.SequenceEndEvent):
                return items
            child = (*loc, len(items))
            reader.lines.setdefault(format_path(child), event.start_mark.line + 1)
            items.append(reader.node(event, child))
    if isinstance(first, yaml.MappingStartEvent):
        if first.tag is not None and not first.implicit:
            raise _Unusual
        out: dict[Any, Any] = {}
        seen: set[Any] = set()
        while True:
            event = take()
            if isinstance(event, yaml.MappingEndEvent):
                return out
            if not isinstance(event, yaml.ScalarEvent):
                raise _Unusual  # an alias, mapping or sequence as a key
            key = _scalar(event)
            if key in seen:
                raise _Unusual  # keys equal as values (1 and true): ruamel refuses them as duplicates
            seen.add(key)
            name = key if isinstance(key, str) else str(key)
            child = (*loc, name)
            reader.lines.setdefault(format_path(child), event.start_mark.line + 1)
            out[name] = reader.node(take(), child)
    raise _Unusual


def read(text: str) -> tuple[Any, dict[str, int]] | None:
    """(plain data, line of every path), or None when the ruamel path must read this text."""
    if _TAB in text or any(c in text for c in _YAML11_BREAKS):
        return None
    try:
        events = yaml.parse(text, Loader=yaml.CSafeLoader)
        reader = _Reader(events)
        if not isinstance(reader._take(), yaml.StreamStartEvent):
            return None
        start = reader._take()
        if isinstance(start, yaml.StreamEndEvent):
            return None, {}
        if not isinstance(start, yaml.DocumentStartEvent) or start.tags or start.version:
            return None
        data = reader.node(reader._take(), ())
        if not isinstance(reader._take(), yaml.DocumentEndEvent) or not isinstance(reader._take(), yaml.StreamEndEvent):
            return None
    except (_Unusual, yaml.YAMLError, RecursionError, StopIteration):
        return None
    return data, reader.lines
