"""Artefacts built from pinned source, for real: the Go toolchain, the wrapper modules under
supply/go, the Go module proxy (cold) or the module cache (warm), the C compiler for pause.

CI builds what the other tests use (kubeadm, kubelet, containerd, ctr, pause and the tools);
the whole stack is built by `benchmarks/artefacts.py` and by `sovplatform artefacts build`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sovplatform.pki.kube import KubePKI
from sovplatform.plan.artefacts import Artefact
from sovplatform.plan.source_catalog import STACKS, Component, all_components
from sovplatform.supply import gobuild, images
from sovplatform.supply.build import tool
from sovplatform.supply.locate import NOT_BUILT, locate
from sovplatform.supply.store import Store
from sovplatform.supply.toolchain import go_env
from tests.helpers import ROOT

BLUEPRINT = ROOT / "tests" / "data" / "blueprints" / "t-ceph.yaml"
SOV = str(Path(sys.executable).parent / "sovplatform")
STACK = STACKS["1.36.3"]
# What the platform test needs from the store: the runtime and an image to pull through the registry.
FOR_THE_PLATFORM = ("kubeadm", "kubelet", "containerd", "ctr", "containerd-shim-runc-v2", "pause")

pytestmark = pytest.mark.skipif(
    shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists(), reason="needs the Go toolchain"
)


def _build(*only: str) -> dict[str, Any]:
    argv = [SOV, "artefacts", "build", str(BLUEPRINT), "--json"]
    for name in only:
        argv += ["--only", name]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, Any]]:
    report = _build(*FOR_THE_PLATFORM)
    print("MEASURE artefacts_build_s", report["total_seconds"], json.dumps(report["seconds"]))
    return {row["name"] + ("@image" if row["kind"] == "image" else ""): row for row in report["artefacts"]}


def test_kubeadm_and_kubelet_report_the_pinned_version(built: dict[str, dict[str, Any]]) -> None:
    kubeadm = subprocess.run([built["kubeadm"]["path"], "version", "-o", "short"], capture_output=True, text=True)
    assert kubeadm.stdout.strip() == "v1.36.3", kubeadm.stderr
    kubelet = subprocess.run([built["kubelet"]["path"], "--version"], capture_output=True, text=True)
    assert kubelet.stdout.strip() == "Kubernetes v1.36.3", kubelet.stderr
    ctr = subprocess.run([built["ctr"]["path"], "--version"], capture_output=True, text=True)
    assert "v2.4.2" in ctr.stdout, ctr.stdout


def test_the_built_kubeadm_issues_from_the_cluster_keys_the_controller_made(
    built: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """The keys `pki/kube.py` makes and ships are what kubeadm expects: it uses them as they are
    and signs its own certificates with them, of the same kind (ECDSA P-256)."""
    pki = KubePKI(tmp_path / "state", "t-ceph", b"a passphrase")
    pki.ensure()
    certs = tmp_path / "pki"
    certs.mkdir()
    for f in pki.control_plane_files():
        (certs / Path(f.path).name).write_bytes(f.content)
    config = tmp_path / "kubeadm.yaml"
    config.write_text(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n"
        "localAPIEndpoint: {advertiseAddress: 198.18.51.11}\nnodeRegistration: {name: dc1-a}\n---\n"
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
        f"kubernetesVersion: v1.36.3\ncertificatesDir: {certs}\nencryptionAlgorithm: ECDSA-P256\n"
        "etcd: {external: {endpoints: ['https://198.18.51.11:2379'], caFile: /x, certFile: /x, keyFile: /x}}\n"
    )
    argv = [built["kubeadm"]["path"], "init", "phase", "certs", "all", "--config", str(config)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for used in (
        "existing ca certificate authority",
        "existing front-proxy-ca certificate authority",
        'existing "sa" key',
    ):
        assert used in result.stdout, result.stdout
    ca = x509.load_pem_x509_certificate((certs / "ca.crt").read_bytes())
    apiserver = x509.load_pem_x509_certificate((certs / "apiserver.crt").read_bytes())
    apiserver.verify_directly_issued_by(ca)
    assert isinstance(apiserver.public_key(), ec.EllipticCurvePublicKey)


def test_every_program_has_an_sbom_naming_its_module_and_licences(built: dict[str, dict[str, Any]]) -> None:
    for name in ("kubeadm", "containerd", "pause"):
        row = built[name]
        doc = json.loads(Path(row["sbom"]).read_text())
        assert doc["bomFormat"] == "CycloneDX", name
        main = doc["metadata"]["component"]
        assert row["version"] in main["version"], (name, main)
        assert row["licences"].get("Apache-2.0", 0) >= 1, (name, row["licences"])
        # Reproducible SBOMs: no serial number, no timestamp.
        assert "serialNumber" not in doc and "timestamp" not in doc["metadata"], name
    kubeadm = json.loads(Path(built["kubeadm"]["sbom"]).read_text())
    assert len(kubeadm["components"]) > 50  # every linked module, not just the main one


def test_a_second_build_is_served_from_the_store(built: dict[str, dict[str, Any]]) -> None:
    again = _build(*FOR_THE_PLATFORM)
    assert again["total_seconds"] < 30, again["seconds"]
    digests = {row["name"]: row.get("sha256") or row.get("digest") for row in again["artefacts"]}
    assert digests["kubeadm"] == built["kubeadm"]["sha256"]
    assert digests["pause"] in (built["pause"]["sha256"], built["pause@image"]["digest"])


def test_a_program_and_an_image_rebuild_to_the_same_digest(tmp_path: Path, built: dict[str, dict[str, Any]]) -> None:
    """Rebuilt in a fresh store (empty build cache; only the module sources shared), the bytes
    and the image digest are the same as the store's."""
    home = Store()
    fresh = Store(tmp_path / "store", gomodcache=home.gomodcache)
    cni = next(c for c in STACK.components() if c.name == "cni-plugins")
    pause = next(c for c in STACK.components() if c.name == "pause")
    say = print
    # The home store's copy keeps its SBOM: the mirror publishes it.
    first = gobuild.ensure_component(cni, home, say, cyclonedx=tool("cyclonedx-gomod", home, say), names={"loopback"})[
        0
    ]
    second = gobuild.ensure_component(cni, fresh, say, cyclonedx=None, names={"loopback"})[0]
    assert first.path != second.path and first.sha256 == second.sha256
    rebuilt_pause = gobuild.ensure_component(pause, fresh, say, cyclonedx=None)[0]
    assert rebuilt_pause.sha256 == built["pause"]["sha256"]
    recipe = next(r for r in STACK.images() if r.name == "pause")
    image = images.ensure_image(recipe, {"pause": rebuilt_pause.path}, fresh, tool("ocibuild", home, say), say)
    assert image.layout != Path(built["pause@image"]["ref"])
    assert image.digest == built["pause@image"]["digest"]


