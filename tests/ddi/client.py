"""A DDI client for the tests: real HTTP (http.client), every exchange checked against the
hawkBit spec (tests/ddi/spec.py)."""

import http.client
import json
import socket
import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import spec


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)


class DdiClient:
    """One panel (or a gateway acting for it), as a DDI client sees the server."""

    def __init__(
        self, base_url: str, tenant: str, serial: str, token: str, scheme: str = "TargetToken"
    ):
        self.base_url, self.tenant, self.serial = base_url, tenant, serial
        self.authorization = f"{scheme} {token}" if token else None

    @property
    def root(self) -> str:
        return f"{self.base_url}/{self.tenant}/controller/v1/{self.serial}"

    def request(
        self, method: str, url: str, *, body=None, headers=None, check_request=True
    ) -> Reply:
        if not url.startswith("http"):
            url = self.root + url
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
        sent = {"Accept": "application/json"}
        if body is not None:
            sent["Content-Type"] = "application/json"
        if self.authorization:
            sent["Authorization"] = self.authorization
        sent.update(headers or {})
        sent = {k: v for k, v in sent.items() if v is not None}
        if check_request:
            spec.check_request(method=method, url=url, body=body)
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            conn.request(
                method,
                parts.path + (f"?{parts.query}" if parts.query else ""),
                body=body,
                headers=sent,
            )
            response = conn.getresponse()
            reply = Reply(response.status, response.headers, response.read())
        finally:
            conn.close()
        spec.check_response(
            method=method,
            url=url,
            status=reply.status,
            content_type=reply.headers.get("Content-Type"),
            headers=reply.headers,
            body=reply.body,
        )
        return reply

    def poll(self, **kw) -> Reply:
        return self.request("GET", "", **kw)

    def config_data(self, data: dict, mode: str | None = "merge", **extra) -> Reply:
        body = {"data": data, **extra}
        if mode:
            body["mode"] = mode
        return self.request("PUT", "/configData", body=body)

    def feedback(
        self,
        action_id,
        execution,
        finished="none",
        *,
        progress=None,
        details=None,
        extra=None,
        kind="deploymentBase",
    ) -> Reply:
        result = {"finished": finished}
        if progress is not None:
            result["progress"] = progress
        status = {"execution": execution, "result": result}
        if details is not None:
            status["details"] = details
        return self.request(
            "POST", f"/{kind}/{action_id}/feedback", body={"status": status, **(extra or {})}
        )

    def cancel_feedback(self, action_id, execution, finished="success", **kw) -> Reply:
        return self.feedback(action_id, execution, finished, kind="cancelAction", **kw)


def raw_get(
    url: str,
    authorization: str,
    *,
    headers=None,
    keep: int | None = None,
    rcvbuf: int | None = None,
) -> tuple[int, dict, bytes]:
    """GET `url` and, with `keep`, hang up (RST) after that many body bytes: a GPRS link
    dropping mid-download. `rcvbuf` shrinks our receive buffer so the server cannot push the
    whole body into socket buffers before it notices."""
    parts = urlsplit(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(30)
    sock.connect((parts.hostname, parts.port))
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    conn.sock = sock
    sent = {"Authorization": authorization, **(headers or {})}
    conn.request("GET", parts.path, headers=sent)
    response = conn.getresponse()
    status, got = response.status, dict(response.headers)
    if keep is None:
        body = response.read()
        conn.close()
        return status, got, body
    body = b""
    while len(body) < keep:
        piece = response.read1(keep - len(body))
        if not piece:
            break
        body += piece
    # Linger 0: close with a reset, as a modem losing its carrier leaves the server writing
    # into the void.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    return status, got, body


def eventually(check, timeout: float = 10.0):
    """Wait for `check()` to be truthy. The server records download progress just after it
    wrote the last byte, which may be a moment after the client has read it."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)
