"""Serving a release archive to a panel: conditional and range requests as RFC 9110 says.

GPRS links drop often, so panels fetch the archive in parts and resume from the last byte
they received, any number of times. The file is streamed in chunks, or handed to the
kernel by servers that sendfile (never read whole).

Download progress counts what the device has *confirmed*, not what the server wrote: a
request for `bytes=N-` proves the device holds the first N bytes. Bytes written to the
socket prove nothing: kernel buffers, nginx's proxy buffers and the modem swallow a whole
300 KB archive long before a GPRS panel has it (measured with fleetsim: 100 % shown while
the panel held 15 %). Devices also report progress in their feedback (services).
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.http import FileResponse, HttpResponse

log = logging.getLogger(__name__)

CHUNK_SIZE = 32 * 1024
_INT_RANGE = re.compile(r"^(\d+)-(\d*)$")
_SUFFIX_RANGE = re.compile(r"^-(\d+)$")


@dataclass(frozen=True)
class ByteRange:
    first: int
    last: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.last - self.first + 1


UNSATISFIABLE = object()


def range_parse(header: str | None, size: int):
    """RFC 9110 14.1/14.2: None (serve the whole file), a ByteRange, or UNSATISFIABLE.

    We honour a single range. A Range we cannot or need not honour is ignored as 14.2
    allows: another unit, invalid syntax, several ranges (devices ask for one).
    """
    if not header:
        return None
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    # A list may carry empty elements and optional whitespace around commas (RFC 9110 5.6.1).
    specs = [part.strip(" \t") for part in spec.split(",")]
    specs = [part for part in specs if part]
    if len(specs) != 1:
        return None
    spec = specs[0]
    if match := _INT_RANGE.match(spec):
        first = int(match[1])
        last = int(match[2]) if match[2] else None
        if last is not None and last < first:
            return None  # invalid range-spec: ignored
        if first >= size:
            return UNSATISFIABLE
        return ByteRange(first, size - 1 if last is None or last >= size else last)
    if match := _SUFFIX_RANGE.match(spec):
        length = int(match[1])
        if length == 0 or size == 0:
            return UNSATISFIABLE
        return ByteRange(max(0, size - length), size - 1)
    return None


def _etags(value: str) -> list[str]:
    return [tag.strip() for tag in value.split(",") if tag.strip()]


def _weak_match(a: str, b: str) -> bool:
    return a.removeprefix("W/") == b.removeprefix("W/")


def preconditions(request, etag: str) -> int | None:
    """RFC 9110 13.2.2, in its order, for a resource with a strong ETag and no modification
    date (so If-Unmodified-Since and If-Modified-Since are ignored, 13.1.3/13.1.4).
    Returns 412 or 304 when the request ends here, else None."""
    if_match = request.headers.get("If-Match")
    if if_match is not None:
        tags = _etags(if_match)
        if "*" not in tags and etag not in tags:  # strong comparison
            return 412
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = _etags(if_none_match)
        if "*" in tags or any(_weak_match(tag, etag) for tag in tags):
            return 304 if request.method in ("GET", "HEAD") else 412
    return None


def if_range_holds(request, etag: str) -> bool:
    """RFC 9110 13.1.5: the Range applies only if the validator strongly matches. We send no
    Last-Modified, so a date is never a strong validator of ours: false."""
    value = request.headers.get("If-Range")
    if value is None:
        return True
    value = value.strip()
    return not value.startswith("W/") and value == etag


def requested_range(request, size: int, etag: str):
    """What a GET asks for, after If-Range: None (whole), ByteRange or UNSATISFIABLE.
    Range is defined for GET only (RFC 9110 14.2): HEAD answers as for the whole file."""
    if request.method != "GET":
        return None
    header = request.headers.get("Range")
    if header is None or not if_range_holds(request, etag):
        return None
    return range_parse(header, size)


def _preconditions_nginx_misjudges(request) -> bool:
    """If-Match and If-Unmodified-Since: nginx's static module checks them before our ETag is
    in place, against no ETag and the file's mtime, so a request that passed ours would get
    412 from nginx. No DDI client sends them; Django sends those few bytes itself."""
    return "If-Match" in request.headers or "If-Unmodified-Since" in request.headers


class RangeFile:
    """The bytes [first, first + length) of an open archive, as a file for FileResponse.

    `read()` stops at the end of the range, so any WSGI server sends exactly the range; and
    `fileno()`, with the descriptor positioned at `first`, lets a server with
    `wsgi.file_wrapper` and sendfile (gunicorn) hand the range to the kernel instead of
    copying it through Python in chunks (bench `ddi_download`: a third of a download's CPU).
    Deliberately no `tell`/`seek`: FileResponse would then compute a Content-Length of its own.
    """

    def __init__(self, fh, first: int, length: int):
        self.fh, self.remaining = fh, length
        self.position = first
        fh.seek(first)

    def fileno(self) -> int:
        return self.fh.fileno()

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        wanted = self.remaining if size is None or size < 0 else min(size, self.remaining)
        chunk = self.fh.read(wanted)
        if not chunk:
            log.error("artifact %s is shorter than recorded; body cut at %d",
                      getattr(self.fh, "name", "?"), self.position)
            self.remaining = 0
            return b""
        self.remaining -= len(chunk)
        self.position += len(chunk)
        return chunk

    def close(self) -> None:
        self.fh.close()


def _headers(response, *, etag: str, filename: str) -> None:
    response["ETag"] = etag
    response["Accept-Ranges"] = "bytes"
    safe_name = re.sub(r"[^A-Za-z0-9._+-]", "_", filename)
    response["Content-Disposition"] = f'attachment; filename="{safe_name}"'


def serve(
    request,
    *,
    open_file: Callable,
    size: int,
    etag: str,
    filename: str,
    accel_path: str,
    started: Callable[[int], None],
    admit: Callable[[int, int], None] = lambda first, last: None,
) -> HttpResponse:
    """Answer GET/HEAD for an artifact of `size` bytes.

    `admit(first, last)` is asked before a GET is served (or, behind nginx, authorised) with
    the range it asks for; it raises to refuse. `started(first)` is called before a GET
    body starts: the device holds `first` bytes (and a delivered job shows "downloading"
    while its first range is in flight).
    """
    status = preconditions(request, etag)
    if status is not None:
        response = HttpResponse(status=status)
        del response["Content-Type"]
        response["ETag"] = etag
        response["Content-Length"] = "0"
        return response
    wanted = requested_range(request, size, etag)
    if wanted is UNSATISFIABLE:
        response = HttpResponse(status=416)
        del response["Content-Type"]
        _headers(response, etag=etag, filename=filename)
        response["Content-Range"] = f"bytes */{size}"
        response["Content-Length"] = "0"
        return response
    first, last = (wanted.first, wanted.last) if wanted else (0, size - 1)
    length = last - first + 1
    if request.method == "GET":
        admit(first, last)  # behind nginx, the range nginx will send
    if settings.USE_X_ACCEL_REDIRECT and not _preconditions_nginx_misjudges(request):
        # nginx sends the bytes and evaluates Range, and If-Range against this ETag, itself
        # (deploy/nginx/firmware.conf shows the device this ETag, not nginx's own).
        response = HttpResponse(status=200, content_type="application/octet-stream")
        response["Content-Length"] = "0"  # nginx sends the body; none from us
        response["X-Accel-Redirect"] = accel_path
        if settings.X_ACCEL_EXPIRES > 0:
            # nginx may reuse this go-ahead for the same method, URL and Authorization that
            # long, whatever the Range: the device's further requests cost Django nothing.
            response["X-Accel-Expires"] = str(settings.X_ACCEL_EXPIRES)
        _headers(response, etag=etag, filename=filename)
        del response["Accept-Ranges"]  # nginx says it of the file; twice would be noise
        if request.method == "GET":
            started(first)
        return response
    if request.method == "HEAD":
        response = HttpResponse(status=200, content_type="application/octet-stream")
    else:
        fh = open_file()
        started(first)
        response = FileResponse(
            RangeFile(fh, first, length),
            status=206 if wanted else 200,
            content_type="application/octet-stream",
        )
        response.block_size = CHUNK_SIZE
    _headers(response, etag=etag, filename=filename)
    response["Content-Length"] = str(length)
    if wanted:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    return response
