"""Running the system tools the lab is built from (ip, tc, nspawn) with errors worth reading."""

from __future__ import annotations

import subprocess


class CommandFailed(RuntimeError):
    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        super().__init__(f"{' '.join(argv)} failed ({returncode}): {stderr.strip()}")
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr


def run(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, input=input)
    if check and proc.returncode != 0:
        raise CommandFailed(list(argv), proc.returncode, proc.stderr or proc.stdout)
    return proc


def ok(*argv: str) -> bool:
    """Run a command whose failure is an expected answer (e.g. 'does this link exist?')."""
    return run(*argv, check=False).returncode == 0
