"""Problems found in a blueprint: one line each, naming the path that holds the problem."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    message: str
    line: int | None = None

    def render(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.path}: {self.message}{where}"


class BlueprintError(Exception):
    """The blueprint cannot be used; carries every problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(p.render() for p in self.problems))


def format_path(loc: Iterable[str | int]) -> str:
    """('sites', 1, 'hosts', 0, 'roles') -> 'sites[1].hosts[0].roles'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"
