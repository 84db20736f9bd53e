"""A small HTTP/1.1 client on asyncio streams, every byte through the panel's `Link`.

Why not a library: the link model must see each byte as it arrives (to pace it, to cut the
connection after N bytes mid-body, to go offline mid-transfer) and the download must keep
every body byte that arrived before the cut. Keep-alive connections are pooled per panel.

Only loopback addresses may be targeted: the simulator is a load generator and must never
be pointed at someone else's server. `check_loopback` enforces it for every request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json as jsonlib
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .link import Link

MAX_HEAD = 64 * 1024
MAX_BODY_IN_MEMORY = 4 * 1024 * 1024
USER_AGENT = "fleetsim/1.0 (hawkBit DDI)"

BodySink = Callable[[bytes], None]


class TransportError(Exception):
    """The exchange failed on the way (refused, reset, timeout, cut by the link): retry."""


class LinkDown(TransportError):
    """The panel has no network right now (an offline period of its link)."""


class LinkDropped(TransportError):
    """The link model cut the connection."""


class NotLoopback(ValueError):
    """A URL that does not point at a loopback address."""


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self):
        return jsonlib.loads(self.body.decode("utf-8"))

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def brief(self) -> str:
        """`HTTP 503 {"message": ...}`: the status and the start of the body, for logs."""
        text = self.body[:200].decode("utf-8", "replace").strip()
        return f"HTTP {self.status}" + (f" {text}" if text else "")


@dataclass
class WireStats:
    """Bytes and requests as the panel's modem would count them (headers included)."""

    bytes_received: int = 0
    bytes_sent: int = 0
    requests: int = 0
    connections: int = 0
    received_by_kind: Counter = field(default_factory=Counter)
    requests_by_kind: Counter = field(default_factory=Counter)


def check_loopback(host: str) -> None:
    """Refuse anything but a loopback literal or a name that resolves only to loopback."""
    try:
        if not ipaddress.ip_address(host.strip("[]")).is_loopback:
            raise NotLoopback(f"{host} is not a loopback address; fleetsim only targets loopback")
        return
    except ValueError as exc:
        if isinstance(exc, NotLoopback):
            raise
    if host.lower() != "localhost":
        raise NotLoopback(f"{host!r} is not a loopback address; fleetsim only targets loopback")


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.received_any = False

    def close(self) -> None:
        # abort(), not close(): a cut connection must not linger flushing buffers.
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()


