"""Failures an operation reports to the user: one line per problem and the exit code to use."""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_REFUSED = 2


class OperationError(Exception):
    def __init__(self, problems: list[str], code: int = EXIT_FAILED, hint: str = "") -> None:
        self.problems = problems
        self.code = code
        self.hint = hint
        super().__init__("; ".join(problems))


class Refused(OperationError):
    """The operation would be unsafe or its input is wrong: nothing was changed."""

    def __init__(self, problems: list[str], hint: str = "") -> None:
        super().__init__(problems, EXIT_REFUSED, hint)
