"""Live progress: what is running, where, for how long; never silent for more than a few seconds.

On a terminal a rich live line shows phase, current activity and elapsed time. Elsewhere (CI,
pipes) each change is printed as a timestamped line, and a heartbeat line is printed when the
same activity has run for a while, so a log never goes quiet.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from sovplatform.redact import redact_text

HEARTBEAT_S = 10.0


class Progress:
    def __init__(self, console: Console | None = None, title: str = "") -> None:
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.title = title
        self.phase_name = ""
        self.activity = ""
        self._start = time.monotonic()
        self._activity_since = self._start
        self._last_print = self._start
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._live: Live | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Progress:
        if self.console.is_terminal:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        if self._live:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    # -- reporting ---------------------------------------------------------------------------
    def phase(self, name: str) -> None:
        with self._lock:
            self.phase_name = name
            self.activity = ""
            self._activity_since = time.monotonic()
        self.log(f"== {name}")

    def update(self, activity: str) -> None:
        activity = redact_text(activity)
        with self._lock:
            if activity == self.activity:
                return
            self.activity = activity
            self._activity_since = time.monotonic()
        if self._live:
            self._live.update(self._render())
        else:
            self._print(f"   {activity}")

    def log(self, line: str) -> None:
        """A line that stays in the output (results, warnings), not just the live status."""
        self._print(redact_text(line))

    def elapsed(self) -> float:
        return time.monotonic() - self._start

    # -- internals ---------------------------------------------------------------------------
    def _print(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            self._last_print = time.monotonic()
        self.console.print(f"[{stamp}] {line}", markup=False, highlight=False)

    def _render(self) -> Spinner:
        now = time.monotonic()
        text = Text()
        text.append(f"{self.phase_name or self.title} ", style="bold")
        text.append(self.activity or "…")
        text.append(f"  {now - self._activity_since:4.0f}s / {now - self._start:4.0f}s total", style="dim")
        return Spinner("dots", text=text)

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            if self._live:
                self._live.update(self._render())
                continue
            now = time.monotonic()
            if now - self._last_print >= HEARTBEAT_S:
                with self._lock:
                    what = self.activity or self.phase_name
                    since = now - self._activity_since
                self._print(f"   … still {what} ({since:.0f}s)")
