"""The single failure type of the mirror: callers print its problems, one line each."""

from __future__ import annotations


class MirrorError(RuntimeError):
    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems) or "mirror build failed")
