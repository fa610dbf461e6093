"""A CycloneDX SBOM beside every built program, and the licence list read from it.

Go programs: cyclonedx-gomod reads the module list the Go linker embedded in the binary (so
the SBOM names exactly what was linked, not what go.mod mentions) and detects each module's
licence from its source in the module cache. The pause binary is C: its SBOM is written here
from what the build used (its source module, and the C library it is statically linked with).
Serial number and timestamp are left out: the same program gives the same SBOM.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from sovplatform.mirror import tools
from sovplatform.plan.source_catalog import Component


def go_sbom(cyclonedx: Path, program: Path, out: Path, env: dict[str, str]) -> None:
    tools.run(
        [str(cyclonedx), "bin", "-json", "-licenses", "-noserial", "-notimestamp", "-output", str(out), str(program)],
        f"SBOM of {program.name}",
        env=env,
    )


def _debian_version(package: str) -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def c_sbom(component: Component, program: str, out: Path) -> None:
    """Minimal CycloneDX 1.6 document for a statically linked C program."""
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "component": {
                "type": "application",
                "name": program,
                "version": f"v{component.version}",
                "purl": f"pkg:golang/{component.module}@{component.pinned}#{component.programs[0].package}",
                "licenses": [{"license": {"id": component.licence}}],
            }
        },
        "components": [
            {
                "type": "library",
                "name": "libc6-dev",
                "version": _debian_version("libc6-dev"),
                "purl": f"pkg:deb/debian/libc6-dev@{_debian_version('libc6-dev')}?arch=amd64",
                "licenses": [{"license": {"id": "LGPL-2.1-or-later"}}],
            }
        ],
    }
    out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    ids = []
    for e in entries:
        lic = e.get("license", {})
        ident = lic.get("id") or lic.get("name") or e.get("expression")
        if ident:
            ids.append(ident)
    return ids


def licences(sbom: Path) -> dict[str, int]:
    """Licence id -> number of components (the program itself included) that carry it."""
    doc = json.loads(sbom.read_text())
    counts: Counter[str] = Counter()
    main = doc.get("metadata", {}).get("component", {})
    for comp in [main, *doc.get("components", [])]:
        found = _ids(comp.get("licenses", [])) + _ids(comp.get("evidence", {}).get("licenses", []))
        for ident in sorted(set(found)) or ["unknown"]:
            counts[ident] += 1
    return dict(sorted(counts.items()))


def main_licence(sbom: Path) -> str:
    """The licence of the program itself (as detected or declared), "" when not found."""
    doc = json.loads(sbom.read_text())
    main = doc.get("metadata", {}).get("component", {})
    found = _ids(main.get("licenses", [])) + _ids(main.get("evidence", {}).get("licenses", []))
    return " AND ".join(sorted(set(found)))
