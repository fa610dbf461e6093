"""The Kubernetes cluster keys the controller makes once and ships to control-plane nodes."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sovplatform.pki.kube import KubePKI

PASS = b"correct horse battery staple"


def test_made_once_encrypted_at_rest_and_shipped_in_kubeadms_layout(tmp_path: Path) -> None:
    pki = KubePKI(tmp_path / "kube-pki", "lab-3dc", PASS)
    assert sorted(pki.ensure()) == ["ca", "front-proxy-ca", "sa"]
    before = {p: p.read_bytes() for p in (tmp_path / "kube-pki").rglob("*") if p.is_file()}
    assert pki.ensure() == []  # a second run makes nothing
    assert before == {p: p.read_bytes() for p in (tmp_path / "kube-pki").rglob("*") if p.is_file()}
    # Private keys rest encrypted; nothing at rest holds a plaintext key.
    for path, content in before.items():
        assert b"BEGIN PRIVATE KEY" not in content and b"BEGIN EC PRIVATE KEY" not in content, path
    files = {f.path: f for f in pki.control_plane_files()}
    assert sorted(files) == [
        f"/etc/kubernetes/pki/{n}"
        for n in ("ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.key", "sa.pub")
    ]
    assert {p for p, f in files.items() if f.mode == 0o600} == {
        "/etc/kubernetes/pki/ca.key",
        "/etc/kubernetes/pki/front-proxy-ca.key",
        "/etc/kubernetes/pki/sa.key",
    }
    for name in ("ca", "front-proxy-ca"):
        cert = x509.load_pem_x509_certificate(files[f"/etc/kubernetes/pki/{name}.crt"].content)
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        key = serialization.load_pem_private_key(files[f"/etc/kubernetes/pki/{name}.key"].content, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]
    ca = x509.load_pem_x509_certificate(files["/etc/kubernetes/pki/ca.crt"].content)
    proxy = x509.load_pem_x509_certificate(files["/etc/kubernetes/pki/front-proxy-ca.crt"].content)
    assert ca.subject != proxy.subject and ca.public_key() != proxy.public_key()
    assert ca.subject.rfc4514_string().startswith("CN=lab-3dc Kubernetes CA")
    sa = serialization.load_pem_private_key(files["/etc/kubernetes/pki/sa.key"].content, password=None)
    pub = serialization.load_pem_public_key(files["/etc/kubernetes/pki/sa.pub"].content)
    assert sa.public_key().public_numbers() == pub.public_numbers()  # type: ignore[union-attr]
    assert pki.ca_cert() == files["/etc/kubernetes/pki/ca.crt"].content


def test_a_wrong_passphrase_fails_instead_of_making_new_keys(tmp_path: Path) -> None:
    KubePKI(tmp_path, "lab-3dc", PASS).ensure()
    keys = sorted(p.name for p in tmp_path.rglob("*.enc"))
    with pytest.raises(ValueError):
        KubePKI(tmp_path, "lab-3dc", b"wrong").ensure()
    assert sorted(p.name for p in tmp_path.rglob("*.enc")) == keys


def test_the_cluster_configuration_asks_kubeadm_for_keys_of_the_same_kind() -> None:
    from sovplatform.plan.kube_cluster import cluster_configuration

    assert cluster_configuration("lab-3dc", "1.36.3", ["198.18.1.10"])["encryptionAlgorithm"] == "ECDSA-P256"
