"""The Kubernetes cluster's own keys, made once on the controller and shipped to every
control-plane node before kubeadm runs there.

kubeadm would make them on the first control-plane node and then either copy them around by
hand or upload them into the cluster (`--upload-certs`, a Secret the certificate key decrypts).
Here they are made by the controller instead, encrypted at rest with the platform passphrase
like the platform CA, so every control-plane node of every site gets the same cluster CA,
front-proxy CA and service-account key pair over SSH, and a site rebuilt from scratch joins
the same cluster. The private keys are in plaintext only in what is shipped (0600 on the host).

All ECDSA P-256, matching `encryptionAlgorithm: ECDSA-P256` in the cluster configuration, so
the certificates kubeadm issues from this CA are of the same kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sovplatform.engine.hostfiles import HostFile
from sovplatform.files import write_atomic
from sovplatform.pki.ca import PlatformCA, load_key, plaintext_key

KUBE_PKI_DIR = "/etc/kubernetes/pki"


@dataclass(frozen=True)
class KubePKI:
    directory: Path  # <state>/kube-pki
    platform: str
    passphrase: bytes

    @property
    def cluster_ca(self) -> PlatformCA:
        return PlatformCA(self.directory / "ca", self.platform, self.passphrase, "Kubernetes CA")

    @property
    def front_proxy_ca(self) -> PlatformCA:
        return PlatformCA(
            self.directory / "front-proxy-ca", self.platform, self.passphrase, "Kubernetes front-proxy CA"
        )

    @property
    def sa_key_path(self) -> Path:
        return self.directory / "sa.key.enc"

    def ensure(self) -> list[str]:
        """Make whatever is missing; the names of what was made now (empty on a second run).
        A wrong passphrase fails (ValueError) rather than making new keys beside the old."""
        made = [name for name, ca in (("ca", self.cluster_ca), ("front-proxy-ca", self.front_proxy_ca)) if ca.ensure()]
        if self.sa_key_path.exists():
            load_key(self.sa_key_path.read_bytes(), self.passphrase)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            encrypted = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(self.passphrase),
            )
            write_atomic(self.sa_key_path, encrypted, mode=0o600)
            made.append("sa")
        return made

    def control_plane_files(self) -> list[HostFile]:
        """What a control-plane node needs before `kubeadm init`/`join --control-plane`."""
        sa = load_key(self.sa_key_path.read_bytes(), self.passphrase)
        sa_pub = sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        out = []
        for name, ca in (("ca", self.cluster_ca), ("front-proxy-ca", self.front_proxy_ca)):
            out.append(HostFile(f"{KUBE_PKI_DIR}/{name}.crt", ca.cert_path.read_bytes()))
            key = plaintext_key(ca.key_path.read_bytes(), self.passphrase)
            out.append(HostFile(f"{KUBE_PKI_DIR}/{name}.key", key, mode=0o600))
        out.append(
            HostFile(f"{KUBE_PKI_DIR}/sa.key", plaintext_key(self.sa_key_path.read_bytes(), self.passphrase), 0o600)
        )
        out.append(HostFile(f"{KUBE_PKI_DIR}/sa.pub", sa_pub))
        return out

    def ca_cert(self) -> bytes:
        """The cluster CA certificate: what a joining node pins (kubeadm's discovery)."""
        return self.cluster_ca.cert_path.read_bytes()
