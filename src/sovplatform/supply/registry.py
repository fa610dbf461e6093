"""The OCI registry of the offline mirror: CNCF distribution's `registry`, built from source.

At build time a private instance on loopback takes the pushes into the store's registry tree;
`up` serves a copy of that tree read-only on the management network, where the hosts'
containerd pulls from it as a mirror of the upstream registries (docs/supply-chain.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from sovplatform.mirror.errors import MirrorError

PIDFILE = "registry.pid"
STATEFILE = "registry.json"
LOGFILE = "registry.log"
CONFIG = "registry.yml"


def config_text(rootdir: Path, addr: str, *, readonly: bool) -> str:
    # JSON is YAML: no YAML writer needed for this small document.
    doc = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(rootdir)},
            "maintenance": {"uploadpurging": {"enabled": False}, "readonly": {"enabled": readonly}},
        },
        "http": {"addr": addr},
    }
    return json.dumps(doc, indent=2) + "\n"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/", timeout=2) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(proc: subprocess.Popen[bytes], url: str, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _answers(url):
            return
        if proc.poll() is not None:
            raise MirrorError(f"registry did not start: {_last_line(log)}")
        time.sleep(0.1)
    proc.kill()
    raise MirrorError(f"registry did not answer on {url} within {timeout_s:.0f}s (see {log})")


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


@contextlib.contextmanager
def private(binary: Path, rootdir: Path, work: Path) -> Iterator[str]:
    """A writable registry on a free loopback port for the duration of the block; yields host:port."""
    rootdir.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    addr = f"127.0.0.1:{_free_port()}"
    (work / CONFIG).write_text(config_text(rootdir, addr, readonly=False))
    log = work / LOGFILE
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(binary), "serve", str(work / CONFIG)], stdout=out, stderr=out, stdin=subprocess.DEVNULL
        )
    try:
        _wait(proc, f"http://{addr}", log, 20)
        yield addr
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _alive(pid: int, binary: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and bool(cmdline) and cmdline[0] == str(binary).encode()


def status(run_dir: Path) -> dict[str, str] | None:
    try:
        info = json.loads((run_dir / STATEFILE).read_text())
    except (OSError, ValueError):
        return None
    return info if _alive(int(info["pid"]), Path(info["binary"])) else None


def serve(binary: Path, rootdir: Path, bind: str, port: int, run_dir: Path) -> str:
    """Serve ``rootdir`` read-only on bind:port, detached; idempotent. Returns host:port."""
    addr = f"{bind}:{port}"
    current = status(run_dir)
    if current and current["addr"] == addr and current["rootdir"] == str(rootdir) and current["binary"] == str(binary):
        return addr
    stop(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG).write_text(config_text(rootdir, addr, readonly=True))
    log = run_dir / LOGFILE
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(binary), "serve", str(run_dir / CONFIG)],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            cwd="/",
        )
    _wait(proc, f"http://{addr}", log, 20)
    state = {"pid": str(proc.pid), "addr": addr, "rootdir": str(rootdir), "binary": str(binary)}
    (run_dir / STATEFILE).write_text(json.dumps(state, indent=2) + "\n")
    return addr


def stop(run_dir: Path) -> bool:
    current = status(run_dir)
    if current is not None:
        pid = int(current["pid"])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _alive(pid, Path(current["binary"])) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if _alive(pid, Path(current["binary"])):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    (run_dir / STATEFILE).unlink(missing_ok=True)
    return current is not None
