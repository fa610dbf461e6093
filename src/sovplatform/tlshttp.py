"""One HTTP/1.1 request over TLS to an address, verifying the certificate under a service name.

The platform's services are reached through any gateway under one name (s3.<platform>.internal,
openbao.<platform>.internal) that no controller resolver knows: the connection goes to an
address, the certificate is checked against the name.
"""

from __future__ import annotations

import http.client
import socket
import ssl


def request(
    address: str,
    port: int,
    server_name: str,
    context: ssl.SSLContext,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    timeout: float = 20,
) -> tuple[int, dict[str, str], bytes]:
    with (
        socket.create_connection((address, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        fields = {"host": server_name, **(headers or {})}
        lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in fields.items())]
        lines += [f"content-length: {len(body)}", "connection: close"]
        tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        # The method matters: a HEAD answer announces a length but carries no body.
        response = http.client.HTTPResponse(tls, method=method)  # type: ignore[arg-type]
        response.begin()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data


ERRORS = (OSError, ssl.SSLError, http.client.HTTPException)
