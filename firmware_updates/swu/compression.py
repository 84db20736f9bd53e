"""Compressed images, as SWUpdate reads them: `compressed = "zlib"` is a gzip stream
(swupdate inflates with zlib's gzip header, windowBits 16 + 15), `compressed = "zstd"` a
Zstandard frame. The sha256 in sw-description is of the bytes in the archive (compressed);
the device writes the decompressed bytes.

Decompression is pushed chunk by chunk (the archive is read front to back) and bounded:
past `max_size` bytes out it stops with ArchiveError, so a small hostile member cannot
expand into memory (a decompression bomb).
"""

import gzip
import zlib
from collections.abc import Callable

import zstandard

from .errors import ArchiveCode, ArchiveError

METHODS = ("zlib", "zstd")
_OUT_CHUNK = 64 * 1024
_ZSTD_SLICE = 256


def compress(data: bytes, method: str) -> bytes:
    if method == "zlib":
        return gzip.compress(data, compresslevel=9, mtime=0)
    if method == "zstd":
        return zstandard.ZstdCompressor(level=19, write_content_size=True).compress(data)
    raise ValueError(f"compression must be one of {', '.join(METHODS)}, not {method!r}")


class Decompressor:
    """Feed compressed chunks; each piece of output goes to `consume`, at most `max_size`
    bytes in all. `finish()` insists the stream ended exactly at the member's end."""

    def __init__(self, method: str, *, name: str, max_size: int, consume: Callable[[bytes], None]):
        self.method, self.name, self.max_size, self.consume = method, name, max_size, consume
        self.size = 0
        if method == "zlib":
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif method == "zstd":
            self._zstd = zstandard.ZstdDecompressor().decompressobj(write_size=_OUT_CHUNK)
            self._zstd_done = False
        else:
            raise ArchiveError("{name}: compression {method!r} is not one SWUpdate reads (zlib or zstd)", name=name,
                               method=method, code=ArchiveCode.MANIFEST_INVALID)

    def _out(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self.size > self.max_size:
            raise ArchiveError("{name} decompresses to more than {limit} bytes; refused", name=self.name,
                               limit=self.max_size, code=ArchiveCode.IMAGE_TOO_LARGE)
        self.consume(data)

    def feed(self, chunk: bytes) -> None:
        try:
            if self.method == "zlib":
                self._feed_zlib(chunk)
            else:
                self._feed_zstd(chunk)
        except (zlib.error, zstandard.ZstdError) as exc:
            raise ArchiveError("{name} is not valid {method} data: it does not unpack", name=self.name,
                               method=self.method) from exc

    def _feed_zlib(self, chunk: bytes) -> None:
        if self._inflate.eof:
            if chunk:
                raise ArchiveError("{name} has data after its {method} stream", name=self.name, method=self.method)
            return
        data = chunk
        while data or self._inflate.unconsumed_tail:
            data = data or self._inflate.unconsumed_tail
            self._out(self._inflate.decompress(data, _OUT_CHUNK))
            if self._inflate.eof:
                if self._inflate.unused_data:
                    raise ArchiveError("{name} has data after its {method} stream", name=self.name, method=self.method)
                return
            data = b""

    def _feed_zstd(self, chunk: bytes) -> None:
        if self._zstd_done and chunk:
            raise ArchiveError("{name} has data after its {method} stream", name=self.name, method=self.method)
        # One call returns all it can make of its input, and a few bytes of zstd can make
        # 128 KiB: fed in slices of _ZSTD_SLICE bytes, one call makes at most ~11 MiB.
        view = memoryview(chunk)
        for start in range(0, len(view), _ZSTD_SLICE):
            self._out(self._zstd.decompress(bytes(view[start:start + _ZSTD_SLICE])))
            if self._zstd.eof:
                self._zstd_done = True
                if start + _ZSTD_SLICE < len(view) or self._zstd.unused_data:
                    raise ArchiveError("{name} has data after its {method} stream", name=self.name, method=self.method)
                return

    def finish(self) -> None:
        ended = self._inflate.eof if self.method == "zlib" else self._zstd_done
        if not ended:
            raise ArchiveError("{name}: its {method} stream is truncated", name=self.name, method=self.method)


def decompress(data: bytes, method: str, *, name: str, max_size: int) -> bytes:
    parts: list[bytes] = []
    decompressor = Decompressor(method, name=name, max_size=max_size, consume=parts.append)
    decompressor.feed(data)
    decompressor.finish()
    return b"".join(parts)
