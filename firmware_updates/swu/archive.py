"""Inspect and build SWUpdate archives (.swu) without Django: used by the server, the fleet
simulator and vendors' build scripts alike.

inspect_archive() reads front to back once, so it works on uploads and sockets: the
manifest (and its signature) come first and are checked before any image is read.
"""

import hashlib
from dataclasses import dataclass

from . import compression, cpio, rdiff, signing
from .errors import ArchiveCode, ArchiveError
from .manifest import (
    DESCRIPTION_NAME,
    IMAGE_DEVICE,
    MAX_MANIFEST_SIZE,
    SIGNATURE_NAME,
    DeltaSpec,
    ImageSpec,
    Manifest,
    check_filename,
    parse_manifest,
    render_manifest,
)

DEFAULT_MAX_SIZE = 64 * 1024 * 1024
# What one image may decompress to (a compressed image, a delta's patched image).
DEFAULT_MAX_IMAGE_SIZE = 256 * 1024 * 1024


@dataclass(frozen=True)
class ImageInfo:
    filename: str
    size: int
    sha256: str  # size and sha256 of the bytes in the archive, as sw-description lists them
    compressed: str = ""  # "zlib" or "zstd": SWUpdate decompresses while it writes
    image_size: int = 0  # size and sha256 of what the panel writes (decompressed)
    image_sha256: str = ""


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
    # A delta archive: what it patches and what comes out (its one image is the patch).
    delta: DeltaSpec | None = None


def inspect_archive(
    fileobj, *, max_size: int = DEFAULT_MAX_SIZE, trusted_certs_pem: bytes | None = None,
    max_image_size: int = DEFAULT_MAX_IMAGE_SIZE,
) -> ArchiveInfo:
    """Check an archive read from `fileobj` (binary, from its current position); raise
    ArchiveError with the reason, or describe it.

    With `trusted_certs_pem`, a signature whose certificate chains to one of those (as
    `openssl cms -verify -CAfile` decides; see signing.verify) is required; without, a signature is optional but must still be intact.
    A compressed image is decompressed as it is read (at most `max_image_size` bytes): it
    must be a whole stream of its method.
    """
    return _inspect(fileobj, max_size=max_size, trusted_certs_pem=trusted_certs_pem,
                    max_image_size=max_image_size, keep=None)


def read_archive_image(
    fileobj, *, max_size: int = DEFAULT_MAX_SIZE, trusted_certs_pem: bytes | None = None,
    max_image_size: int = DEFAULT_MAX_IMAGE_SIZE,
) -> tuple[ArchiveInfo, bytes | None]:
    """Check an archive as `inspect_archive` does, in the same single pass, and return with
    it what a panel writes of its one image: the image decompressed, or a delta's patch
    (decompressed; `apply_archive_delta` applies it). None for an archive of several images."""
    kept: dict[str, bytearray] = {}
    info = _inspect(fileobj, max_size=max_size, trusted_certs_pem=trusted_certs_pem,
                    max_image_size=max_image_size, keep=kept)
    if len(info.images) != 1:
        return info, None
    return info, bytes(kept[info.images[0].filename])


def apply_archive_delta(info: ArchiveInfo, patch: bytes, base: bytes) -> bytes:
    """What a panel holding `base` makes of a delta archive: the base checked against the
    sha256 the delta names, patched, and the result checked against the image's sha256."""
    delta = info.delta
    if delta is None:
        raise ArchiveError("the archive is not a delta", code=ArchiveCode.DELTA_INVALID)
    if len(base) != delta.base_size or hashlib.sha256(base).hexdigest() != delta.base_sha256:
        raise ArchiveError(
            "the delta patches {version} (sha256 {sha256}), and this base image is another",
            version=delta.base_version, sha256=delta.base_sha256, field="base", code=ArchiveCode.DELTA_INVALID)
    try:
        image = rdiff.apply_delta(base, patch, max_size=delta.image_size)
    except rdiff.DeltaError as exc:
        raise ArchiveError("the delta cannot be applied: {reason}", reason=exc.words,
                           code=ArchiveCode.DELTA_INVALID) from None
    if len(image) != delta.image_size or hashlib.sha256(image).hexdigest() != delta.image_sha256:
        raise ArchiveError("the patched image does not match the sha256 the delta names "
                           "(the delta is corrupt)", code=ArchiveCode.DELTA_INVALID)
    return image


