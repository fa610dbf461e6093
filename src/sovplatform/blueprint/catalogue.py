"""What the artefact catalogue can deliver, per `versions:` key (pure), so that `validate`
refuses a pin the mirror build would only fail on later.

Each source of truth stays where it is: Debian suites (blueprint/suites.py), pinned binaries
(plan/catalog.py), stacks built from source (plan/source_catalog.py); this module only gathers
them under the blueprint's keys.
"""

from __future__ import annotations

from sovplatform.blueprint.suites import SUITES
from sovplatform.plan.catalog import known_versions
from sovplatform.plan.source_catalog import ETCD_RELEASES, STACKS

# Upstream add-ons of the Kubernetes layer (plan/kube_catalog.py fetches their files and images
# by version). These are the releases its manifests are written and checked against
# (tests/data/schemas/README.md); another release could rename or drop a field they set.
ADDON_RELEASES: dict[str, tuple[str, ...]] = {
    "kubevirt": ("1.6.0",),
    "cdi": ("1.63.1",),
    "ceph_csi": ("3.14.0",),
}

# Keys whose artefacts only the Kubernetes layer uses: with the layer off nothing fetches them.
KUBERNETES_LAYER = ("kubernetes", "kubevirt", "cdi", "ceph_csi")


def _sorted(versions: set[str] | list[str] | tuple[str, ...]) -> list[str]:
    def key(v: str) -> tuple[int | str, ...]:
        return tuple(int(p) if p.isdigit() else p for p in v.replace("-", ".").split("."))

    return sorted(set(versions), key=key)


def deliverable(key: str, suite: str) -> list[str]:
    """Every version the catalogue can deliver for `versions.<key>` on the given Debian suite."""
    if key in SUITES[suite].packaged:
        return [SUITES[suite].packaged[key]]
    if key == "openbao":
        return _sorted(known_versions("openbao"))
    if key == "kubernetes":
        return _sorted(list(STACKS))
    if key == "etcd":
        return _sorted(ETCD_RELEASES)
    if key == "containerd":
        return _sorted({s.containerd for s in STACKS.values()})
    return _sorted(ADDON_RELEASES.get(key, ()))
