"""Install a controller tool built from pinned source into a directory (scripts/install uses it
for OpenTofu): `python -m sovplatform.supply.install_tool opentofu .venv/bin`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sovplatform.mirror.errors import MirrorError
from sovplatform.plan.source_catalog import TOOLS
from sovplatform.supply import build
from sovplatform.supply.store import Store


def _say(line: str) -> None:
    print(f"install: {line}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in TOOLS:
        print(f"usage: install_tool {{{','.join(sorted(TOOLS))}}} DEST_DIR", file=sys.stderr)
        return 2
    name, dest = argv[0], Path(argv[1])
    store = Store()
    try:
        with build.locked(store, _say):
            path = build.tool(name, store, _say)
    except MirrorError as exc:
        for p in exc.problems:
            print(f"install: {name}: {p}", file=sys.stderr)
        return 1
    dest.mkdir(parents=True, exist_ok=True)
    link = dest / path.name
    tmp = dest / f".{path.name}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(path)
    os.replace(tmp, link)
    print(link)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
