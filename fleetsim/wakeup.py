"""The wake-up listener: what a receiver does when the server pushes "poll now".

The server `POST`s `{"receiver": <code>, "command": "poll-now", "serials": [...]}` to the
receiver's wake-up URL (DESIGN §7); a real receiver relays it over the alarm channel. Here
the listener answers 202 and the named panels of that receiver poll at once. A panel that is
rebooting or offline does not hear it, as in the field; the answer says which ones.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .fleet import Fleet

log = logging.getLogger("fleetsim.wakeup")

MAX_BODY = 1024 * 1024
_REASONS = {202: "Accepted", 400: "Bad Request", 405: "Method Not Allowed",
            413: "Content Too Large"}


def parse_listen(text: str) -> tuple[str, int]:
    """`127.0.0.1:9100` → ("127.0.0.1", 9100); only loopback addresses may be bound."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--wakeup-listen wants HOST:PORT, not {text!r}")
    host = host.strip("[]")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the wake-up listener binds loopback addresses only, not {host!r}")
    return host, int(port)


class WakeupListener:
    def __init__(self, fleet: Fleet, host: str, port: int):
        parse_listen(f"{host}:{port}")
        self.fleet = fleet
        self.host, self.port = host, port
        self.received = 0  # wake-up requests accepted
        self._server: asyncio.Server | None = None

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("wake-up listener on http://%s:%s/", self.host, self.port)
        return self.host, self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                status, answer = await self._read_and_dispatch(reader)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError, ValueError):
            status, answer = 400, {"detail": "malformed HTTP request"}
        body = json.dumps(answer).encode()
        head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        try:
            writer.write(head.encode() + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _read_and_dispatch(self, reader: asyncio.StreamReader) -> tuple[int, dict]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *header_lines = head.split("\r\n")
        method = request_line.split(" ", 1)[0]
        length = 0
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length > MAX_BODY:
            return 413, {"detail": "body too large"}
        body = await reader.readexactly(length) if length else b""
        if method != "POST":
            return 405, {"detail": "POST a poll-now command"}
        try:
            command = json.loads(body)
        except ValueError:
            return 400, {"detail": "the body is not JSON"}
        return self.dispatch(command)

    def dispatch(self, command) -> tuple[int, dict]:
        """Validate a wake-up command and wake the panels it names."""
        if not isinstance(command, dict) or command.get("command") != "poll-now":
            return 400, {"detail": "expected {'receiver', 'command': 'poll-now', 'serials'}"}
        receiver, serials = command.get("receiver"), command.get("serials")
        if not isinstance(receiver, str) or not isinstance(serials, list) \
                or not all(isinstance(s, str) for s in serials):
            return 400, {"detail": "'receiver' must be a string and 'serials' a list of strings"}
        woken, unreachable, unknown = [], [], []
        for serial in serials:
            panel = self.fleet.panels.get(serial)
            if panel is None or panel.spec.tenant != receiver:
                unknown.append(serial)
            elif panel.poll_now():
                woken.append(serial)
            else:
                unreachable.append(serial)
        self.received += 1
        log.debug("poll-now for %s: woken %d, unreachable %d, unknown %d",
                  receiver, len(woken), len(unreachable), len(unknown))
        return 202, {"woken": woken, "unreachable": unreachable, "unknown": unknown}
