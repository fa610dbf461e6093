"""Gateway checks: every gateway serves S3 and OpenBao over verified TLS, backends up."""

from __future__ import annotations

import http.client
import socket
import ssl

from sovplatform.checks.model import Check, CheckContext
from sovplatform.operations.pki import service_name

S3_PORT = 9443
OPENBAO_PORT = 8210


def _get(address: str, port: int, path: str, ca: str, server_name: str) -> tuple[int, str]:
    """GET over TLS to an address, verifying the certificate against a service name."""
    context = ssl.create_default_context(cafile=ca)
    with (
        socket.create_connection((address, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
        response = http.client.HTTPResponse(tls)  # type: ignore[arg-type]
        response.begin()
        return response.status, response.read(2000).decode(errors="replace")


# HAProxy's admin socket, read with the host's python3 (always present) rather than socat.
SHOW_STAT = (
    "python3 -c \"import socket;s=socket.socket(socket.AF_UNIX);s.connect('/run/haproxy/admin.sock');"
    "s.sendall(b'show stat\\n');print(s.makefile().read())\""
)


def _backend_states(ctx: CheckContext, gateway: str) -> dict[str, str]:
    result = ctx.ssh(
        gateway,
        "echo 'show stat' | socat stdio /run/haproxy/admin.sock 2>/dev/null || "
        "echo 'show stat' | python3 -c \"import socket,sys;s=socket.socket(socket.AF_UNIX);"
        "s.connect('/run/haproxy/admin.sock');s.sendall(sys.stdin.read().encode());"
        'print(s.makefile().read())"',
    )
    states = {}
    for line in result.stdout.splitlines():
        fields = line.split(",")
        if len(fields) > 17 and fields[1] not in ("FRONTEND", "BACKEND", "svname"):
            states[f"{fields[0]}/{fields[1]}"] = fields[17]
    return states


def run(ctx: CheckContext) -> list[Check]:
    platform = ctx.plan["platform"]
    gateways = sorted(h["name"] for h in ctx.plan["hosts"] if "gateway" in h["roles"])
    ca = str(ctx.state / "pki" / "ca.crt")
    checks: list[Check] = []
    for gw in gateways:
        address = ctx.address(gw)
        for service, port, path, ok_status in (
            ("s3", S3_PORT, "/", 200),
            # standbyok: an unsealed standby answers 200 too (it forwards to the active node).
            ("openbao", OPENBAO_PORT, "/v1/sys/health?standbyok=true", 200),
        ):
            name = service_name(service, platform)
            try:
                status, _body = _get(address, port, path, ca, name)
                checks.append(
                    Check(
                        "gateway",
                        f"{gw} serves {service}",
                        status == ok_status,
                        f"https://{address}:{port}{path} as {name}: HTTP {status}",
                    )
                )
            except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
                checks.append(Check("gateway", f"{gw} serves {service}", False, f"{address}:{port}: {exc}"))
        states = _backend_states(ctx, gw)
        down = sorted(k for k, v in states.items() if not v.startswith("UP"))
        checks.append(
            Check(
                "gateway",
                f"{gw} backends up",
                bool(states) and not down,
                f"{len(states) - len(down)}/{len(states)} up" + (f"; down: {', '.join(down)}" if down else ""),
            )
        )
    return checks