def _inspect(fileobj, *, max_size: int, trusted_certs_pem: bytes | None, max_image_size: int,
             keep: dict | None) -> ArchiveInfo:
    reader = cpio.Reader(fileobj, max_size=max_size)
    first = cpio.read_member(reader, 1)
    if first.name == cpio.TRAILER:
        raise ArchiveError("the archive is empty (it holds no sw-description)", code=ArchiveCode.NOT_AN_ARCHIVE)
    if first.name != DESCRIPTION_NAME:
        raise ArchiveError(
            "the first file in the archive must be sw-description, not {name}", name=first.name,
            code=ArchiveCode.MANIFEST_INVALID,
        )
    if first.size > MAX_MANIFEST_SIZE:
        raise ArchiveError(
            "sw-description is {size} bytes; the limit is {limit}", size=first.size, limit=MAX_MANIFEST_SIZE,
            code=ArchiveCode.MANIFEST_INVALID,
        )
    description = cpio.read_small(reader, first)
    manifest = parse_manifest(description)

    member = cpio.read_member(reader, 2)
    signer = ""
    if member.name == SIGNATURE_NAME:
        if member.size > signing.MAX_SIGNATURE_SIZE:
            raise ArchiveError(
                "sw-description.sig is {size} bytes; that is not a signature", size=member.size,
                code=ArchiveCode.SIGNATURE_INVALID,
            )
        signature = cpio.read_small(reader, member)
        signer = signing.verify(description, signature, trusted_certs_pem=trusted_certs_pem)
        member = cpio.read_member(reader, 3)
    elif trusted_certs_pem is not None:
        raise ArchiveError(
            "the archive is not signed (no sw-description.sig), and a signature is required",
            code=ArchiveCode.NOT_SIGNED,
        )

    images = _read_images(reader, manifest, member, max_image_size=max_image_size, keep=keep)
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
        delta=manifest.delta[1] if manifest.delta else None,
    )


def _read_images(
    reader: cpio.Reader, manifest: Manifest, member: cpio.Member, *, max_image_size: int,
    keep: dict | None,
) -> tuple[ImageInfo, ...]:
    """Hash every member up to the trailer against sw-description; all listed must be there.
    A compressed one is decompressed on the way (and hashed as the panel will write it)."""
    expected = dict(manifest.images)
    methods = dict(manifest.compression)
    found: dict[str, ImageInfo] = {}
    while member.name != cpio.TRAILER:
        name = member.name
        if name in (DESCRIPTION_NAME, SIGNATURE_NAME) or name in found:
            raise ArchiveError("{name} appears twice in the archive (or out of place)", name=name,
                               code=ArchiveCode.CONTENTS_MISMATCH)
        check_filename(name)
        if name not in expected:
            raise ArchiveError("the archive holds {name}, which sw-description does not list", name=name,
                               code=ArchiveCode.CONTENTS_MISMATCH)
        digest, written = hashlib.sha256(), hashlib.sha256()
        # Only an archive of one image is kept (read_archive_image): several could be large.
        kept = keep.setdefault(name, bytearray()) if keep is not None and len(expected) == 1 else None

        def out(chunk: bytes, written=written, kept=kept) -> None:
            written.update(chunk)
            if kept is not None:
                kept.extend(chunk)

        method = methods.get(name, "")
        decompressor = (compression.Decompressor(method, name=name, max_size=max_image_size, consume=out)
                        if method else None)

        def consume(chunk: bytes, digest=digest, decompressor=decompressor, out=out) -> None:
            digest.update(chunk)
            (decompressor.feed if decompressor else out)(chunk)

        cpio.read_data(reader, member, consume)
        if digest.hexdigest() != expected[name]:
            raise ArchiveError("sha256 of {name} does not match sw-description", name=name,
                               code=ArchiveCode.HASH_MISMATCH)
        if decompressor is not None:
            decompressor.finish()
        found[name] = ImageInfo(
            filename=name, size=member.size, sha256=digest.hexdigest(), compressed=method,
            image_size=decompressor.size if decompressor else member.size,
            image_sha256=written.hexdigest(),
        )
        member = cpio.read_member(reader, member.index + 1)
    missing = [name for name in expected if name not in found]
    if missing:
        raise ArchiveError("sw-description lists {names}, missing from the archive", names=", ".join(missing),
                           code=ArchiveCode.CONTENTS_MISMATCH)
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
    compress: str = "",
    device: str = IMAGE_DEVICE,
) -> None:
    """Write a .swu for one device type to the binary file `out`, signed if a key is given.
    With `compress` ("zlib" or "zstd") each image is stored compressed; `device` is where a
    panel writes it."""
    if (key_pem is None) != (cert_pem is None):
        raise ValueError("key_pem and cert_pem are given together or not at all")
    if compress:
        images = [(name, compression.compress(data, compress)) for name, data in images]
    specs = [ImageSpec(filename=name, sha256=hashlib.sha256(data).hexdigest(), compressed=compress,
                       device=device) for name, data in images]
    _write(out, specs, images, device_type=device_type, version=version,
           hardware_revisions=hardware_revisions, key_pem=key_pem, cert_pem=cert_pem,
           description=description, syntax=syntax)


