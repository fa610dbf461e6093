"""The Kubernetes layer's availability: what `up` refuses before touching hosts, and what `up`
and `verify` report when the layer is left out."""

from __future__ import annotations

from typing import Any

import pytest

from sovplatform.blueprint import BlueprintError, validate_text
from sovplatform.mirror.manifest import MissingArtefact
from sovplatform.operations.errors import EXIT_REFUSED
from sovplatform.operations.kube_layer import availability, refusal
from sovplatform.plan.build import build_plan
from tests.helpers import dump, lab_dict

KUBEADM = MissingArtefact(
    "build", "kubeadm", "1.36.3", "go:k8s.io/kubernetes@v1.36.3#k8s.io/kubernetes/cmd/kubeadm", "not built yet"
)
IMAGE = MissingArtefact("image", "pause", "3.10.2", "built:registry.k8s.io/pause:3.10.2", "not built yet")
# Upstream add-ons are counted apart: they do not make Kubernetes itself unavailable.
ADDON = MissingArtefact("image", "kubevirt-operator", "v1.6.0", "quay.io/kubevirt/virt-operator:v1.6.0", "upstream")
# A missing Debian package is the mirror's own failure, never a reason to leave Kubernetes out.
DEB = MissingArtefact("deb", "jq", "", "debian:bookworm", "unknown package")


def test_only_built_programs_and_images_count_as_the_layers_artefacts() -> None:
    avail = availability(False, [KUBEADM, DEB, IMAGE, ADDON])
    assert avail.missing == (KUBEADM, IMAGE)
    assert avail.addons_missing == (ADDON,)
    assert avail.reason.startswith("not available: artefacts missing (2;")


def test_built_layer_with_addons_missing_says_both() -> None:
    avail = availability(False, [ADDON])
    assert avail.missing == ()
    assert avail.reason == (
        "not deployed: every Kubernetes artefact is built; add-ons still missing (1); "
        "set kubernetes.enabled in the blueprint"
    )
    assert avail.to_dict()["addons_missing"] == [ADDON.line()]


def test_left_out_layer_is_reported_not_refused() -> None:
    avail = availability(False, [KUBEADM])
    assert refusal(avail) is None
    report = avail.to_dict()
    assert report["layer"] == "kubernetes" and report["enabled"] is False
    assert report["missing"] == [KUBEADM.line()]


def test_enabled_layer_without_artefacts_refuses_one_line_each() -> None:
    refused = refusal(availability(True, [KUBEADM, IMAGE]))
    assert refused is not None and refused.code == EXIT_REFUSED
    assert refused.problems == [f"kubernetes.enabled: {KUBEADM.line()}", f"kubernetes.enabled: {IMAGE.line()}"]
    assert "sovplatform artefacts build" in refused.hint


def test_enabled_layer_with_every_artefact_is_deployed() -> None:
    assert refusal(availability(True, [])) is None
    assert availability(True, []).reason == "enabled, every Kubernetes artefact is built"
    assert availability(False, []).reason.startswith("not deployed: every Kubernetes artefact is built")


def test_lab_plan_lacks_artefacts_only_of_this_layer() -> None:
    """The plan lists the layer's files and images; an offline build without a bundle misses
    every one of them and nothing else (what the lab reports as "artefacts missing")."""
    plan = build_plan(validate_text(dump(lab_dict())))
    layer = [a for a in plan.data["artefacts"] if a["kind"] in ("build", "file", "image")]
    missing = [MissingArtefact(a["kind"], a["name"], a["version"], a["source"], "offline") for a in layer]
    built = {a["name"] for a in layer if a["kind"] == "build"}
    assert built >= {"kubeadm", "kubelet", "kubectl", "containerd", "runc", "crictl", "bridge", "host-local"}
    avail = availability(False, missing)
    assert len(avail.missing) + len(avail.addons_missing) == len(layer)
    assert {m.name for m in avail.missing} == built | {
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
        "coredns",
        "pause",
    }


@pytest.mark.parametrize(
    ("section", "ok"),
    [({"enabled": True}, True), ({"enabled": False}, True), ({}, True), ({"enable": True}, False)],
)
def test_blueprint_kubernetes_section(section: dict[str, Any], ok: bool) -> None:
    data = lab_dict()
    data["kubernetes"] = section
    if ok:
        assert validate_text(dump(data)).kubernetes.enabled is section.get("enabled", False)
    else:
        with pytest.raises(BlueprintError) as info:
            validate_text(dump(data))
        assert any(p.render().startswith("kubernetes.enable:") for p in info.value.problems)


def test_uncatalogued_release_is_not_available_rather_than_complete() -> None:
    avail = availability(False, [], kubernetes="1.31.4")
    assert avail.reason.startswith("not available: versions.kubernetes 1.31.4 is not in the artefact catalogue")
    refused = refusal(availability(True, [], kubernetes="1.31.4"))
    assert refused is not None and "1.31.4" in refused.problems[0]


def test_enabled_layer_needs_a_catalogued_release_at_validate() -> None:
    data = lab_dict()
    data["kubernetes"] = {"enabled": True}
    data["versions"]["kubernetes"] = "1.31.4"
    with pytest.raises(BlueprintError) as info:
        validate_text(dump(data))
    assert [p.render().split(":")[0] for p in info.value.problems] == ["versions.kubernetes"]
    data["kubernetes"] = {"enabled": False}
    assert validate_text(dump(data)).versions.kubernetes == "1.31.4"
