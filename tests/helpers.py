"""Shared test helpers: the lab blueprint as a mutable dict, and YAML round-tripping."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "blueprints" / "lab-3dc.yaml"
ODC = ROOT / "blueprints" / "odc-reference.yaml"

_yaml = YAML(typ="safe", pure=True)
_BASE: dict[str, Any] = _yaml.load(LAB.read_text())


def lab_dict() -> dict[str, Any]:
    return copy.deepcopy(_BASE)


def dump(data: Any) -> str:
    buf = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, buf)
    return buf.getvalue()
