"""The Kubernetes layer's artefacts: pinned in the plan, fetched when possible, and reported
one line each (with the URL) when not - without failing what is available."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sovplatform.blueprint import load_blueprint
from sovplatform.mirror import remote
from sovplatform.mirror.build import check_inputs
from sovplatform.mirror.errors import MirrorError
from sovplatform.plan.artefacts import Artefact
from sovplatform.plan.build import build_plan

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = b"#!/bin/sh\necho kubeadm\n"
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def _plan_artefacts() -> list[Artefact]:
    plan = build_plan(load_blueprint(ROOT / "blueprints/odc-reference.yaml"))
    return [Artefact(**{**a, "roles": tuple(a["roles"])}) for a in plan.data["artefacts"]]


def test_plan_builds_kubernetes_from_source_and_pins_the_addon_files() -> None:
    artefacts = _plan_artefacts()
    built = {a.name: a for a in artefacts if a.kind == "build"}
    for name in ("kubeadm", "kubelet", "kubectl", "containerd", "runc", "bridge", "crictl"):
        assert built[name].sha256 is None and built[name].source.startswith("go:"), name
    assert built["kubeadm"].source == "go:k8s.io/kubernetes@v1.36.3#k8s.io/kubernetes/cmd/kubeadm"
    images = {a.name: a for a in artefacts if a.kind == "image"}
    assert images["kube-apiserver"].source == "built:registry.k8s.io/kube-apiserver:v1.36.3"
    assert images["pause"].source == "built:registry.k8s.io/pause:3.10.2"
    files = {a.name: a for a in artefacts if a.kind == "file"}
    assert files["calico"].sha256 and len(files["calico"].sha256) == 64
    for name in ("ceph-csi", "kubevirt-operator", "kubevirt-cr", "cdi-operator", "cdi-cr", "metrics-server"):
        assert files[name].sha256 is None and files[name].note, name
    assert not {"kubeadm", "kubelet", "containerd"} & set(files)
    assert check_inputs(artefacts) == []


def _file(name: str = "kubeadm", sha: str | None = DIGEST, note: str = "") -> Artefact:
    return Artefact("file", name, "1.33.8", f"https://example.invalid/{name}", sha, ("control",), note)


def _collect(tmp_path: Path, items: list[Artefact], **kw: object) -> tuple[dict[Artefact, Path], list]:
    return remote.collect(items, lambda a: tmp_path / "cache" / a.name, lambda _: None, **kw)


def test_available_files_are_fetched_and_the_rest_reported_with_their_url(tmp_path: Path) -> None:
    def fetch(url: str, dest: Path) -> None:
        if url.endswith("/kubeadm"):
            dest.write_bytes(PAYLOAD)
        else:
            raise OSError("Name or service not known")

    image = Artefact("image", "pause", "3.10", "registry.k8s.io/pause:3.10", None, ("compute",), "no registry")
    items = [_file(), _file("kubelet"), _file("kubevirt-cr", None, "no published sum"), image]
    ready, missing = _collect(tmp_path, items, fetch=fetch)
    assert [a.name for a in ready] == ["kubeadm"]
    assert (tmp_path / "cache/kubeadm").read_bytes() == PAYLOAD
    assert [m.line() for m in missing] == [
        "missing file kubelet 1.33.8: download failed: Name or service not known "
        "(needs https://example.invalid/kubelet)",
        "missing file kubevirt-cr 1.33.8: no sha256 pinned: no published sum (needs https://example.invalid/kubevirt-cr)",
        "missing image pause 3.10: no registry (needs registry.k8s.io/pause:3.10)",
    ]


def test_a_file_that_does_not_match_its_pin_stops_the_build(tmp_path: Path) -> None:
    with pytest.raises(MirrorError, match=r"sha256 of https://example\.invalid/kubeadm is .* not published"):
        _collect(tmp_path, [_file()], fetch=lambda _url, dest: dest.write_bytes(b"tampered"))
    assert not (tmp_path / "cache/kubeadm").exists()


def test_offline_builds_use_cache_and_bundle_only(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "kubeadm/1.33.8").mkdir(parents=True)
    (bundle / "kubeadm/1.33.8/kubeadm").write_bytes(PAYLOAD)
    ready, missing = _collect(tmp_path, [_file(), _file("kubelet")], fetch=None, bundle=bundle)
    assert [a.name for a in ready] == ["kubeadm"]
    assert [m.reason for m in missing] == ["not in the cache or bundle (offline build)"]
    # Second run: served from the verified cache, the bundle is not needed any more.
    ready, _ = _collect(tmp_path, [_file()], fetch=None)
    assert [a.name for a in ready] == ["kubeadm"]


def test_bad_file_artefacts_are_refused_before_any_download() -> None:
    bad = [
        Artefact("file", "x", "1", "http://plain.example/x", DIGEST, ("control",)),
        Artefact("file", "y", "1", "https://e.example/y", "ABC", ("control",)),
        Artefact("file", "z", "1", "https://e.example/z", None, ("control",)),
    ]
    assert check_inputs(bad) == [
        "file x 1: source must be an https:// URL",
        "file y 1: sha256 'ABC' is not 64 lowercase hex digits",
        "file z 1: no sha256 and no note saying why",
    ]


def test_ceph_csi_cluster_id_is_the_fsid_the_ceph_role_bootstraps() -> None:
    from ansible.plugins.filter.core import to_uuid

    from sovplatform.plan.kube_files import ceph_fsid

    assert ceph_fsid("lab-3dc") == to_uuid("sovplatform/ceph/lab-3dc")
    assert ceph_fsid("lab-3dc") != ceph_fsid("t-ceph")