class HttpClient:
    def __init__(self, link: Link, stats: WireStats, *, timeout: float = 30.0,
                 headers: dict[str, str] | None = None):
        self.link = link
        self.stats = stats
        self.timeout = timeout
        self.default_headers = dict(headers or {})
        self._idle: dict[tuple[str, int], list[_Conn]] = {}

    async def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    async def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                      json=None, body: bytes | None = None, kind: str = "other",
                      on_head: Callable[[Response], BodySink | None] | None = None) -> Response:
        """One request. `on_head(response)` may return a sink that then receives the body.

        Raises TransportError (or a subclass) for anything that went wrong on the way;
        any HTTP status is a normal return.
        """
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise TransportError(f"unsupported URL {url!r}: fleetsim speaks plain http")
        check_loopback(parts.hostname)
        key = (parts.hostname, parts.port or 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        hdrs = {"Host": parts.netloc, "User-Agent": USER_AGENT, "Accept-Encoding": "identity",
                **self.default_headers, **(headers or {})}
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
            hdrs["Content-Type"] = "application/json"
        if body is not None or method in ("POST", "PUT"):
            hdrs["Content-Length"] = str(len(body or b""))
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        payload = head.encode("latin-1") + b"\r\n" + (body or b"")

        self.stats.requests += 1
        self.stats.requests_by_kind[kind] += 1
        await self.link.delay()
        for attempt in (1, 2):
            conn, reused = await self._acquire(key)
            try:
                await self._send(conn, payload)
                response, reusable = await self._read_response(conn, method, kind, on_head)
            except (TransportError, OSError, TimeoutError, EOFError) as exc:
                conn.close()
                # A kept-alive connection the server already closed: one fresh try,
                # unless the server had started to answer (then it saw the request).
                if (reused and attempt == 1 and not conn.received_any
                        and isinstance(exc, EOFError | ConnectionError)):
                    continue
                if isinstance(exc, TransportError):
                    raise
                why = f"timed out after {self.timeout:g} s" if isinstance(exc, TimeoutError) \
                    else f"{type(exc).__name__}: {exc}"
                raise TransportError(f"{method} {url}: {why}") from exc
            except BaseException:
                conn.close()  # a power cut raised by a sink, or cancellation
                raise
            if reusable:
                self._idle.setdefault(key, []).append(conn)
            else:
                conn.close()
            return response
        raise AssertionError("unreachable")

    async def _acquire(self, key: tuple[str, int]) -> tuple[_Conn, bool]:
        if not self.link.online():
            raise LinkDown("no network")
        idle = self._idle.get(key) or []
        while idle:
            conn = idle.pop()
            if not conn.reader.at_eof() and not conn.writer.transport.is_closing():
                conn.received_any = False
                return conn, True
            conn.close()
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(key[0], key[1], type=socket.SOCK_STREAM)
        for info in infos:
            check_loopback(info[4][0])
        family, _, proto, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM, proto)
        try:
            if self.link.profile.bandwidth is not None:
                # A small receive window so the server feels the slow link, as over GPRS
                # (a modem buffers a few KiB, not the megabytes loopback would).
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024)
            sock.setblocking(False)
            async with asyncio.timeout(self.timeout):
                await loop.sock_connect(sock, address)
            # asyncio reads ahead up to twice `limit` before it stops reading the socket.
            limit = 8 * 1024 if self.link.profile.bandwidth is not None else 2**16
            reader, writer = await asyncio.open_connection(sock=sock, limit=limit)
        except BaseException as exc:
            sock.close()
            if isinstance(exc, OSError | TimeoutError):
                raise TransportError(f"connect {key[0]}:{key[1]}: {exc or 'timeout'}") from exc
            raise
        conn = _Conn(reader, writer)
        self.stats.connections += 1
        try:
            await self.link.delay()  # the TCP handshake costs a round trip
        except BaseException:
            conn.close()
            raise
        return conn, False

    async def _send(self, conn: _Conn, payload: bytes) -> None:
        await self.link.sent(len(payload))
        conn.writer.write(payload)
        async with asyncio.timeout(self.timeout):
            await conn.writer.drain()
        self.stats.bytes_sent += len(payload)

    async def _fill(self, conn: _Conn, kind: str, want: int | None = None) -> None:
        """Read the next piece from the socket into conn.buf, as the link allows."""
        if not self.link.online():
            raise LinkDown("network lost mid-transfer")
        allowed = self.link.read_allowance(want or self.link.chunk_size())
        if allowed == 0:
            self.link.dropped()
            raise LinkDropped("connection dropped by the link model")
        async with asyncio.timeout(self.timeout):
            data = await conn.reader.read(allowed)
        if not data:
            raise EOFError("connection closed by the server")
        conn.received_any = True
        self.stats.bytes_received += len(data)
        self.stats.received_by_kind[kind] += len(data)
        conn.buf += data
        await self.link.received(len(data))

    async def _read_response(self, conn: _Conn, method: str, kind: str, on_head):
        while True:  # skip interim 1xx answers
            while (end := conn.buf.find(b"\r\n\r\n")) < 0:
                if len(conn.buf) > MAX_HEAD:
                    raise TransportError("response head too large")
                await self._fill(conn, kind)
            head = bytes(conn.buf[:end]).decode("latin-1")
            del conn.buf[:end + 4]
            lines = head.split("\r\n")
            try:
                version, status_text, *rest = lines[0].split(" ", 2)
                status = int(status_text)
            except ValueError as exc:
                raise TransportError(f"bad status line {lines[0]!r}") from exc
            if not 100 <= status < 200 or status == 101:
                break
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        response = Response(status, rest[0] if rest else "", headers)
        sink = on_head(response) if on_head else None
        chunks: list[bytes] = []
        size = 0

        def deliver(data: bytes) -> None:
            nonlocal size
            if sink is not None:
                sink(data)
                return
            size += len(data)
            if size > MAX_BODY_IN_MEMORY:
                raise TransportError("response body too large to keep in memory")
            chunks.append(data)

        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304):
            pass
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            await self._read_chunked(conn, kind, deliver)
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError as exc:
                raise TransportError("bad Content-Length") from exc
            await self._read_exact(conn, kind, length, deliver)
        else:
            keep = False
            await self._read_to_eof(conn, kind, deliver)
        response.body = b"".join(chunks)
        return response, keep and not conn.buf

    async def _read_exact(self, conn: _Conn, kind: str, length: int, deliver) -> None:
        while length > 0:
            if not conn.buf:
                await self._fill(conn, kind, min(length, self.link.chunk_size()))
            take = bytes(conn.buf[:length])
            del conn.buf[:len(take)]
            length -= len(take)
            deliver(take)

    async def _read_to_eof(self, conn: _Conn, kind: str, deliver) -> None:
        while True:
            if conn.buf:
                deliver(bytes(conn.buf))
                conn.buf.clear()
            try:
                await self._fill(conn, kind)
            except EOFError:
                return

    async def _read_chunked(self, conn: _Conn, kind: str, deliver) -> None:
        while True:
            while (eol := conn.buf.find(b"\r\n")) < 0:
                await self._fill(conn, kind)
            size_text = bytes(conn.buf[:eol]).split(b";")[0].strip()
            del conn.buf[:eol + 2]
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise TransportError("bad chunk size") from exc
            if size == 0:
                # Trailers (if any) end with an empty line.
                while (end := conn.buf.find(b"\r\n")) != 0:
                    if end < 0:
                        await self._fill(conn, kind)
                    else:
                        del conn.buf[:end + 2]
                del conn.buf[:2]
                return
            await self._read_exact(conn, kind, size, deliver)
            while len(conn.buf) < 2:
                await self._fill(conn, kind)
            del conn.buf[:2]
