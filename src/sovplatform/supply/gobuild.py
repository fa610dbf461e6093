"""Building one catalogue component from its pinned wrapper module into the store.

One `go build` per component builds all of its programs (the compiler shares their packages),
with -trimpath, no VCS stamp, no build id and the version stamped in by -X, so the same inputs
give the same bytes on any machine with the same Go release. A hit in the store skips the build.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sovplatform.mirror import tools
from sovplatform.mirror.binaries import sha256_file
from sovplatform.mirror.errors import MirrorError
from sovplatform.plan.source_catalog import BASE_LDFLAGS, BUILD_FLAGS, Component
from sovplatform.supply import sbom, toolchain
from sovplatform.supply.store import REPO_ROOT, Store, digest_of

Progress = Callable[[str], None]
META = "meta.json"


@dataclass(frozen=True)
class Built:
    """One program in the store."""

    component: str
    version: str
    name: str
    path: Path
    sha256: str
    size: int
    sbom: Path | None
    licence: str
    key: str
    seconds: float  # build time of the component (0.0 when it came from the store)


def wrapper_dir(component: Component, repo: Path = REPO_ROOT) -> Path:
    return repo / component.wrapper


def ldflags(component: Component) -> str:
    return " ".join([*BASE_LDFLAGS, *(f"-X {x}" for x in component.ldflags)])


def recipe_key(component: Component, repo: Path = REPO_ROOT) -> str:
    """Every input that can change the output bytes."""
    wrapper = wrapper_dir(component, repo)
    files = {}
    for name in ("go.mod", "go.sum", "main.go"):
        path = wrapper / name
        if path.is_file():
            files[name] = sha256_file(path)
    inputs = {
        "format": 1,
        "component": component.name,
        "version": component.version,
        "module": f"{component.module}@{component.pinned}",
        "programs": [(p.name, p.package) for p in component.programs],
        "language": component.language,
        "ldflags": ldflags(component),
        "cflags": component.cflags,
        "flags": BUILD_FLAGS,
        "tags": component.tags,
        "cgo": component.cgo,
        "wrapper": files,
        "go": toolchain.go_version(),
        "target": "linux/amd64",
    }
    return digest_of(inputs)


def _check_wrapper(component: Component, repo: Path) -> Path:
    wrapper = wrapper_dir(component, repo)
    gomod = wrapper / "go.mod"
    if not gomod.is_file() or not (wrapper / "go.sum").is_file():
        raise MirrorError(
            f"{component.name} {component.version}: no pinned wrapper module at {component.wrapper} "
            "(go.mod and go.sum); docs/supply-chain.md says how to pin a version"
        )
    if component.module.startswith("sovplatform.build/"):
        return wrapper
    if f"{component.module} {component.pinned}" not in gomod.read_text():
        raise MirrorError(
            f"{component.name} {component.version}: {component.wrapper}/go.mod does not require "
            f"{component.module} {component.pinned}"
        )
    return wrapper


def _load(component: Component, directory: Path, key: str) -> list[Built] | None:
    meta_path = directory / META
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    out = []
    for p in component.programs:
        entry = meta.get("programs", {}).get(p.name)
        path = directory / p.name
        # Re-hashed on every use: a damaged store entry is rebuilt, never published.
        if not entry or not path.is_file() or sha256_file(path) != entry["sha256"]:
            return None
        cdx = directory / f"{p.name}.cdx.json"
        out.append(
            Built(
                component.name,
                component.version,
                p.name,
                path,
                entry["sha256"],
                path.stat().st_size,
                cdx if cdx.is_file() else None,
                component.licence,
                key,
                0.0,
            )
        )
    return out


def ensure_component(
    component: Component,
    store: Store,
    say: Progress,
    *,
    cyclonedx: Path | None,
    repo: Path = REPO_ROOT,
) -> list[Built]:
    """The component's programs from the store, built first if they are not there.
    ``cyclonedx`` None: no SBOM (only for the SBOM tool itself)."""
    wrapper = _check_wrapper(component, repo)
    key = recipe_key(component, repo)
    final = store.built(component.name, component.version, key)
    cached = _load(component, final, key)
    if cached is not None:
        return cached
    label = f"build {component.name} {component.version}"
    say(f"{label}: compiling {', '.join(p.name for p in component.programs)} (cold: minutes)")
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=final.parent, prefix=".build-"))
    started = time.monotonic()
    env = toolchain.go_env(store, cgo=component.cgo)
    try:
        if component.language == "c":
            _build_c(component, store, scratch, label, say, wrapper, env)
        else:
            _build_go(component, scratch, label, say, wrapper, env)
        seconds = time.monotonic() - started
        programs = {}
        for p in component.programs:
            path = scratch / p.name
            if not path.is_file():
                raise MirrorError(f"{label}: the build produced no {p.name}")
            if cyclonedx is not None:
                say(f"{label}: SBOM of {p.name}")
                if component.language == "c":
                    sbom.c_sbom(component, p.name, scratch / f"{p.name}.cdx.json")
                else:
                    sbom.go_sbom(cyclonedx, path, scratch / f"{p.name}.cdx.json", env)
            programs[p.name] = {"sha256": sha256_file(path), "package": p.package}
        meta = {
            "component": component.name,
            "version": component.version,
            "key": key,
            "go": toolchain.go_version(),
            "seconds": round(seconds, 1),
            "programs": programs,
        }
        (scratch / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        os.rename(scratch, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    say(f"{label}: done in {seconds:.0f}s")
    built = _load(component, final, key)
    assert built is not None
    return [Built(**{**b.__dict__, "seconds": round(seconds, 1)}) for b in built]


def _build_go(component: Component, out: Path, label: str, say: Progress, wrapper: Path, env: dict[str, str]) -> None:
    argv = [toolchain.go_binary(), "build", "-v", *BUILD_FLAGS, "-ldflags", ldflags(component)]
    if component.tags:
        argv += ["-tags", ",".join(component.tags)]
    # With several packages, -o names a directory and each program lands under its own name.
    if len(component.programs) == 1:
        argv += ["-o", str(out / component.programs[0].name), component.programs[0].package]
    else:
        argv += ["-o", f"{out}/", *(p.package for p in component.programs)]
    toolchain.run_live(argv, label, say, cwd=wrapper, env=env)
    for p in component.programs:
        # `go build -o dir/` names a program after its package's last element.
        produced = out / p.package.rstrip("/").rsplit("/", 1)[-1]
        if produced != out / p.name and produced.is_file():
            os.rename(produced, out / p.name)


def _build_c(
    component: Component, store: Store, out: Path, label: str, say: Progress, wrapper: Path, env: dict[str, str]
) -> None:
    module_dir = tools.run(
        [toolchain.go_binary(), "mod", "download", "-json", f"{component.module}@{component.pinned}"],
        f"{label}: go mod download",
        cwd=wrapper,
        env=env,
    )
    source_root = Path(json.loads(module_dir)["Dir"])
    program = component.programs[0]
    tools.run(
        ["gcc", *component.cflags, "-o", str(out / program.name), str(source_root / program.package)],
        f"{label}: gcc",
        env={"SOURCE_DATE_EPOCH": "0"},
    )
    tools.run(["strip", str(out / program.name)], f"{label}: strip")
