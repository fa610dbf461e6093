"""Blueprint: the single file that describes a platform, its schema and topology rules."""

from __future__ import annotations

from pathlib import Path

from sovplatform.blueprint.loader import line_of, parse_blueprint, read_blueprint_text
from sovplatform.blueprint.models import ROLES, Blueprint
from sovplatform.blueprint.problems import BlueprintError, Problem
from sovplatform.blueprint.rules import check_topology

__all__ = ["ROLES", "Blueprint", "BlueprintError", "Problem", "load_blueprint", "validate_text"]


def validate_text(text: str, source: str = "<blueprint>") -> Blueprint:
    """Parse, validate the schema and every topology rule; raise BlueprintError with all problems."""
    model, lines = parse_blueprint(text, source)
    problems = check_topology(model)
    if problems:
        located = [Problem(p.path, p.message, p.line or line_of(p.path, lines)) for p in problems]
        raise BlueprintError(located)
    return model


def load_blueprint(path: Path) -> Blueprint:
    return validate_text(read_blueprint_text(path), str(path))
