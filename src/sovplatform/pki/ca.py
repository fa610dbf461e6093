"""Create the platform CA and issue endpoint certificates (ECDSA P-256).

The CA key is stored PKCS#8-encrypted with the operator passphrase; host keys are generated
here and shipped to their host by the playbooks (they are encrypted at rest too, and only ever
written in plaintext on the host that uses them).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sovplatform.files import write_atomic

CA_DAYS = 3650
LEAF_DAYS = 365
RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    key_pem_encrypted: bytes


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _encrypt(key: ec.EllipticCurvePrivateKey, passphrase: bytes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def load_key(pem: bytes, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=passphrase)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def plaintext_key(pem_encrypted: bytes, passphrase: bytes) -> bytes:
    """For handing a key to the host that uses it (over SSH, never to disk here)."""
    return load_key(pem_encrypted, passphrase).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class PlatformCA:
    def __init__(self, directory: Path, platform: str, passphrase: bytes, title: str = "platform CA") -> None:
        self.directory = directory
        self.platform = platform
        self.passphrase = passphrase
        self.title = title

    @property
    def cert_path(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def key_path(self) -> Path:
        return self.directory / "ca.key.enc"

    def ensure(self) -> bool:
        """Create the CA once; return True if it was created now."""
        if self.cert_path.exists() and self.key_path.exists():
            load_key(self.key_path.read_bytes(), self.passphrase)  # fails loudly on a wrong passphrase
            return False
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sovplatform"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{self.platform} {self.title}"),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        write_atomic(self.key_path, _encrypt(key, self.passphrase), mode=0o600)
        write_atomic(self.cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return True

    def issue(self, common_name: str, dns: list[str], ips: list[str], client: bool = True) -> Issued:
        ca_key = load_key(self.key_path.read_bytes(), self.passphrase)
        ca_cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        san: list[x509.GeneralName] = [x509.DNSName(d) for d in dict.fromkeys(dns)]
        san += [x509.IPAddress(ipaddress.ip_address(i)) for i in dict.fromkeys(ips)]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=LEAF_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        return Issued(cert.public_bytes(serialization.Encoding.PEM), _encrypt(key, self.passphrase))

    def ensure_leaf(self, name: str, common_name: str, dns: list[str], ips: list[str]) -> Path:
        """Issue <name>.crt / <name>.key.enc unless a valid one with the same names exists.

        Returns the certificate path. Reissued when the SANs change or expiry is near, so a
        second run changes nothing.
        """
        crt = self.directory / "issued" / f"{name}.crt"
        key = self.directory / "issued" / f"{name}.key.enc"
        if crt.exists() and key.exists():
            cert = x509.load_pem_x509_certificate(crt.read_bytes())
            ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            have = sorted(ext.get_values_for_type(x509.DNSName)) + sorted(
                str(a) for a in ext.get_values_for_type(x509.IPAddress)
            )
            want = sorted(dict.fromkeys(dns)) + sorted(dict.fromkeys(ips))
            fresh = cert.not_valid_after_utc - _now() > dt.timedelta(days=RENEW_BEFORE_DAYS)
            if have == want and fresh:
                return crt
        issued = self.issue(common_name, dns, ips)
        write_atomic(key, issued.key_pem_encrypted, mode=0o600)
        write_atomic(crt, issued.cert_pem)
        return crt
