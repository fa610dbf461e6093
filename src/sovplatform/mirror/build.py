"""Building the mirror from an artefact list: resolve, download (cached), verify, index, sign,
then publish atomically.

A cold build downloads everything into the cache; a warm build for the same list finds the
package lists recent and every .deb and binary cached, so it only re-resolves, hard-links
files and rewrites the small index files.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from sovplatform.files import exclusive
from sovplatform.mirror import binaries, debs, layout, remote, repo, tools
from sovplatform.mirror.errors import MirrorError
from sovplatform.mirror.manifest import DebFile, MirrorManifest, MissingArtefact, ResolvedArtefact, render_sums
from sovplatform.mirror.signing import MirrorKey
from sovplatform.plan.artefacts import BUILT_PREFIXES, Artefact
from sovplatform.supply import locate as supply_locate
from sovplatform.supply.store import Store

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _cache_lock(path: Path, progress: Progress) -> contextlib.AbstractContextManager[None]:
    """One build per cache at a time: apt's lists and archives dir are shared."""
    return exclusive(path, lambda: progress(f"waiting for another mirror build using {path.parent}"))


def debian_suite(artefacts: Iterable[Artefact]) -> str:
    suites = {a.source.removeprefix("debian:") for a in artefacts if a.kind == "deb"}
    bad = sorted(s for s in suites if not s or ":" in s)
    if bad or len(suites) > 1:
        raise MirrorError(f"deb artefacts must all come from one 'debian:<suite>' source, got {sorted(suites)}")
    return suites.pop() if suites else "bookworm"


def check_inputs(artefacts: Iterable[Artefact]) -> list[str]:
    """Problems visible without any download, all reported at once before anything is fetched."""
    problems: list[str] = []
    for a in artefacts:
        if a.kind not in ("deb", "binary", "file", "build", "image"):
            problems.append(f"{a.kind} {a.name}: unknown artefact kind {a.kind!r}")
        elif a.kind == "build" or (a.kind == "image" and a.source.startswith("built:")):
            if not a.source.startswith(BUILT_PREFIXES):
                problems.append(f"build {a.name} {a.version}: source must say what it is built from (go:/c:)")
        elif a.kind in ("file", "image"):
            problems.extend(remote.check_source(a))
        elif a.kind == "binary":
            if not a.sha256 or not re.fullmatch(r"[0-9a-f]{64}", a.sha256):
                problems.append(f"binary {a.name} {a.version}: no valid sha256 pinned; refusing an unchecked binary")
            try:
                binaries.parse_source(a.source)
            except MirrorError as exc:
                problems.extend(f"binary {a.name} {a.version}: {p}" for p in exc.problems)
    return problems


def _stage_dir(out_dir: Path) -> Path:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Leftovers of an interrupted build (our own prefix only) are removed, never reused.
    for stale in out_dir.parent.glob(f".{out_dir.name}.build-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.build-"))


