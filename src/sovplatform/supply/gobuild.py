"""Building one catalogue component from its pinned wrapper module into the store.

One `go build` per component builds all of its programs (the compiler shares their packages),
with -trimpath, no VCS stamp, no build id and the version stamped in by -X, so the same inputs
give the same bytes on any machine with the same Go release. A hit in the store skips the build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sovplatform.mirror import tools
from sovplatform.mirror.binaries import sha256_file
from sovplatform.mirror.errors import MirrorError
from sovplatform.mirror.layout import SBOM_SUFFIX
from sovplatform.plan.source_catalog import BASE_LDFLAGS, BUILD_FLAGS, Component, Program
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


def recipe_key(component: Component, program: Program, repo: Path = REPO_ROOT) -> str:
    """Every input that can change the program's bytes."""
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
        "program": (program.name, program.package),
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


def _load(component: Component, program: Program, directory: Path, key: str) -> Built | None:
    try:
        meta = json.loads((directory / META).read_text())
    except (OSError, ValueError):
        return None
    path = directory / program.name
    # Re-hashed on every use: a damaged store entry is rebuilt, never published.
    if meta.get("key") != key or not path.is_file() or sha256_file(path) != meta.get("sha256"):
        return None
    cdx = directory / f"{program.name}{SBOM_SUFFIX}"
    return Built(
        component.name,
        component.version,
        program.name,
        path,
        meta["sha256"],
        path.stat().st_size,
        cdx if cdx.is_file() else None,
        component.licence,
        key,
        float(meta.get("seconds", 0.0)),
    )


def find_program(component: Component, program: Program, store: Store, repo: Path = REPO_ROOT) -> Built | None:
    _check_wrapper(component, repo)
    key = recipe_key(component, program, repo)
    return _load(component, program, store.built(component.name, component.version, key), key)


def find_component(component: Component, store: Store, repo: Path = REPO_ROOT) -> list[Built] | None:
    """The component's programs if the store holds every one for the current inputs, else None."""
    _check_wrapper(component, repo)
    found = [find_program(component, p, store, repo) for p in component.programs]
    return None if any(b is None for b in found) else [b for b in found if b is not None]


def ensure_component(
    component: Component,
    store: Store,
    say: Progress,
    *,
    cyclonedx: Path | None,
    repo: Path = REPO_ROOT,
    names: set[str] | None = None,
) -> list[Built]:
    """The component's programs (or those in ``names``) from the store, building the ones that are
    not there in one compiler run. ``cyclonedx`` None: no SBOM (only for the SBOM tool itself)."""
    wrapper = _check_wrapper(component, repo)
    wanted = [p for p in component.programs if names is None or p.name in names]
    found = {p.name: find_program(component, p, store, repo) for p in wanted}
    # A program built once without its SBOM (a test's reproducibility build) is built again with it.
    todo = [p for p in wanted if (b := found[p.name]) is None or (cyclonedx is not None and b.sbom is None)]
    if todo:
        _build(component, todo, store, say, cyclonedx, wrapper, repo)
        # Only what was just built is looked up (and hashed) again.
        found.update({p.name: find_program(component, p, store, repo) for p in todo})
    out = []
    for p in wanted:
        built = found[p.name]
        if built is None:
            raise MirrorError(
                f"build {component.name} {component.version}: {p.name} is not in the store after its build"
            )
        out.append(built)
    return out


def _build(
    component: Component,
    programs: list[Program],
    store: Store,
    say: Progress,
    cyclonedx: Path | None,
    wrapper: Path,
    repo: Path,
) -> None:
    label = f"build {component.name} {component.version}"
    _ensure_packages(component, say)
    say(f"{label}: compiling {', '.join(p.name for p in programs)} (cold: minutes)")
    base = store.root / "built" / component.name / component.version
    base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=base, prefix=".build-"))
    started = time.monotonic()
    env = toolchain.go_env(store, cgo=component.cgo)
    try:
        if component.language == "c":
            _build_c(component, scratch, label, wrapper, env)
        else:
            _build_go(component, programs, scratch, label, say, wrapper, env)
        seconds = round(time.monotonic() - started, 1)
        for p in programs:
            path = scratch / p.name
            if not path.is_file():
                raise MirrorError(f"{label}: the build produced no {p.name}")
            entry = scratch / f".{p.name}"
            entry.mkdir()
            os.rename(path, entry / p.name)
            if cyclonedx is not None:
                say(f"{label}: SBOM of {p.name}")
                cdx = entry / f"{p.name}{SBOM_SUFFIX}"
                if component.language == "c":
                    sbom.c_sbom(component, p.name, cdx)
                else:
                    sbom.go_sbom(cyclonedx, entry / p.name, cdx, env)
            key = recipe_key(component, p, repo)
            meta = {
                "component": component.name,
                "version": component.version,
                "program": p.name,
                "package": p.package,
                "key": key,
                "go": toolchain.go_version(),
                "seconds": seconds,
                "sha256": sha256_file(entry / p.name),
            }
            (entry / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
            final = store.built(component.name, component.version, key)
            shutil.rmtree(final, ignore_errors=True)
            os.rename(entry, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    say(f"{label}: done in {seconds:.0f}s")


def _ensure_packages(component: Component, say: Progress) -> None:
    """The C toolchain and headers a component needs, from the controller's own archive."""
    missing = []
    for pkg in component.build_packages:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True, check=False)
        if "install ok installed" not in out.stdout:
            missing.append(pkg)
    if not missing:
        return
    if os.geteuid() != 0:
        raise MirrorError(f"build {component.name}: install the Debian packages {' '.join(missing)} (as root)")
    say(f"build {component.name}: installing controller packages {' '.join(missing)}")
    tools.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        "apt-get install",
        env={"DEBIAN_FRONTEND": "noninteractive"},
    )


def _build_go(
    component: Component,
    programs: list[Program],
    out: Path,
    label: str,
    say: Progress,
    wrapper: Path,
    env: dict[str, str],
) -> None:
    argv = [toolchain.go_binary(), "build", "-v", *BUILD_FLAGS, "-ldflags", ldflags(component)]
    if component.tags:
        argv += ["-tags", ",".join(component.tags)]
    # With several packages, -o names a directory and each program lands under its own name.
    if len(programs) == 1:
        argv += ["-o", str(out / programs[0].name), programs[0].package]
    else:
        argv += ["-o", f"{out}/", *(p.package for p in programs)]
    toolchain.run_live(argv, label, say, cwd=wrapper, env=env)
    for p in programs:
        # `go build -o dir/` names a program after its package's last element.
        produced = out / p.package.rstrip("/").rsplit("/", 1)[-1]
        if produced != out / p.name and produced.is_file():
            os.rename(produced, out / p.name)


def _build_c(component: Component, out: Path, label: str, wrapper: Path, env: dict[str, str]) -> None:
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
