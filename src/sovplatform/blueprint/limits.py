"""Bounds on what a blueprint file may be, checked before the file is turned into objects.

A blueprint is often assembled by scripts or taken from a repository others can write to, so
the reader must stay bounded in time and memory on any input: a few hundred bytes of YAML can
expand through anchors and aliases into billions of nodes, or nest deeper than any recursive
reader survives. The check walks libyaml's event stream (C, iterative, no objects built) and
stops at the first limit crossed, naming the place and the limit, so a hostile file costs a
scan and never a construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from yaml import _yaml as libyaml  # type: ignore[attr-defined]

from sovplatform.blueprint.problems import BlueprintError, Problem, format_path

# A 3 000-host blueprint is under 1 MiB and about 100 000 nodes; the limits leave room for that
# grown several times while keeping the worst accepted file a few seconds of work.
MAX_BYTES = 4 * 1024 * 1024  # size of the file (UTF-8 bytes)
MAX_DEPTH = 32  # nesting of mappings and sequences, aliases expanded (a blueprint nests 6 deep)
MAX_NODES = 400_000  # scalars, mappings and sequences, every alias counted as what it expands to
MAX_ALIASES = 10_000  # uses of `*anchor`
MAX_DOCUMENTS = 1  # a blueprint is one YAML document


@dataclass
class _Frame:
    mapping: bool
    anchor: str | None
    start: int  # node count when the collection began
    expect_key: bool = True
    key: str | int | None = None  # where the current child sits (a key or an index)
    index: int = 0
    height: int = 1  # nesting of this collection and everything in it, aliases expanded
    keys: dict[str, int] = field(default_factory=dict)  # scalar key -> line


class _Walk:
    def __init__(self) -> None:
        self.stack: list[_Frame] = []
        self.nodes = 0
        self.aliases = 0
        self.documents = 0
        self.sizes: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, height)

    def path(self) -> str:
        loc: list[str | int] = []
        for frame in self.stack:
            if frame.mapping:
                if frame.key is not None and not frame.expect_key:
                    loc.append(frame.key)
            else:
                loc.append(frame.index)
        return format_path(loc) if loc else "<root>"

    def refuse(self, message: str, line: int) -> BlueprintError:
        return BlueprintError([Problem(self.path(), message, line + 1)])

    def count(self, n: int, line: int) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise self.refuse(
                f"the document grows past {MAX_NODES} nodes (aliases expanded); a blueprint is far smaller", line
            )

    def child_done(self, height: int) -> None:
        """A complete node (of the given nesting) now sits in the innermost collection."""
        if not self.stack:
            return
        parent = self.stack[-1]
        parent.height = max(parent.height, 1 + height)
        if parent.mapping:
            parent.expect_key = not parent.expect_key
        else:
            parent.index += 1

    def key_scalar(self, value: str, line: int) -> None:
        parent = self.stack[-1] if self.stack else None
        if parent is None or not parent.mapping or not parent.expect_key:
            return
        if value in parent.keys:
            parent.key = value
            parent.expect_key = False
            raise self.refuse(f"duplicate key {value!r} (first at line {parent.keys[value]})", line)
        parent.keys[value] = line + 1
        parent.key = value

    def key_other(self) -> None:
        parent = self.stack[-1] if self.stack else None
        if parent is not None and parent.mapping and parent.expect_key:
            parent.key = "<complex key>"

    def event(self, ev: yaml.Event) -> None:
        line = ev.start_mark.line if ev.start_mark is not None else 0
        if isinstance(ev, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > MAX_DOCUMENTS:
                raise BlueprintError(
                    [Problem("<yaml>", "holds more than one YAML document (`---`); a blueprint is one", line + 1)]
                )
        elif isinstance(ev, yaml.ScalarEvent):
            self.key_scalar(ev.value, line)
            self.count(1, line)
            if ev.anchor is not None:
                self.sizes[ev.anchor] = (1, 0)
            self.child_done(0)
        elif isinstance(ev, yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise self.refuse(f"more than {MAX_ALIASES} aliases (`*name`); a blueprint needs far fewer", line)
            if any(f.anchor == ev.anchor for f in self.stack):
                raise self.refuse(f"alias *{ev.anchor} refers to a node that contains it", line)
            if ev.anchor not in self.sizes:
                raise self.refuse(f"alias *{ev.anchor} refers to no anchor defined before it", line)
            nodes, height = self.sizes[ev.anchor]
            self.key_other()
            self.count(nodes, line)
            if len(self.stack) + height > MAX_DEPTH:
                raise self.refuse(f"alias *{ev.anchor} nests deeper than {MAX_DEPTH} levels once expanded", line)
            self.child_done(height)
        elif isinstance(ev, yaml.CollectionStartEvent):
            self.key_other()
            self.count(1, line)
            self.stack.append(_Frame(isinstance(ev, yaml.MappingStartEvent), ev.anchor, self.nodes))
            if len(self.stack) > MAX_DEPTH:
                raise self.refuse(f"nests deeper than {MAX_DEPTH} levels; a blueprint nests about 6", line)
        elif isinstance(ev, yaml.CollectionEndEvent):
            frame = self.stack.pop()
            if frame.anchor is not None:
                self.sizes[frame.anchor] = (self.nodes - frame.start + 1, frame.height)
            self.child_done(frame.height)


def check_limits(text: str, source: str = "<blueprint>") -> None:
    """Raise BlueprintError with one problem at the first limit the text crosses (or the first
    YAML syntax error); return when the text is safe to construct."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise BlueprintError([Problem("<file>", f"{source} is not UTF-8 text")]) from None
    if len(data) > MAX_BYTES:
        raise BlueprintError([Problem("<file>", f"{source} is {len(data)} bytes; a blueprint is at most {MAX_BYTES}")])
    walk = _Walk()
    parser = libyaml.CParser(data)
    try:
        while parser.check_event():
            walk.event(parser.get_event())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = (exc.problem or exc.context or "invalid YAML").strip()
        line = mark.line + 1 if mark else None
        if "nesting depth" in what:  # libyaml's own guard, met while it scans flow collections ahead
            raise BlueprintError(
                [Problem("<yaml>", f"nests deeper than {MAX_DEPTH} levels; a blueprint nests about 6", line)]
            ) from None
        raise BlueprintError([Problem("<yaml>", f"YAML syntax error: {what}", line)]) from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        raise BlueprintError([Problem("<yaml>", f"YAML error: {first}")]) from None
    finally:
        parser.dispose()
