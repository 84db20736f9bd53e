"""cpio "newc" as SWUpdate reads it: a streaming reader that hashes every byte, and a writer.

Layout of a member: 110-byte ASCII header (magic 070701, or 070702 whose check field is
the byte sum of the data), the NUL-terminated name, padding to 4, the data, padding to 4.
The archive ends with a member named TRAILER!!!.
"""

import hashlib
import re
from dataclasses import dataclass

from .errors import ArchiveError, ArchiveTooLarge

NEWC = b"070701"
NEWC_CRC = b"070702"
HEADER_SIZE = 110
TRAILER = "TRAILER!!!"
MAX_NAME_SIZE = 256
CHUNK = 64 * 1024
_FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor",
           "devminor", "rdevmajor", "rdevminor", "namesize", "check")  # fmt: skip
_FOREIGN = {  # what operators upload by mistake, so the message can say what it is
    b"PK\x03\x04": "a ZIP file",
    b"\x89PNG": "a PNG image",
    b"\x1f\x8b": "a gzip file",
    b"%PDF": "a PDF document",
    b"\x7fELF": "an executable (ELF)",
    b"\xfd7zXZ": "an xz file",
    b"BZh": "a bzip2 file",
    b"070707": "a cpio archive in the old format (odc); SWUpdate needs newc (cpio -H newc)",
    b"\xc7\x71": "a binary cpio archive; SWUpdate needs newc (cpio -H newc)",
}
_HEX_FIELDS = re.compile(rb"[0-9A-Fa-f]{104}")
_REGULAR = 0o100000
_TYPE_MASK = 0o170000


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    check: int | None  # the byte sum a 070702 header promises; None for 070701
    index: int


class Reader:
    """Reads a stream front to back, hashing and counting everything it reads."""

    def __init__(self, fileobj, *, max_size: int):
        self.fileobj = fileobj
        self.max_size = max_size
        self.offset = 0
        self.hashes = {name: hashlib.new(name) for name in ("sha256", "sha1", "md5")}

    def _raw(self, size: int) -> bytes:
        parts = []
        while size > 0:
            part = self.fileobj.read(min(size, CHUNK))
            if not part:
                break
            parts.append(part)
            size -= len(part)
        data = b"".join(parts)
        for digest in self.hashes.values():
            digest.update(data)
        self.offset += len(data)
        return data

    def read_upto(self, size: int) -> bytes:
        self.reserve(size, "its first bytes")
        return self._raw(size)

    def read(self, size: int, what: str) -> bytes:
        """Exactly `size` bytes, or ArchiveError saying which part is cut short."""
        self.reserve(size, what)
        data = self._raw(size)
        if len(data) < size:
            raise ArchiveError(f"the archive is truncated in {what}")
        return data

    def reserve(self, size: int, what: str) -> None:
        # Refuse before reading: an oversized upload costs no more than the limit.
        if self.offset + size > self.max_size:
            raise ArchiveTooLarge(
                f"the archive is larger than the limit of {self.max_size} bytes (reached in {what})"
            )

    def chunks(self, size: int, what: str):
        """Yield `size` bytes in chunks, for members too large to hold in memory."""
        self.reserve(size, what)
        while size > 0:
            data = self.read(min(size, CHUNK), what)
            size -= len(data)
            yield data

    def skip_padding(self, size: int, what: str) -> None:
        if any(self.read(-size % 4, f"the padding after {what}")):
            raise ArchiveError(f"the padding after {what} is not zero: the archive is corrupt")

    def finish(self) -> None:
        """Read to the end: cpio pads with zeros after the trailer, and nothing else may follow."""
        while True:
            data = self._raw(min(CHUNK, self.max_size - self.offset + 1))
            if not data:
                return
            if self.offset > self.max_size:
                raise ArchiveTooLarge(f"the archive is larger than the limit of {self.max_size} bytes")
            if any(data):
                raise ArchiveError("unexpected data after the end of the archive (TRAILER!!!)")

    def hexdigests(self) -> dict[str, str]:
        return {name: digest.hexdigest() for name, digest in self.hashes.items()}