def test_the_store_registry_serves_the_image(built: dict[str, dict[str, Any]]) -> None:
    tags = Store().registry / "docker/registry/v2/repositories/pause/_manifests/tags/3.10.2/current/link"
    assert tags.read_text().strip() == built["pause@image"]["digest"]


def test_unknown_names_are_refused_one_line_each() -> None:
    result = subprocess.run(
        [SOV, "artefacts", "build", str(BLUEPRINT), "--only", "kubeadm", "--only", "nginx", "--only", "etcd3"],
        capture_output=True,
        text=True,
        env={**os.environ},
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[:2] == [
        "--only etcd3: not a component, program or image of Kubernetes 1.36.3",
        "--only nginx: not a component, program or image of Kubernetes 1.36.3",
    ]


def _replaces(gomod: str) -> set[tuple[str, str]]:
    """(module, target) of every replace directive, single-line or in a block."""
    out = set()
    for line in gomod.splitlines():
        body = line.strip().removeprefix("replace ").strip()
        if "=>" in body and not body.startswith("//"):
            left, right = (part.split() for part in body.split("=>", 1))
            out.add((left[0], " ".join(right)))
    return out


@pytest.mark.parametrize(
    "component",
    [c for c in all_components() if not c.module.startswith("sovplatform.build/") and c.language == "go"],
    ids=lambda c: f"{c.name}-{c.version}",
)
def test_wrappers_carry_upstreams_module_replacements(component: Component) -> None:
    """Go ignores a dependency's replace directives: a wrapper must repeat every one of
    upstream's that points at another module (local ./ paths are upstream's own tree and are
    resolved by the versions upstream requires)."""
    store = Store()
    env = {**os.environ, **go_env(store)}
    got = subprocess.run(
        ["go", "mod", "download", "-json", f"{component.module}@{component.pinned}"],
        cwd=ROOT / component.wrapper,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert got.returncode == 0, got.stderr
    upstream = _replaces(Path(json.loads(got.stdout)["GoMod"]).read_text())
    ours = _replaces((ROOT / component.wrapper / "go.mod").read_text())
    foreign = {(m, t) for m, t in upstream if not t.startswith(("./", "../"))}
    if component.name == "kubernetes":
        # Upstream points its staging modules at ./staging; ours name the matching releases.
        assert {m for m, _ in upstream} <= {m for m, _ in ours}
    assert foreign <= ours, foreign - ours


def test_the_mirror_finds_each_built_program_of_a_partly_built_component(
    tmp_path: Path, built: dict[str, dict[str, Any]]
) -> None:
    """`--only kubeadm` builds one program of Kubernetes: the mirror must publish it and report
    only the others as not built."""
    home = Store()
    partial = Store(tmp_path / "store", gomodcache=home.gomodcache)
    entry = Path(built["kubeadm"]["path"]).parent
    target = partial.built("kubernetes", "1.36.3", entry.name)
    shutil.copytree(entry, target, copy_function=os.link)
    plan = [
        Artefact("build", p.name, "1.36.3", f"go:k8s.io/kubernetes@v1.36.3#{p.package}", None, ("control",))
        for p in STACK.components()[0].programs
        if p.name in ("kubeadm", "kubectl")
    ]
    found = locate(plan, partial)
    assert [a.name for a in found.programs] == ["kubeadm"]
    assert found.programs[plan[0]].sha256 == built["kubeadm"]["sha256"]
    assert [(m.name, m.reason) for m in found.missing] == [("kubectl", NOT_BUILT)]
