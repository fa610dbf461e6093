"""The Kubernetes layer's availability: what `up` refuses before touching hosts, and what `up`
and `verify` report when the layer is left out."""

from __future__ import annotations

from typing import Any

import pytest

from sovplatform.blueprint import BlueprintError, validate_text
from sovplatform.mirror.manifest import MissingArtefact
from sovplatform.operations.errors import EXIT_REFUSED
from sovplatform.operations.kube_layer import NOT_DEPLOYABLE, availability, refusal
from sovplatform.plan.build import build_plan
from tests.helpers import dump, lab_dict

KUBEADM = MissingArtefact("file", "kubeadm", "1.33.8", "https://dl.k8s.io/kubeadm", "not in the cache or bundle")
IMAGE = MissingArtefact("image", "kubevirt-operator", "v1.6.0", "quay.io/kubevirt/virt-operator:v1.6.0", "no registry")
# A missing Debian package is the mirror's own failure, never a reason to leave Kubernetes out.
DEB = MissingArtefact("deb", "jq", "", "debian:bookworm", "unknown package")


def test_only_files_and_images_count_as_the_layers_artefacts() -> None:
    avail = availability(False, [KUBEADM, DEB, IMAGE])
    assert avail.missing == (KUBEADM, IMAGE)
    assert avail.reason.startswith("not available: artefacts missing (2;")


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
    assert "--bundle" in refused.hint


def test_enabled_layer_with_every_artefact_is_refused_as_not_deployable_here() -> None:
    refused = refusal(availability(True, []))
    assert refused is not None and refused.problems == [NOT_DEPLOYABLE]
    assert availability(False, []).reason.startswith("not deployed: every artefact is present")


def test_lab_plan_lacks_artefacts_only_of_this_layer() -> None:
    """The plan lists the layer's files and images; an offline build without a bundle misses
    every one of them and nothing else (what the lab reports as "artefacts missing")."""
    plan = build_plan(validate_text(dump(lab_dict())))
    remote = [a for a in plan.data["artefacts"] if a["kind"] in ("file", "image")]
    missing = [MissingArtefact(a["kind"], a["name"], a["version"], a["source"], "offline") for a in remote]
    assert {a["name"] for a in remote} >= {"kubeadm", "kubelet", "kubectl", "containerd", "runc", "crictl"}
    assert len(availability(False, missing).missing) == len(remote)


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