def _swap_in(stage: Path, out_dir: Path) -> None:
    """Replace out_dir by the finished stage. Two renames on one filesystem: readers see the old
    tree or the new one (for an instant, none), never a partial one."""
    old: Path | None = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.build-old"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out_dir, old)
    os.rename(stage, out_dir)
    os.chmod(out_dir, 0o755)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_mirror(
    artefacts: list[Artefact],
    out_dir: Path,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    *,
    sources: debs.DebianSources | None = None,
    refresh: bool = False,
    fetch: remote.Fetch | None = remote.https_fetch,
    bundle: Path | None = None,
    store: Store | None = None,
) -> MirrorManifest:
    """Build the mirror for ``artefacts`` at ``out_dir``; raise MirrorError on any problem,
    in which case out_dir is left as it was.

    ``cache_dir`` defaults to the user's cache (see ``layout.default_cache_dir``); ``refresh``
    forces an apt update even when the cached package lists are recent.

    Upstream files (kind "file") and images cannot always be had: those are not problems but
    ``manifest.missing``, one entry each with the source it would need, and everything else is
    still published. ``fetch`` None builds offline (cache and ``bundle`` only).

    Programs and images built from source come from ``store`` (never built here: `sovplatform
    artefacts build` does that); what the store lacks is listed as missing like the rest.
    """
    say = progress or _quiet
    cache = layout.CacheLayout(cache_dir or layout.default_cache_dir())
    deb_items = sorted(a for a in artefacts if a.kind == "deb")
    bin_items = sorted(a for a in artefacts if a.kind == "binary")
    store = store or Store()
    # check_inputs (below) has refused a build artefact whose source is not one of these.
    built_items = sorted(a for a in artefacts if a.source.startswith(BUILT_PREFIXES))
    remote_items = sorted(a for a in artefacts if a.kind in ("file", "image") and a not in built_items)
    problems = check_inputs(artefacts)
    if problems:
        raise MirrorError(problems)
    suite = debian_suite(deb_items)
    src = sources or debs.DebianSources(suite=suite)
    if src.suite != suite:
        raise MirrorError(f"artefacts want Debian {suite} but the sources are for {src.suite}")
    tools.ensure_tools("apt-get", "apt-ftparchive", "gpg", "gpgconf", progress=say)

    with _cache_lock(cache.lock, say):
        # Fetch everything first, so a download problem never costs a half-made stage dir.
        wanted = {a.name: a.version for a in deb_items}
        pins: dict[str, str] = {}
        closure: list[debs.ResolvedDeb] = []
        if wanted:
            apt = debs.AptRoot(cache.apt_root("\n".join(src.lines())), cache.debs, src)
            pins, closure = debs.resolve_and_download(apt, wanted, say, refresh=refresh)
            say("debs: checking cached files against Debian's index")
            debs.verify_cached(apt, closure)
            say(f"debs: {len(wanted)} requested, {len(closure)} in the closure")
        cached_bins = {
            a: binaries.ensure_binary(
                a.name, a.version, a.source, a.sha256, cache.binary(a.name, a.version), cache.wheels, say
            )
            for a in bin_items
        }
        cached_files, missing = remote.collect(
            remote_items,
            lambda a: cache.file(a.name, a.version, remote.file_name(a.source)),
            say,
            fetch=fetch,
            bundle=bundle,
        )

        found = supply_locate.locate(built_items, store) if built_items else supply_locate.Found()
        missing = [*missing, *found.missing]

        stage = _stage_dir(out_dir)
        key = MirrorKey(cache.gnupg)
        try:
            manifest = _assemble(
                stage,
                cache,
                suite,
                src,
                deb_items,
                bin_items,
                pins,
                closure,
                {**cached_bins, **cached_files},
                key,
                say,
                missing,
                found,
                store,
            )
            _swap_in(stage, out_dir)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        finally:
            key.close()
    say(f"mirror ready at {out_dir} ({manifest.total_bytes / 1e6:.1f} MB, {len(manifest.missing)} missing)")
    return manifest


