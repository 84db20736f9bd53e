"""Inspect and build SWUpdate archives (.swu) without Django: used by the server, the fleet
simulator and vendors' build scripts alike.

inspect_archive() reads front to back once, so it works on uploads and sockets: the
manifest (and its signature) come first and are checked before any image is read.
"""

import hashlib
from dataclasses import dataclass

from . import cpio, signing
from .errors import ArchiveError
from .manifest import (
    DESCRIPTION_NAME,
    MAX_MANIFEST_SIZE,
    SIGNATURE_NAME,
    Manifest,
    check_filename,
    parse_manifest,
    render_manifest,
)

DEFAULT_MAX_SIZE = 64 * 1024 * 1024


@dataclass(frozen=True)
class ImageInfo:
    filename: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ArchiveInfo:
    device_type: str
    version: str
    hardware_revisions: tuple[str, ...]
    description: str
    images: tuple[ImageInfo, ...]
    signed: bool
    signer: str  # subject (RFC 4514) of the signing certificate, "" if unsigned
    size: int  # size and digests are of the whole .swu file, as hawkBit's artifact hashes
    sha256: str
    sha1: str
    md5: str


def inspect_archive(
    fileobj, *, max_size: int = DEFAULT_MAX_SIZE, trusted_certs_pem: bytes | None = None
) -> ArchiveInfo:
    """Check an archive read from `fileobj` (binary, from its current position); raise
    ArchiveError with the reason, or describe it.

    With `trusted_certs_pem`, a signature whose certificate chains to one of those (as
    `openssl cms -verify -CAfile` decides; see signing.verify) is required; without, a signature is optional but must still be intact.
    """
    reader = cpio.Reader(fileobj, max_size=max_size)
    first = cpio.read_member(reader, 1)
    if first.name == cpio.TRAILER:
        raise ArchiveError("the archive is empty (it holds no sw-description)")
    if first.name != DESCRIPTION_NAME:
        raise ArchiveError(
            f"the first file in the archive must be sw-description, not {first.name}"
        )
    if first.size > MAX_MANIFEST_SIZE:
        raise ArchiveError(
            f"sw-description is {first.size} bytes; the limit is {MAX_MANIFEST_SIZE}"
        )
    description = cpio.read_small(reader, first)
    manifest = parse_manifest(description)

    member = cpio.read_member(reader, 2)
    signer = ""
    if member.name == SIGNATURE_NAME:
        if member.size > signing.MAX_SIGNATURE_SIZE:
            raise ArchiveError(
                f"sw-description.sig is {member.size} bytes; that is not a signature"
            )
        signature = cpio.read_small(reader, member)
        signer = signing.verify(description, signature, trusted_certs_pem=trusted_certs_pem)
        member = cpio.read_member(reader, 3)
    elif trusted_certs_pem is not None:
        raise ArchiveError(
            "the archive is not signed (no sw-description.sig), and a signature is required"
        )

    images = _read_images(reader, manifest, member)
    reader.finish()
    digests = reader.hexdigests()
    return ArchiveInfo(
        device_type=manifest.device_type,
        version=manifest.version,
        hardware_revisions=manifest.hardware_revisions,
        description=manifest.description,
        images=images,
        signed=bool(signer),
        signer=signer,
        size=reader.offset,
        sha256=digests["sha256"],
        sha1=digests["sha1"],
        md5=digests["md5"],
    )


def _read_images(
    reader: cpio.Reader, manifest: Manifest, member: cpio.Member
) -> tuple[ImageInfo, ...]:
    """Hash every member up to the trailer against sw-description; all listed must be there."""
    expected = dict(manifest.images)
    found: dict[str, ImageInfo] = {}
    while member.name != cpio.TRAILER:
        name = member.name
        if name in (DESCRIPTION_NAME, SIGNATURE_NAME) or name in found:
            raise ArchiveError(f"{name} appears twice in the archive (or out of place)")
        check_filename(name)
        if name not in expected:
            raise ArchiveError(f"the archive holds {name}, which sw-description does not list")
        digest = hashlib.sha256()
        cpio.read_data(reader, member, digest.update)
        if digest.hexdigest() != expected[name]:
            raise ArchiveError(f"sha256 of {name} does not match sw-description")
        found[name] = ImageInfo(filename=name, size=member.size, sha256=digest.hexdigest())
        member = cpio.read_member(reader, member.index + 1)
    missing = [name for name in expected if name not in found]
    if missing:
        raise ArchiveError(f"sw-description lists {', '.join(missing)}, missing from the archive")
    return tuple(found[name] for name in expected)


def build_archive(
    out,
    *,
    device_type: str,
    version: str,
    hardware_revisions: list[str],
    images: list[tuple[str, bytes]],
    key_pem: bytes | None = None,
    cert_pem: bytes | None = None,
    description: str = "",
    syntax: str = "libconfig",
) -> None:
    """Write a .swu for one device type to the binary file `out`, signed if a key is given."""
    if (key_pem is None) != (cert_pem is None):
        raise ValueError("key_pem and cert_pem are given together or not at all")
    manifest = render_manifest(
        device_type=device_type,
        version=version,
        hardware_revisions=hardware_revisions,
        description=description,
        images=[(name, hashlib.sha256(data).hexdigest()) for name, data in images],
        syntax=syntax,
    )
    written = cpio.write_member(out, DESCRIPTION_NAME, manifest)
    if key_pem is not None:
        signature = signing.sign(manifest, key_pem=key_pem, cert_pem=cert_pem)
        written += cpio.write_member(out, SIGNATURE_NAME, signature)
    for name, data in images:
        written += cpio.write_member(out, name, data)
    cpio.write_trailer(out, written)


def verify_image_for_device(info: ArchiveInfo, *, device_type: str, hardware_revision: str) -> None:
    """Refuse an archive a device would refuse: another board, or an unlisted revision."""
    if info.device_type != device_type:
        raise ArchiveError(
            f"archive is for board {info.device_type}, this is {device_type}", field="device_type"
        )
    if hardware_revision not in info.hardware_revisions:
        raise ArchiveError(
            f"hardware revision {hardware_revision} not in [{', '.join(info.hardware_revisions)}]",
            field="hardware_revision",
        )
