"""The Go toolchain as the builds use it: one module cache and one build cache under the
user's cache dir (shared by every component, so Kubernetes' dependencies compile once), the
checksum database on, go.sum authoritative, and live progress from `go build -v`."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path

from sovplatform.mirror.errors import MirrorError
from sovplatform.supply.store import Store

Progress = Callable[[str], None]
REPORT_EVERY_S = 3.0


def go_binary() -> str:
    path = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if path is None:
        raise MirrorError("the Go toolchain ('go') is not installed; builds from source need Go 1.26 or newer")
    return path


def go_env(store: Store, *, cgo: bool = False) -> dict[str, str]:
    return {
        "GOMODCACHE": str(store.gomodcache),
        "GOCACHE": str(store.gocache),
        # The wrapper's go.sum is the pin: nothing may add to it during a build.
        "GOFLAGS": "-mod=readonly",
        # A go.mod asking for a newer Go must fail here, not fetch a toolchain silently.
        "GOTOOLCHAIN": "local",
        "GOOS": "linux",
        "GOARCH": "amd64",
        "CGO_ENABLED": "1" if cgo else "0",
        "GOWORK": "off",
    }


@cache
def go_version() -> str:
    out = subprocess.run([go_binary(), "env", "GOVERSION"], capture_output=True, text=True, check=False)
    if out.returncode != 0 or not out.stdout.strip():
        raise MirrorError(f"go env GOVERSION failed: {out.stderr.strip() or out.returncode}")
    return out.stdout.strip()


def run_live(
    argv: Sequence[str],
    what: str,
    say: Progress,
    *,
    cwd: Path,
    env: Mapping[str, str],
) -> None:
    """Run a long build, relaying a line every few seconds; on failure raise the tool's last lines."""
    started = time.monotonic()
    last = 0.0
    tail: list[str] = []
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-40:], line]
            now = time.monotonic()
            if now - last >= REPORT_EVERY_S:
                last = now
                say(f"{what} [{now - started:.0f}s]: {line[:100]}")
        code = proc.wait()
    if code != 0:
        # The compiler's own words follow a "# <package>" header; without one, the last lines.
        headers = [i for i, t in enumerate(tail) if t.startswith("# ")]
        picked = tail[headers[-1] :] if headers else tail[-6:]
        errors = [t for t in picked if t and not t.startswith("go: downloading")][:8] or [f"exit code {code}"]
        raise MirrorError([f"{what}: {t}" for t in errors])