def _assemble(
    stage: Path,
    cache: layout.CacheLayout,
    suite: str,
    src: debs.DebianSources,
    deb_items: list[Artefact],
    bin_items: list[Artefact],
    pins: dict[str, str],
    closure: list[debs.ResolvedDeb],
    cached_bins: dict[Artefact, Path],
    key: MirrorKey,
    say: Progress,
    missing: list[MissingArtefact],
    found: supply_locate.Found,
    store: Store,
) -> MirrorManifest:
    repo_dir = stage / layout.REPO_DIR
    pool = repo_dir / layout.POOL_DIR
    pool.mkdir(parents=True)
    say(f"repo: linking {len(closure)} debs")
    pool_names: dict[debs.ResolvedDeb, str] = {}
    for d in closure:
        pool_name = layout.deb_pool_name(d.name, d.version, d.arch)
        binaries.link_or_copy(cache.debs / d.archive_name, pool / pool_name)
        pool_names[d] = f"{layout.POOL_DIR}/{pool_name}"
    say("repo: indexing (apt-ftparchive) and signing")
    stanzas = repo.index(repo_dir, suite)
    fpr = key.ensure()
    key.sign_release(fpr, repo_dir)
    key.export(fpr, stage / layout.KEYRING, stage / layout.KEY_ASC)

    deb_files: dict[str, DebFile] = {}
    for d in closure:
        fields = stanzas.get(pool_names[d])
        if fields is None:
            raise MirrorError(f"repo: apt-ftparchive did not index {pool_names[d]}")
        deb_files[d.name] = DebFile(
            name=d.name,
            version=d.version,
            arch=d.arch,
            filename=f"{layout.REPO_DIR}/{pool_names[d]}",
            sha256=fields["SHA256"],
            size=int(fields["Size"]),
        )

    resolved: list[ResolvedArtefact] = []
    for a in deb_items:
        f = deb_files.get(a.name)
        if f is None or f.version != pins[a.name]:
            raise MirrorError(f"deb {a.name}: apt resolved the closure without it at {pins[a.name]}")
        resolved.append(
            ResolvedArtefact("deb", a.name, a.version, f.version, f.filename, f.sha256, f.size, a.roles, a.source)
        )

    sums: list[tuple[str, str]] = []
    for a in bin_items:
        rel = layout.binary_path(a.name, a.version)
        binaries.link_or_copy(cached_bins[a], stage / rel)
        assert a.sha256
        (stage / rel).parent.joinpath(layout.SUMS).write_text(render_sums([(a.name, a.sha256)]))
        sums.append((rel.removeprefix(f"{layout.BINARIES_DIR}/"), a.sha256))
        resolved.append(
            ResolvedArtefact(
                "binary", a.name, a.version, a.version, rel, a.sha256, (stage / rel).stat().st_size, a.roles, a.source
            )
        )
    if sums:
        (stage / layout.BINARIES_DIR / layout.SUMS).write_text(render_sums(sums))

    file_sums: list[tuple[str, str]] = []
    for a in sorted(a for a in cached_bins if a.kind == "file"):
        rel = layout.file_path(a.name, a.version, remote.file_name(a.source))
        binaries.link_or_copy(cached_bins[a], stage / rel)
        assert a.sha256
        file_sums.append((rel.removeprefix(f"{layout.FILES_DIR}/"), a.sha256))
        resolved.append(
            ResolvedArtefact(
                "file", a.name, a.version, a.version, rel, a.sha256, (stage / rel).stat().st_size, a.roles, a.source
            )
        )
    if file_sums:
        (stage / layout.FILES_DIR / layout.SUMS).write_text(render_sums(file_sums))

    resolved += _link_built(stage, found, store, say)

    manifest = MirrorManifest(
        suite=suite,
        artefacts=tuple(resolved),
        debs=tuple(deb_files.values()),
        signing_key=fpr,
        sources=tuple(src.lines()),
        missing=tuple(missing),
    )
    (stage / layout.MANIFEST).write_text(manifest.to_json())
    return manifest


def _link_built(stage: Path, found: supply_locate.Found, store: Store, say: Progress) -> list[ResolvedArtefact]:
    """Programs built from source beside their SBOMs, and the registry tree with the images."""
    out: list[ResolvedArtefact] = []
    sums: list[tuple[str, str]] = []
    for a, b in sorted(found.programs.items()):
        rel = layout.binary_path(a.name, a.version)
        binaries.link_or_copy(b.path, stage / rel)
        (stage / rel).parent.joinpath(layout.SUMS).write_text(render_sums([(a.name, b.sha256)]))
        if b.sbom is not None:
            binaries.link_or_copy(b.sbom, stage / f"{rel}{layout.SBOM_SUFFIX}")
        sums.append((rel.removeprefix(f"{layout.BINARIES_DIR}/"), b.sha256))
        out.append(ResolvedArtefact("build", a.name, a.version, a.version, rel, b.sha256, b.size, a.roles, a.source))
    if sums:
        sums_file = stage / layout.BINARIES_DIR / layout.SUMS
        earlier = sums_file.read_text() if sums_file.exists() else ""
        sums_file.write_text(earlier + render_sums(sums))
    if found.images:
        say(f"registry: linking {len(found.images)} built images")
        shutil.copytree(store.registry, stage / layout.REGISTRY_DIR, copy_function=os.link)
        for a, digest in sorted(found.images.items()):
            ref = a.source.removeprefix("built:")
            rel = f"{layout.REGISTRY_DIR}:{ref}"
            out.append(
                ResolvedArtefact(
                    "image", a.name, a.version, a.version, rel, digest.removeprefix("sha256:"), 0, a.roles, a.source
                )
            )
    return out
