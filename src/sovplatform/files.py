"""Writing files so that a crash never leaves a half-written one, and unchanged files stay
untouched (a second run changes nothing, not even mtimes)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, content: bytes, mode: int = 0o644) -> bool:
    """Write if different; return True when the file changed."""
    try:
        if path.read_bytes() == content:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def write_tree(root: Path, files: dict[str, bytes]) -> list[str]:
    """Write every file under root; return the relative paths that changed."""
    return [rel for rel, content in sorted(files.items()) if write_atomic(root / rel, content)]
