"""The platform PKI step of `up`: ensure the CA, one certificate per host, ship them.

Every host gets /etc/sovplatform/pki/{ca.crt,host.crt,host.key}; the host certificate names
the host (short and FQDN-less), its management and storage addresses and localhost, so one
certificate serves every TLS endpoint on that host (etcd, OpenBao, HAProxy, RGW).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sovplatform.engine.hostfiles import HostFile, PushError, push
from sovplatform.operations.context import Context
from sovplatform.operations.errors import OperationError, Refused
from sovplatform.pki.ca import PlatformCA, plaintext_key
from sovplatform.pki.secret import PassphraseError, platform_passphrase

PKI_DIR = "/etc/sovplatform/pki"


def platform_ca(ctx: Context) -> PlatformCA:
    try:
        passphrase = platform_passphrase(ctx.state, ctx.blueprint.substrate.kind)
    except PassphraseError as exc:
        raise Refused([f"pki: {exc}"]) from None
    return PlatformCA(ctx.state / "pki", ctx.blueprint.name, passphrase)


def service_name(service: str, platform: str) -> str:
    """The name clients verify when a service is reached through any gateway (TLS passthrough)."""
    return f"{service}.{platform}.internal"


def host_names(host: dict[str, Any], platform: str = "") -> tuple[list[str], list[str]]:
    dns = [str(host["name"]), "localhost"]
    roles = host.get("roles") or []
    # Only the hosts that serve a service may present its name.
    if platform and "kms" in roles:
        dns.append(service_name("openbao", platform))
    if platform and "gateway" in roles:
        dns.append(service_name("s3", platform))
    ips = [str(host["address"]), "127.0.0.1"]
    if host.get("storage_address"):
        ips.append(str(host["storage_address"]))
    return dns, ips


CUSTOMER_KMS_HOST = "customer-kms"


def ensure_pki(ctx: Context, hosts: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Create/renew what is needed and push it; return changed paths per host.

    The lab's stand-in for the customer's KMS gets its certificate from a separate CA (the
    customer's, in the customer's name): the platform CA must not be able to impersonate it.
    """
    platform = platform_ca(ctx)
    customer = PlatformCA(ctx.state / "customer-pki", "customer", platform.passphrase)
    try:
        platform.ensure()
        customer.ensure()
    except ValueError:
        raise Refused(["pki: the platform passphrase does not decrypt the CA keys in the state dir"]) from None
    files: dict[str, list[HostFile]] = {}
    for host in hosts:
        ca = customer if host["name"] == CUSTOMER_KMS_HOST else platform
        dns, ips = host_names(host, ctx.blueprint.name if ca is platform else "")
        crt = ca.ensure_leaf(f"host-{host['name']}", str(host["name"]), dns, ips)
        key = crt.with_name(crt.name.removesuffix(".crt") + ".key.enc")
        files[str(host["name"])] = [
            HostFile(f"{PKI_DIR}/ca.crt", ca.cert_path.read_bytes()),
            # every platform host must verify the customer's KMS (the seal) and vice versa
            HostFile(f"{PKI_DIR}/customer-ca.crt", customer.cert_path.read_bytes()),
            HostFile(f"{PKI_DIR}/platform-ca.crt", platform.cert_path.read_bytes()),
            HostFile(f"{PKI_DIR}/host.crt", crt.read_bytes()),
            HostFile(f"{PKI_DIR}/host.key", plaintext_key(key.read_bytes(), ca.passphrase), mode=0o600),
        ]
    try:
        return push(hosts, files, ctx.state / "ssh" / "known_hosts")
    except PushError as exc:
        raise OperationError([f"pki: {p}" for p in exc.problems]) from None


def ca_cert_path(ctx: Context) -> Path:
    return ctx.state / "pki" / "ca.crt"
