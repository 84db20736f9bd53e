"""cpio "newc" as SWUpdate reads it: a streaming reader that hashes every byte, and a writer.

Layout of a member: 110-byte ASCII header (magic 070701, or 070702 whose check field is
the byte sum of the data), the NUL-terminated name, padding to 4, the data, padding to 4.
The archive ends with a member named TRAILER!!!.
"""

import hashlib
import re
from dataclasses import dataclass

from .errors import ArchiveCode, ArchiveError, ArchiveTooLarge, Words

NEWC = b"070701"
NEWC_CRC = b"070702"
HEADER_SIZE = 110
TRAILER = "TRAILER!!!"
MAX_NAME_SIZE = 256
CHUNK = 64 * 1024
_FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor",
           "devminor", "rdevmajor", "rdevminor", "namesize", "check")  # fmt: skip
_FOREIGN = {  # what operators upload by mistake, so the message can say what it is
    b"PK\x03\x04": Words("a ZIP file"),
    b"\x89PNG": Words("a PNG image"),
    b"\x1f\x8b": Words("a gzip file"),
    b"%PDF": Words("a PDF document"),
    b"\x7fELF": Words("an executable (ELF)"),
    b"\xfd7zXZ": Words("an xz file"),
    b"BZh": Words("a bzip2 file"),
    b"070707": Words("a cpio archive in the old format (odc); SWUpdate needs newc (cpio -H newc)"),
    b"\xc7\x71": Words("a binary cpio archive; SWUpdate needs newc (cpio -H newc)"),
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
        self.reserve(size, Words("its first bytes"))
        return self._raw(size)

    def read(self, size: int, what: str | Words) -> bytes:
        """Exactly `size` bytes, or ArchiveError saying which part is cut short (`what`: a
        member's name, or Words naming a part of the archive)."""
        self.reserve(size, what)
        data = self._raw(size)
        if len(data) < size:
            raise ArchiveError("the archive is truncated in {what}", what=what)
        return data

    def reserve(self, size: int, what: str | Words) -> None:
        # Refuse before reading: an oversized upload costs no more than the limit.
        if self.offset + size > self.max_size:
            raise ArchiveTooLarge(
                "the archive is larger than the limit of {limit} bytes (reached in {what})",
                limit=self.max_size, what=what,
            )

    def chunks(self, size: int, what: str | Words):
        """Yield `size` bytes in chunks, for members too large to hold in memory."""
        self.reserve(size, what)
        while size > 0:
            data = self.read(min(size, CHUNK), what)
            size -= len(data)
            yield data

    def skip_padding(self, size: int, what: str | Words) -> None:
        if any(self.read(-size % 4, Words("the padding after {what}", what=what))):
            raise ArchiveError("the padding after {what} is not zero: the archive is corrupt", what=what)

    def finish(self) -> None:
        """Read to the end: cpio pads with zeros after the trailer, and nothing else may follow."""
        while True:
            data = self._raw(min(CHUNK, self.max_size - self.offset + 1))
            if not data:
                return
            if self.offset > self.max_size:
                raise ArchiveTooLarge("the archive is larger than the limit of {limit} bytes", limit=self.max_size)
            if any(data):
                raise ArchiveError("unexpected data after the end of the archive (TRAILER!!!)")

    def hexdigests(self) -> dict[str, str]:
        return {name: digest.hexdigest() for name, digest in self.hashes.items()}


def read_member(reader: Reader, index: int) -> Member:
    """Read the header and name of member number `index` (1-based); leave its data unread."""
    where = Words("the header of member {index}", index=index)
    if index == 1:
        start = reader.read_upto(6)  # a short foreign file is "not an archive", not "truncated"
        if not start:
            raise ArchiveError("the file is empty", code=ArchiveCode.NOT_AN_ARCHIVE)
        _check_magic(start)
        header = start + reader.read(HEADER_SIZE - 6, where)
    else:
        header = reader.read(HEADER_SIZE, where)
        if header[:6] not in (NEWC, NEWC_CRC):
            raise ArchiveError("{where} is corrupt (no cpio magic): the archive is damaged", where=where)
    # Python's int() would also take " 1", "0x1" or "1_0": check the digits first.
    if not _HEX_FIELDS.fullmatch(header[6:]):
        raise ArchiveError("{where} is corrupt (its fields are not hexadecimal)", where=where)
    fields = {name: int(header[6 + 8 * i : 14 + 8 * i], 16) for i, name in enumerate(_FIELDS)}
    namesize = fields["namesize"]
    if not 2 <= namesize <= MAX_NAME_SIZE:
        raise ArchiveError("{where} gives a name size of {size} bytes", where=where, size=namesize)
    name = _decode_name(reader.read(namesize, Words("the name of member {index}", index=index)), index)
    if name != TRAILER:  # the trailer's padding is left to Reader.finish(): some writers omit it
        reader.skip_padding(HEADER_SIZE + namesize, Words("the name of member {index}", index=index))
    if name != TRAILER and (fields["mode"] & _TYPE_MASK) not in (0, _REGULAR):
        raise ArchiveError("member {name} is not a regular file (directory, link or device)", name=name,
                           code=ArchiveCode.CONTENTS_MISMATCH)
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
        raise ArchiveError("the cpio checksum of {name} does not match its data", name=member.name)
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
            raise ArchiveError("this is {kind}, not an SWUpdate archive (.swu)", kind=kind,
                               code=ArchiveCode.NOT_AN_ARCHIVE)
    raise ArchiveError(
        "this is not an SWUpdate archive (.swu): it does not start with a cpio header",
        code=ArchiveCode.NOT_AN_ARCHIVE,
    )


def _decode_name(raw: bytes, index: int) -> str:
    if raw[-1:] != b"\x00":
        raise ArchiveError("the name of member {index} is not NUL-terminated", index=index)
    if b"\x00" in raw[:-1]:
        raise ArchiveError("the name of member {index} contains a NUL byte", index=index)
    try:
        return raw[:-1].decode("ascii")
    except UnicodeDecodeError:
        raise ArchiveError("the name of member {index} is not plain ASCII", index=index) from None


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
