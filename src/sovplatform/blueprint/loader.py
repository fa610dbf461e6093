"""Read a blueprint file into the model, turning every failure into located problems.

YAML is read with libyaml where the file is ordinary (blueprint/fastread.py) and otherwise with
ruamel.yaml's round-trip loader; both keep line numbers, and each problem names the path
(``sites[1].hosts[0].roles``) and, where known, the line.
"""

from __future__ import annotations

import ipaddress
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from sovplatform.blueprint import fastread
from sovplatform.blueprint.limits import MAX_BYTES, check_limits
from sovplatform.blueprint.models import Blueprint
from sovplatform.blueprint.openpgp import LEAKED, private_key_lines
from sovplatform.blueprint.problems import BlueprintError, Problem, format_path


def _plain(node: Any, loc: tuple[str | int, ...], lines: dict[str, int]) -> Any:
    """Convert ruamel's node types to plain Python, recording the line of every path."""
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            child = (*loc, str(key))
            try:
                line, _col = node.lc.key(key)
                lines.setdefault(format_path(child), line + 1)
            except (KeyError, TypeError):
                pass
            out[str(key) if not isinstance(key, str) else key] = _plain(value, child, lines)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = (*loc, index)
            try:
                line, _col = node.lc.item(index)
                lines.setdefault(format_path(child), line + 1)
            except (KeyError, TypeError, IndexError):
                pass
            items.append(_plain(value, child, lines))
        return items
    if isinstance(node, ScalarBoolean):
        return bool(node)
    if isinstance(node, bool):
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def line_of(path: str, lines: dict[str, int]) -> int | None:
    """Line of the path, or of its closest recorded ancestor."""
    probe = path
    while probe:
        if probe in lines:
            return lines[probe]
        cut = max(probe.rfind("."), probe.rfind("["))
        if cut <= 0:
            break
        probe = probe[:cut]
    return lines.get(probe)


def _unwrap(annotation: Any) -> list[Any]:
    """Candidate inner types of Optional[...], list[...], dict[..., X], Annotated[...]."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(annotation) for t in _unwrap(a)]
    if origin in (list, tuple):
        return [t for a in typing.get_args(annotation) for t in _unwrap(a)]
    if origin is dict:
        return _unwrap(typing.get_args(annotation)[1])
    return [annotation]


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Blueprint
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            # a key inside dict[str, Model] (e.g. a links entry): the model stays the same
            continue
        inner = [t for t in _unwrap(field.annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
        model = inner[0] if inner else None
    return model


def _message(err: Any) -> tuple[tuple[Any, ...], str]:
    loc = tuple(p for p in err["loc"] if p != "[key]")
    kind = err["type"]
    value = err.get("input")
    if kind == "missing":
        return loc, "required key is missing"
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = ", ".join(parent.model_fields) if parent else ""
        return loc, f"unknown key{f' (allowed: {allowed})' if allowed else ''}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return loc, f"{value!r} is not allowed; expected {expected}"
    if kind == "string_pattern_mismatch":
        return loc, f"{value!r} does not match the required form {err['ctx']['pattern']}"
    if kind in ("model_type", "dict_type"):
        return loc, f"expected a mapping, got {type(value).__name__} {value!r}"
    if kind == "list_type":
        return loc, f"expected a list, got {type(value).__name__} {value!r}"
    if kind.startswith("ip_v4_network") and isinstance(value, str):
        try:
            loose = ipaddress.IPv4Network(value, strict=False)
        except ValueError:
            return loc, f"{value!r} is not an IPv4 network in CIDR form (e.g. 198.18.1.0/24)"
        return loc, f"{value!r} has host bits set; did you mean {loose}?"
    if kind.startswith("ip_v4_address"):
        return loc, f"{value!r} is not an IPv4 address"
    text = err["msg"]
    if "[key]" in err["loc"]:
        text = f"key {value!r}: {text}"
    return loc, text[0].lower() + text[1:] if text else kind


def read_yaml(text: str) -> tuple[Any, dict[str, int]]:
    """Plain data and the line of every path: libyaml for the common case, ruamel's round-trip
    loader for everything else and for the wording of every YAML error."""
    fast = fastread.read(text)
    return fast if fast is not None else _read_ruamel(text)


def _read_ruamel(text: str) -> tuple[Any, dict[str, int]]:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = (exc.problem or exc.context or "invalid YAML").strip()
        raise BlueprintError([Problem("<yaml>", f"YAML syntax error: {what}", line)]) from None
    except YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        raise BlueprintError([Problem("<yaml>", f"YAML error: {first}")]) from None
    except RecursionError:
        raise BlueprintError([Problem("<yaml>", "YAML nests too deeply to be a blueprint")]) from None
    except (AssertionError, AttributeError, TypeError, ValueError) as exc:
        # ruamel raises these for some malformed documents (unknown %YAML versions, bare tags)
        raise BlueprintError([Problem("<yaml>", f"YAML could not be read: {exc}".strip())]) from None
    lines: dict[str, int] = {}
    try:
        data = _plain(raw, (), lines)
    except RecursionError:
        raise BlueprintError(
            [Problem("<yaml>", "YAML refers to itself (a recursive alias) or nests too deeply")]
        ) from None
    return data, lines


def parse_blueprint(text: str, source: str = "<blueprint>") -> tuple[Blueprint, dict[str, int]]:
    """Parse and validate the schema (not yet the topology rules)."""
    check_limits(text, source)
    data, lines = read_yaml(text)
    if data is None:
        raise BlueprintError([Problem("<root>", f"{source} is empty; expected a Platform blueprint")])
    leaks = private_key_lines(text)
    if leaks:
        # Reported before anything else, and never echoed: the file itself is the incident.
        raise BlueprintError([Problem(_path_at(line, lines), LEAKED, line) for line in leaks])
    if not isinstance(data, dict):
        raise BlueprintError(
            [Problem("<root>", f"expected a mapping with apiVersion/kind/..., got {type(data).__name__}")]
        )
    try:
        model = Blueprint.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc, text = _message(err)
            path = format_path(loc)
            problems.append(Problem(path, text, line_of(path, lines)))
        raise BlueprintError(sorted(set(problems), key=lambda p: (p.line or 0, p.path))) from None
    return model, lines


def _path_at(line: int, lines: dict[str, int]) -> str:
    """The path whose key starts last at or before the line (the value that holds it)."""
    best = max(((at, path) for path, at in lines.items() if at <= line), default=(0, "<yaml>"))
    return best[1]


def read_blueprint_text(path: Path) -> str:
    try:
        if path.is_dir():
            raise BlueprintError([Problem("<file>", f"{path} is a directory, not a blueprint file")])
        # Read one byte past the limit rather than trusting stat: a pipe or /dev/zero has no size.
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise BlueprintError(
                [Problem("<file>", f"{path} is larger than {MAX_BYTES} bytes, the most a blueprint may be")]
            )
        return data.decode("utf-8")
    except FileNotFoundError:
        raise BlueprintError([Problem("<file>", f"{path}: no such file")]) from None
    except PermissionError:
        raise BlueprintError([Problem("<file>", f"{path}: permission denied")]) from None
    except UnicodeDecodeError as exc:
        raise BlueprintError(
            [Problem("<file>", f"{path} is not UTF-8 text (byte {exc.start} cannot be decoded)")]
        ) from None
    except OSError as exc:
        raise BlueprintError([Problem("<file>", f"{path}: {exc.strerror or exc}")]) from None
