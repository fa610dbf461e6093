"""Running the external tools the mirror is made with (apt, apt-ftparchive, gpg, pip), turning
their failures into one-line problems instead of tracebacks."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from sovplatform.mirror.errors import MirrorError

# Controller packages that provide the tools (Debian names), installed on demand.
TOOL_PACKAGES: dict[str, str] = {
    "apt-get": "apt",
    "apt-ftparchive": "apt-utils",
    "gpg": "gpg",
    "gpgconf": "gpgconf",
}


def interesting_lines(text: str, limit: int = 6) -> list[str]:
    """apt prefixes real problems with E:/W:; fall back to the last lines of output."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # apt's summary "Some index files failed … ignored" is false under Error-Mode=any and only
    # repeats the per-file errors, so it is dropped when those are there.
    errors = [line for line in lines if line.startswith("E:") and "Some index files failed" not in line]
    picked = (
        errors
        or [line for line in lines if line.startswith("E:")]
        or [line for line in lines if line.startswith("W:")]
        or lines[-3:]
    )
    return list(dict.fromkeys(picked))[:limit]


def run(
    argv: Sequence[str],
    what: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdout_to: Path | None = None,
) -> str:
    """Run, return stdout; on failure raise MirrorError '<what>: <tool's own words>'."""
    full_env = {**os.environ, **(env or {})}
    if stdout_to is not None:
        with stdout_to.open("wb") as out:
            proc = subprocess.run(list(argv), stdout=out, stderr=subprocess.PIPE, env=full_env, cwd=cwd, check=False)
        output, errors = "", proc.stderr.decode(errors="replace")
    else:
        done = subprocess.run(list(argv), capture_output=True, text=True, env=full_env, cwd=cwd, check=False)
        proc, output, errors = done, done.stdout, done.stderr
    if proc.returncode != 0:
        detail = interesting_lines(errors + "\n" + output) or [f"exit code {proc.returncode}"]
        raise MirrorError([f"{what}: {line}" for line in detail])
    return output


def stream(
    argv: Sequence[str],
    what: str,
    on_line: Callable[[str], None],
    *,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run, passing each output line to on_line as it comes (long downloads stay visible)."""
    proc = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        on_line(line.rstrip("\n"))
    proc.wait()
    output = "".join(lines)
    if proc.returncode != 0:
        detail = interesting_lines(output) or [f"exit code {proc.returncode}"]
        raise MirrorError([f"{what}: {line}" for line in detail])
    return output


def ensure_tools(*names: str, progress: Callable[[str], None] | None = None) -> None:
    """Install missing tools from the controller's own archive (the one change made outside
    the cache); a clear error when that is not possible (e.g. not root)."""
    missing = {TOOL_PACKAGES[n] for n in names if shutil.which(n) is None}
    if not missing:
        return
    if os.geteuid() != 0:
        raise MirrorError(f"missing tools; install the Debian packages: {' '.join(sorted(missing))}")
    if progress:
        progress(f"installing controller packages: {' '.join(sorted(missing))}")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *sorted(missing)], "apt-get install", env=env)
