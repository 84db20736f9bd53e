"""A TCP proxy on 127.0.0.1 that plays the panel's network link between swupdate and the server.

It understands just enough HTTP/1.1 to find where an artifact's body starts and ends, so it
can record every exchange, cut the connection at set offsets of the artifact (a GPRS link
dropping) or trickle its bytes (a slow link). Requests pass through unchanged.
"""

import re
import socket
import threading
import time
from dataclasses import dataclass, field

ARTIFACT = "/artifacts/"
PIECE = 1024


@dataclass
class Exchange:
    method: str
    path: str
    headers: dict  # request headers, names lower case
    body: bytes
    status: int = 0
    response_headers: dict = field(default_factory=dict)
    response_body: bytes = b""  # kept for everything but artifacts
    body_bytes: int = 0  # response body bytes that reached the device
    cut: bool = False  # the link dropped during this response
    connection: int = 0  # which TCP connection of the device carried it
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @property
    def is_artifact(self) -> bool:
        return ARTIFACT in self.path and not self.path.endswith(".MD5SUM")


class Cut(Exception):
    pass


class Link:
    """`cut_every`: drop the connection whenever the artifact body reaches another multiple
    of that offset in the file (so a resumed download is cut again further on, and a new one
    at the same places). `rate`: artifact bytes per second (None: as fast as it goes)."""

    def __init__(
        self, upstream_port: int, *, cut_every: int | None = None, rate: float | None = None
    ):
        self.upstream = ("127.0.0.1", upstream_port)
        self.cut_every, self.rate = cut_every, rate
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._last_activity = time.monotonic()
        self._held = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: set[socket.socket] = set()
        self._closed = False
        self._connections = 0
        self._hold = None
        self._released = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name="link-accept").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hold(self, matches) -> None:
        """Keep each request for which `matches(exchange)` is true from the server until
        `release()`, as a link that stalls at just that moment would."""
        self._released.clear()
        self._hold = matches

    def release(self) -> None:
        self._hold = None
        self._released.set()

    def idle_for(self) -> float:
        """Seconds since a byte last crossed the link (0 while a request is held back)."""
        return 0.0 if self._held else time.monotonic() - self._last_activity

    def artifact_gets(self, since: int = 0) -> list[Exchange]:
        return [e for e in self.exchanges[since:] if e.is_artifact and e.method == "GET"]

    def summary(self) -> str:
        """The exchanges, one line each: for assertion messages."""
        return "\n".join(
            f"c{e.connection} {e.method} {e.path} {e.headers.get('range', '')} -> {e.status} "
            f"{e.body_bytes} B{' CUT' if e.cut else ''} {e.body[:160]!r}"
            for e in list(self.exchanges)
        )

    def close(self) -> None:
        self.release()
        self._closed = True
        self._listener.close()
        with self._lock:
            for sock in list(self._sockets):
                _close(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._connections += 1
            threading.Thread(
                target=self._serve, args=(client, self._connections), daemon=True, name="link"
            ).start()

    def _serve(self, client: socket.socket, number: int) -> None:
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A small receive buffer keeps what the server has written close to what the device
        # received, so a cut strands little data in flight (as on a real radio link).
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        with self._lock:
            self._sockets.update((client, upstream))
        from_client, from_server = client.makefile("rb"), upstream.makefile("rb")
        try:
            upstream.connect(self.upstream)
            while self._relay_one(client, upstream, from_client, from_server, number):
                pass
        except (OSError, Cut, ValueError):
            pass
        finally:
            with self._lock:
                self._sockets.difference_update((client, upstream))
            # A socket's file keeps it open: close both, or the descriptor outlives us.
            for stream in (from_client, from_server):
                stream.close()
            _close(client)
            _close(upstream)

    def _relay_one(self, client, upstream, from_client, from_server, number: int) -> bool:
        """One request and its response; False when the connection ends."""
        head = _read_head(from_client)
        if head is None:
            return False
        request_line, headers = _parse_head(head)
        method, path, _version = request_line.split(" ", 2)
        body = _read_body(from_client, headers, request=True)
        exchange = Exchange(method, path, headers, body, connection=number)
        with self._lock:
            self.exchanges.append(exchange)
        self._last_activity = time.monotonic()
        hold = self._hold
        if hold is not None and hold(exchange):
            self._held += 1
            self._released.wait(timeout=120)
            self._held -= 1
        try:
            upstream.sendall(head + body)
            return self._relay_response(exchange, client, from_server)
        finally:
            exchange.ended = time.monotonic()

    def _relay_response(self, exchange: Exchange, client, from_server) -> bool:
        while True:
            response_head = _read_head(from_server)
            if response_head is None:
                return False
            self._last_activity = time.monotonic()
            status_line, response_headers = _parse_head(response_head)
            exchange.status = int(status_line.split(" ", 2)[1])
            exchange.response_headers = response_headers
            client.sendall(response_head)
            if exchange.status >= 200:
                break  # 1xx: an interim answer, the real one follows
        keep_alive = _keeps_alive(exchange.headers, response_headers)
        if exchange.method == "HEAD" or exchange.status in (204, 304):
            return keep_alive
        if exchange.is_artifact and "content-length" in response_headers:
            # Where this body starts in the file: 0, or the first byte of a 206's range.
            first = re.match(r"bytes (\d+)-", response_headers.get("content-range", ""))
            self._relay_artifact(exchange, client, from_server,
                                 int(response_headers["content-length"]), int(first[1]) if first else 0)  # fmt: skip
        else:
            exchange.response_body = _read_body(from_server, response_headers, request=False)
            client.sendall(exchange.response_body)
            exchange.body_bytes = len(exchange.response_body)
        return keep_alive

    def _relay_artifact(self, exchange, client, from_server, length: int, offset: int) -> None:
        remaining = length
        while remaining:
            size = min(PIECE, remaining)
            if self.cut_every:
                size = min(size, self.cut_every - offset % self.cut_every)
            piece = from_server.read(size)
            if not piece:
                raise Cut("server closed")
            client.sendall(piece)
            self._last_activity = time.monotonic()
            remaining -= len(piece)
            offset += len(piece)
            exchange.body_bytes += len(piece)
            if self.cut_every and offset % self.cut_every == 0 and remaining:
                exchange.cut = True
                raise Cut(f"cut at byte {offset}")
            if self.rate:
                time.sleep(len(piece) / self.rate)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _read_head(stream) -> bytes | None:
    lines = []
    while True:
        line = stream.readline(65537)
        if not line:
            return None if not lines else b"".join(lines)
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def _parse_head(head: bytes) -> tuple[str, dict]:
    first, *rest = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in rest:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return first, headers


def _read_body(stream, headers: dict, *, request: bool) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        raw = []
        while True:
            size_line = stream.readline()
            raw.append(size_line)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while True:  # trailers, up to the blank line
                    line = stream.readline()
                    raw.append(line)
                    if line in (b"\r\n", b"\n", b""):
                        return b"".join(raw)
            raw.append(stream.read(size + 2))
    if "content-length" in headers:
        return stream.read(int(headers["content-length"]))
    return b"" if request else stream.read()


def _keeps_alive(request_headers: dict, response_headers: dict) -> bool:
    return (
        "close"
        not in (
            request_headers.get("connection", "") + response_headers.get("connection", "")
        ).lower()
    )
