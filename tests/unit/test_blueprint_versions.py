"""Every `versions:` pin is one the artefact catalogue can deliver, and a refusal lists the
versions it knows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sovplatform.blueprint.catalogue import deliverable
from tests.unit.test_blueprint_rules import problems_for


def _enabled(change: dict[str, str]) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        d["versions"].update(change)
        d["kubernetes"] = {"enabled": True}

    return mutate


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"ceph": "18.2.8"}, "versions.ceph: 18.2.8 is not what Debian 13 (trixie) packages: it delivers 18.2.7"),
        ({"etcd": "3.5.16"}, "versions.etcd: 3.5.16 is not an etcd the artefact catalogue builds (known: 3.6.17)"),
        ({"haproxy": "2.6.12"}, "versions.haproxy: 2.6.12 is not what Debian 13 (trixie) packages"),
        ({"openbao": "2.7.0"}, "versions.openbao: 2.7.0 has no pinned checksum in the artefact catalogue "
         "(known: 2.6.2, 2.7.1, 2.7.2)"),
        ({"containerd": "1.7.0"}, "versions.containerd: 1.7.0 is not the containerd built with Kubernetes 1.36.3"),
        ({"kubernetes": "1.31.4", "containerd": "1.7.0"},
         "versions.containerd: 1.7.0 is not a containerd the artefact catalogue builds (known: 2.4.2)"),
    ],
)  # fmt: skip
def test_pins_the_catalogue_cannot_deliver_are_refused(change: dict[str, str], expected: str) -> None:
    lines = problems_for(lambda d: d["versions"].update(change))
    assert any(line.startswith(expected) for line in lines), lines


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"kubernetes": "1.31.4"}, "versions.kubernetes: 1.31.4 is not in the artefact catalogue, which "
         "kubernetes.enabled needs (known: 1.36.3, 1.37.2)"),
        ({"kubevirt": "1.4.0"}, "versions.kubevirt: 1.4.0 is not in the artefact catalogue, which "
         "kubernetes.enabled needs (known: 1.6.0)"),
        ({"cdi": "1.61.0"}, "versions.cdi: 1.61.0 is not in the artefact catalogue, which kubernetes.enabled "
         "needs (known: 1.63.1)"),
        ({"ceph_csi": "3.13.0"}, "versions.ceph_csi: 3.13.0 is not in the artefact catalogue, which "
         "kubernetes.enabled needs (known: 3.14.0)"),
    ],
)  # fmt: skip
def test_an_enabled_kubernetes_layer_needs_every_pin_catalogued(change: dict[str, str], expected: str) -> None:
    lines = problems_for(_enabled(change))
    assert any(line.startswith(expected) for line in lines), lines


def test_a_layer_left_out_does_not_pin_its_addons() -> None:
    # nothing fetches them while kubernetes.enabled is false (the molecule scenarios pin older ones)
    change = {"kubernetes": "1.31.4", "kubevirt": "1.4.0", "cdi": "1.61.0", "ceph_csi": "3.13.0"}
    assert problems_for(lambda d: d["versions"].update(change)) == []


def test_the_shipped_pins_are_deliverable() -> None:
    assert problems_for(_enabled({})) == []


def test_bookworm_lists_what_it_packages() -> None:
    assert deliverable("ceph", "bookworm") == ["16.2.15"]
    assert deliverable("etcd", "bookworm") == deliverable("etcd", "trixie") == ["3.6.17"]  # built, not packaged
    assert deliverable("kubernetes", "trixie") == ["1.36.3", "1.37.2"]
