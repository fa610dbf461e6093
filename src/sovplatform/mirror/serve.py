"""Serving a built mirror over HTTP as a detached background process.

The lab runs it inside the router's network namespace on the management network; a site can
run it on any address. One server per run dir: the pidfile and a small state file there make
``start`` idempotent and let ``stop`` find it again from another process.

Run as ``python -m sovplatform.mirror.serve --dir D --bind ADDR --port P [--log FILE]``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sovplatform.mirror.errors import MirrorError

PIDFILE = "mirror.pid"
STATEFILE = "mirror.json"
LOGFILE = "mirror-access.log"
_MODULE = "sovplatform.mirror.serve"


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    directory: str
    bind: str
    port: int
    netns: str | None
    log: str

    @property
    def url(self) -> str:
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"http://{host}:{self.port}"


# -- the server process --------------------------------------------------------------------------


class _Handler(SimpleHTTPRequestHandler):
    log = logging.getLogger("sovplatform.mirror.access")

    def log_message(self, format: str, *args: Any) -> None:
        # stdout/stderr of a detached process go nowhere useful; the access log is a file.
        self.log.info("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stalled client must not keep the process from stopping


class _Server6(_Server):
    address_family = socket.AF_INET6


def _write_pidfile(path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, path)


def serve(directory: Path, bind: str, port: int, pidfile: Path | None, log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    access = logging.getLogger("sovplatform.mirror.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False

    # directory= is re-joined on every request, so a rebuilt mirror swapped in under the
    # same path is served without a restart.
    server_class = _Server6 if ":" in bind else _Server
    httpd = server_class((bind, port), functools.partial(_Handler, directory=str(directory)))

    def _terminate(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    # The pidfile appears only once the socket is bound: its presence means "serving".
    if pidfile is not None:
        _write_pidfile(pidfile)
    access.info("serving %s on %s:%d", directory, bind, port)
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()
        if pidfile is not None and _read_pid(pidfile) == os.getpid():
            pidfile.unlink(missing_ok=True)
        access.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {_MODULE}", description="Serve a sovplatform mirror over HTTP.")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--pidfile", type=Path)
    parser.add_argument("--log", type=Path)
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        print(f"{args.dir}: not a directory", file=sys.stderr)
        return 2
    log = args.log or (args.pidfile.parent / LOGFILE if args.pidfile else Path(LOGFILE))
    try:
        serve(args.dir.resolve(), args.bind, args.port, args.pidfile, log)
    except OSError as exc:
        print(f"cannot serve on {args.bind}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


# -- controlling it ------------------------------------------------------------------------------


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _ours_and_alive(pid: int) -> bool:
    """Alive, not a zombie, and really our server (a recycled pid must not be signalled)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z" and _MODULE.encode() in cmdline


def status(run_dir: Path) -> ServerInfo | None:
    pid = _read_pid(run_dir / PIDFILE)
    if pid is None or not _ours_and_alive(pid):
        return None
    try:
        data = json.loads((run_dir / STATEFILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    info = ServerInfo(**data)
    return info if info.pid == pid else None


def start(
    directory: Path,
    bind: str,
    port: int,
    run_dir: Path,
    netns: str | None = None,
    timeout_s: float = 10.0,
) -> ServerInfo:
    """Serve ``directory`` on bind:port (inside ``netns`` if given); nothing to do when this
    run dir already serves the same thing, a restart when it serves something else."""
    directory = directory.resolve()
    if not directory.is_dir():
        raise MirrorError(f"mirror {directory}: not built (no such directory)")
    run_dir.mkdir(parents=True, exist_ok=True)
    current = status(run_dir)
    if current is not None:
        if (current.directory, current.bind, current.port, current.netns) == (str(directory), bind, port, netns):
            return current
        stop(run_dir)
    pidfile = run_dir / PIDFILE
    pidfile.unlink(missing_ok=True)
    log = run_dir / LOGFILE
    argv = [sys.executable, "-m", _MODULE, "--dir", str(directory), "--bind", bind, "--port", str(port)]
    argv += ["--pidfile", str(pidfile), "--log", str(log)]
    if netns:
        # `ip netns exec` execs the command in place, so the child pid stays the server's pid.
        argv = ["ip", "netns", "exec", netns, *argv]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # detached: survives the caller, not killed by its Ctrl-C
            close_fds=True,
            cwd="/",
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _read_pid(pidfile) == proc.pid:
            info = ServerInfo(proc.pid, str(directory), bind, port, netns, str(log))
            (run_dir / STATEFILE).write_text(json.dumps(asdict(info), indent=2) + "\n")
            return info
        if proc.poll() is not None:
            raise MirrorError(f"mirror server on {bind}:{port} did not start: {_last_line(log)}")
        time.sleep(0.05)
    _signal(proc.pid, signal.SIGKILL)
    raise MirrorError(f"mirror server on {bind}:{port} did not start within {timeout_s:.0f}s (see {log})")


def stop(run_dir: Path, timeout_s: float = 5.0) -> bool:
    """Stop the server of this run dir; True if one was running."""
    pid = _read_pid(run_dir / PIDFILE)
    running = pid is not None and _ours_and_alive(pid)
    if pid is not None and running:
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _ours_and_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        if _ours_and_alive(pid):
            _signal(pid, signal.SIGKILL)
        _reap(pid)
    (run_dir / PIDFILE).unlink(missing_ok=True)
    (run_dir / STATEFILE).unlink(missing_ok=True)
    return running


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    # When the caller started the server itself it must collect the exit status, or the
    # server lingers as a zombie.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return "no log"
    return lines[-1] if lines else "no output"


if __name__ == "__main__":
    raise SystemExit(main())