def read_member(reader: Reader, index: int) -> Member:
    """Read the header and name of member number `index` (1-based); leave its data unread."""
    where = f"the header of member {index}"
    if index == 1:
        start = reader.read_upto(6)  # a short foreign file is "not an archive", not "truncated"
        if not start:
            raise ArchiveError("the file is empty")
        _check_magic(start)
        header = start + reader.read(HEADER_SIZE - 6, where)
    else:
        header = reader.read(HEADER_SIZE, where)
        if header[:6] not in (NEWC, NEWC_CRC):
            raise ArchiveError(f"{where} is corrupt (no cpio magic): the archive is damaged")
    # Python's int() would also take " 1", "0x1" or "1_0": check the digits first.
    if not _HEX_FIELDS.fullmatch(header[6:]):
        raise ArchiveError(f"{where} is corrupt (its fields are not hexadecimal)")
    fields = {name: int(header[6 + 8 * i : 14 + 8 * i], 16) for i, name in enumerate(_FIELDS)}
    namesize = fields["namesize"]
    if not 2 <= namesize <= MAX_NAME_SIZE:
        raise ArchiveError(f"{where} gives a name size of {namesize} bytes")
    name = _decode_name(reader.read(namesize, f"the name of member {index}"), index)
    if name != TRAILER:  # the trailer's padding is left to Reader.finish(): some writers omit it
        reader.skip_padding(HEADER_SIZE + namesize, f"the name of member {index}")
    if name != TRAILER and (fields["mode"] & _TYPE_MASK) not in (0, _REGULAR):
        raise ArchiveError(f"member {name} is not a regular file (directory, link or device)")
    crc = header[:6] == NEWC_CRC
    return Member(
        name=name, size=fields["filesize"], check=fields["check"] if crc else None, index=index
    )


def read_data(reader: Reader, member: Member, consume) -> None:
    """Feed the member's data to `consume(chunk)`, check the 070702 sum, skip the padding."""
    total = 0
    for chunk in reader.chunks(member.size, member.name):
        if member.check is not None:
            total += sum(chunk)
        consume(chunk)
    if member.check is not None and total & 0xFFFFFFFF != member.check:
        raise ArchiveError(f"the cpio checksum of {member.name} does not match its data")
    reader.skip_padding(member.size, member.name)


def read_small(reader: Reader, member: Member) -> bytes:
    parts: list[bytes] = []
    read_data(reader, member, parts.append)
    return b"".join(parts)


def _check_magic(start: bytes) -> None:
    if start in (NEWC, NEWC_CRC):
        return
    for magic, kind in _FOREIGN.items():
        if start.startswith(magic):
            raise ArchiveError(f"this is {kind}, not an SWUpdate archive (.swu)")
    raise ArchiveError(
        "this is not an SWUpdate archive (.swu): it does not start with a cpio header"
    )


def _decode_name(raw: bytes, index: int) -> str:
    if raw[-1:] != b"\x00":
        raise ArchiveError(f"the name of member {index} is not NUL-terminated")
    if b"\x00" in raw[:-1]:
        raise ArchiveError(f"the name of member {index} contains a NUL byte")
    try:
        return raw[:-1].decode("ascii")
    except UnicodeDecodeError:
        raise ArchiveError(f"the name of member {index} is not plain ASCII") from None


def write_member(out, name: str, data: bytes) -> int:
    """Write one 070701 member; returns the bytes written.

    The check field stays 0: swupdate 2022.12 ignores it for 070701 (it verifies 070702
    sums), and the sha256 in sw-description protects each image anyway.
    """
    raw_name = name.encode("ascii") + b"\x00"
    values = dict.fromkeys(_FIELDS, 0)
    values.update(mode=_REGULAR | 0o644, nlink=1, filesize=len(data), namesize=len(raw_name))
    header = NEWC + b"".join(b"%08X" % values[field] for field in _FIELDS)
    blob = header + raw_name + b"\x00" * (-(HEADER_SIZE + len(raw_name)) % 4)
    blob += data + b"\x00" * (-len(data) % 4)
    out.write(blob)
    return len(blob)


def write_trailer(out, written: int) -> None:
    """The trailer, padded to a 512-byte block as GNU cpio does."""
    written += write_member(out, TRAILER, b"")
    out.write(b"\x00" * (-written % 512))