def build_delta_archive(
    out,
    *,
    device_type: str,
    version: str,
    hardware_revisions: list[str],
    base_version: str,
    base_image: bytes,
    image: bytes,
    filename: str,
    base_device: str,
    device: str = IMAGE_DEVICE,
    compress: str = "zstd",
    key_pem: bytes | None = None,
    cert_pem: bytes | None = None,
    description: str = "",
    syntax: str = "libconfig",
) -> DeltaSpec:
    """Write a .swu that turns `base_image` (version `base_version`, held by the panel at
    `base_device`) into `image`: SWUpdate's rdiff_image handler writes the result to `device`.
    The patch is compressed (zstd by default: its literals are code, which compresses well)."""
    if (key_pem is None) != (cert_pem is None):
        raise ValueError("key_pem and cert_pem are given together or not at all")
    if not base_image or not image:
        raise ArchiveError("a delta needs a base image and a new image, neither empty",
                           code=ArchiveCode.DELTA_INVALID)
    delta = DeltaSpec(
        base_version=base_version,
        base_sha256=hashlib.sha256(base_image).hexdigest(),
        base_size=len(base_image),
        image_sha256=hashlib.sha256(image).hexdigest(),
        image_size=len(image),
    )
    patch = rdiff.make_delta(base_image, image)
    data = compression.compress(patch, compress) if compress else patch
    spec = ImageSpec(filename=filename, sha256=hashlib.sha256(data).hexdigest(), compressed=compress,
                     device=device, delta=delta, base_device=base_device)
    _write(out, [spec], [(filename, data)], device_type=device_type, version=version,
           hardware_revisions=hardware_revisions, key_pem=key_pem, cert_pem=cert_pem,
           description=description, syntax=syntax)
    return delta


def _write(out, specs: list[ImageSpec], images: list[tuple[str, bytes]], *, device_type: str,
           version: str, hardware_revisions: list[str], key_pem: bytes | None,
           cert_pem: bytes | None, description: str, syntax: str) -> None:
    manifest = render_manifest(
        device_type=device_type,
        version=version,
        hardware_revisions=hardware_revisions,
        description=description,
        images=specs,
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
            "archive is for board {board}, this is {device_type}", board=info.device_type,
            device_type=device_type, field="device_type", code=ArchiveCode.WRONG_DEVICE_TYPE,
        )
    if hardware_revision not in info.hardware_revisions:
        raise ArchiveError(
            "hardware revision {revision} not in [{revisions}]", revision=hardware_revision,
            revisions=", ".join(info.hardware_revisions), field="hardware_revision",
            code=ArchiveCode.HARDWARE_REVISION_NOT_SUPPORTED,
        )
