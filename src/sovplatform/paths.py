"""Where sovplatform keeps state (per platform) and caches (shared): the only dirs it writes."""

from __future__ import annotations

import os
from pathlib import Path


def state_root() -> Path:
    # Absolute: these paths end up in Terraform variables, pidfiles and other processes' cwd.
    return Path(os.environ.get("SOVPLATFORM_STATE_DIR") or Path.cwd() / ".sovplatform").absolute()


def state_dir(platform: str) -> Path:
    return state_root() / platform


def cache_dir() -> Path:
    if os.environ.get("SOVPLATFORM_CACHE_DIR"):
        return Path(os.environ["SOVPLATFORM_CACHE_DIR"]).absolute()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sovplatform"
