"""The artefact list: every package and binary the offline mirror must carry for a plan."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from sovplatform.plan.catalog import BINARIES, DEB_BY_ROLE, DEB_COMMON, DEB_VERSION_KEYS
from sovplatform.plan.kube_catalog import IMAGES_NOT_MIRRORED, images, remote_files
from sovplatform.plan.source_catalog import ETCD_RELEASES, stack
from sovplatform.plan.source_catalog import etcd as etcd_components

# Sources of what is built from pinned source (never fetched): a Go package or C file at a
# module version, or an image assembled from those programs.
BUILT_PREFIXES = ("go:", "c:", "built:")


@dataclass(frozen=True, order=True)
class Artefact:
    """One thing the mirror serves.

    deb: ``version`` is the upstream version the package must match (the Debian revision
    suffix is resolved by the mirror and recorded there); empty means the distribution's
    candidate. binary: ``source`` says where it comes from, ``sha256`` pins the file itself.
    file: ``source`` is the upstream https URL; ``sha256`` pins the file, or is None with
    ``note`` saying why (the mirror then reports it missing, never publishes it unchecked).
    build: a program built from pinned source; ``source`` is ``go:<module>@<version>#<package>``
    (or ``c:`` for the pause binary); its digest is the reproducible build's, in the manifest.
    image: ``source`` is ``built:<reference>`` for an image assembled from built programs and
    served by the mirror's registry, else the upstream reference of an add-on image, reported
    as missing.
    """

    kind: Literal["deb", "binary", "file", "build", "image"]
    name: str
    version: str
    source: str
    sha256: str | None
    roles: tuple[str, ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["roles"] = list(self.roles)
        return data


def artefact_list(roles_in_use: set[str], versions: dict[str, str], debian: str) -> list[Artefact]:
    """Debian packages and binaries needed by the roles present in the platform, sorted."""
    debs: dict[str, set[str]] = {name: {"all"} for name in DEB_COMMON}
    for role in sorted(roles_in_use):
        for name in DEB_BY_ROLE.get(role, ()):
            debs.setdefault(name, set()).add(role)
    out: list[Artefact] = []
    for name, roles in debs.items():
        key = DEB_VERSION_KEYS.get(name)
        out.append(
            Artefact(
                kind="deb",
                name=name,
                version=versions.get(key, "") if key else "",
                source=f"debian:{debian}",
                sha256=None,
                roles=tuple(sorted(roles)),
            )
        )
    for (component, version), entry in sorted(BINARIES.items()):
        if versions.get(component) != version:
            continue
        roles = tuple(r for r in entry.roles if r in roles_in_use)
        if not roles:
            continue
        out.append(
            Artefact(
                kind="binary",
                name=entry.name,
                version=version,
                source=entry.source,
                sha256=entry.sha256,
                roles=roles,
            )
        )
    if "etcd" in roles_in_use and versions.get("etcd") in ETCD_RELEASES:
        for c in etcd_components(versions["etcd"]):
            for p in c.programs:
                out.append(
                    Artefact(
                        "build", p.name, c.version, f"{c.language}:{c.module}@{c.pinned}#{p.package}", None, ("etcd",)
                    )
                )
    chosen = stack(versions.get("kubernetes", ""))
    if chosen is not None:
        for c in chosen.components():
            for p in c.programs:
                roles = tuple(r for r in p.roles if r in roles_in_use)
                # etcd comes below, from versions.etcd, whether or not the layer is catalogued.
                if roles and c.name not in ("etcd", "etcdctl"):
                    source = f"{c.language}:{c.module}@{c.pinned}#{p.package}"
                    out.append(Artefact("build", p.name, c.version, source, None, roles))
        for r in chosen.images():
            roles = tuple(x for x in r.roles if x in roles_in_use)
            if roles:
                out.append(Artefact("image", r.name, r.version, f"built:{r.ref}", None, roles))
    for f in remote_files(versions):
        roles = tuple(r for r in f.roles if r in roles_in_use)
        if roles:
            out.append(Artefact("file", f.name, f.version, f.url, f.sha256, roles, f.note))
    for image in images(versions):
        roles = tuple(r for r in image.roles if r in roles_in_use)
        if roles:
            version = image.ref.rsplit(":", 1)[1]
            out.append(Artefact("image", image.name, version, image.ref, None, roles, IMAGES_NOT_MIRRORED))
    return sorted(out)
