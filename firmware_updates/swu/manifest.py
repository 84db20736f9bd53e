"""sw-description: what an archive says it holds, read strictly and written as SWUpdate wants."""

import json
import re
from dataclasses import dataclass

from core.json import json_too_deep
from core.versions import is_version

from . import libconfig
from .errors import ArchiveCode, ArchiveError, Words
from .lua import DELTA_HOOK, delta_base_check_script

DESCRIPTION_NAME = "sw-description"
SIGNATURE_NAME = "sw-description.sig"
MAX_MANIFEST_SIZE = 1024 * 1024
# Debian's swupdate 2022.12 has the raw handler in every build; in a dry run (-n) it swaps
# in its dummy handler, and a real run would write into /dev/null. See docs/swu-format.md.
IMAGE_TYPE = "raw"
IMAGE_DEVICE = "/dev/null"
# A delta: SWUpdate's rdiff_image handler patches the image at `rdiffbase` (a property) into
# `device`; the fields below are ours (SWUpdate ignores them), read by intake and fleetsim.
DELTA_TYPE = "rdiff_image"
DELTA_FIELDS = ("delta-base-version", "delta-base-sha256", "delta-base-size", "delta-image-sha256",
                "delta-image-size")
COMPRESSIONS = ("zlib", "zstd")
_MAX_IMAGE_SIZE = 2**31 - 1  # a libconfig int
# SWUpdate looks for files to install in these lists (scripts run before/after images).
ARTIFACT_LISTS = ("images", "files", "scripts")

_DEVICE_TYPE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # as sites.models.code_validator
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,31}")
_FILENAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+@-]{0,127}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_LIBCONFIG_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9_]*")
# Where a panel writes an image, or holds the one a delta patches: an absolute path, plain.
_DEVICE_PATH = re.compile(r"/[A-Za-z0-9._+@/-]{1,254}")


@dataclass(frozen=True)
class DeltaSpec:
    """What a delta names: the image it patches (version, sha256, size) and what comes out."""

    base_version: str
    base_sha256: str
    base_size: int
    image_sha256: str
    image_size: int


@dataclass(frozen=True)
class ImageSpec:
    """One image to write into sw-description (build side)."""

    filename: str
    sha256: str  # of the bytes in the archive (compressed, if compressed)
    compressed: str = ""  # "", "zlib" or "zstd"
    device: str = IMAGE_DEVICE
    delta: DeltaSpec | None = None
    base_device: str = ""  # a delta: where the panel holds the base image


@dataclass(frozen=True)
class Manifest:
    device_type: str
    version: str
    hardware_revisions: tuple[str, ...]
    description: str
    images: tuple[tuple[str, str], ...]  # (filename, sha256), in sw-description order
    compression: tuple[tuple[str, str], ...] = ()  # (filename, "zlib"|"zstd") of compressed ones
    delta: tuple[str, DeltaSpec] | None = None  # (filename, what it patches) for a delta archive


def parse_manifest(data: bytes) -> Manifest:
    """Read sw-description (libconfig or JSON) and check everything it promises."""
    software = _load(data).get("software")
    if not isinstance(software, dict):
        raise ArchiveError("sw-description has no 'software' section", code=ArchiveCode.MANIFEST_INVALID)
    board, scopes = _board_section(software)
    section = scopes[0]
    version = _lookup(scopes, "version")
    if version is None:
        raise ArchiveError("sw-description has no software version", code=ArchiveCode.VERSION_INVALID)
    check_version(version)
    revisions = _lookup(scopes, "hardware-compatibility")
    if revisions is None:
        raise ArchiveError("sw-description has no hardware-compatibility for board {board}", board=board,
                           code=ArchiveCode.HARDWARE_REVISIONS_INVALID)
    check_hardware_revisions(revisions)
    description = _lookup(scopes, "description") or ""
    if not isinstance(description, str):
        raise ArchiveError("sw-description: description must be a string", code=ArchiveCode.MANIFEST_INVALID)
    images = _artifacts(section)
    compression = tuple(_compression(item) for item in _items(section))
    delta = _delta(section, software, version)
    return Manifest(
        device_type=board,
        version=version,
        hardware_revisions=tuple(revisions),
        description=description,
        images=images,
        compression=tuple(pair for pair in compression if pair[1]),
        delta=delta,
    )


def render_manifest(
    *,
    device_type: str,
    version: str,
    hardware_revisions: list[str],
    description: str,
    images: list,
    syntax: str = "libconfig",
) -> bytes:
    """Write sw-description for one board; `images` are ImageSpecs or (filename, sha256)
    pairs. A delta (an ImageSpec with `delta`) is alone in its archive, and carries the
    embedded Lua hook with which swupdate refuses it unless its base is the one named."""
    check_device_type(device_type)
    check_version(version)
    check_hardware_revisions(list(hardware_revisions))
    if not images:
        raise ArchiveError("an archive needs at least one image", code=ArchiveCode.MANIFEST_INVALID)
    specs = [spec if isinstance(spec, ImageSpec) else ImageSpec(*spec) for spec in images]
    deltas = [spec for spec in specs if spec.delta is not None]
    if deltas and len(specs) > 1:
        raise ArchiveError("a delta archive holds one image, the delta", code=ArchiveCode.DELTA_INVALID)
    seen: set[str] = set()
    entries = []
    for spec in specs:
        check_filename(spec.filename)
        if spec.filename in seen:
            raise ArchiveError("image {name} is given twice", name=spec.filename, code=ArchiveCode.MANIFEST_INVALID)
        seen.add(spec.filename)
        check_device_path(spec.device, "device")
        entry = {"filename": spec.filename, "type": IMAGE_TYPE, "device": spec.device, "sha256": spec.sha256}
        if spec.compressed:
            if spec.compressed not in COMPRESSIONS:
                raise ArchiveError("compression {method!r} is not one SWUpdate reads (zlib or zstd)",
                                   method=spec.compressed, code=ArchiveCode.MANIFEST_INVALID)
            entry["compressed"] = spec.compressed
        if spec.delta is not None:
            check_device_path(spec.base_device, "base device")
            entry.update(_delta_entry(spec))
        entries.append(entry)
    software: dict = {"version": version}
    if description:
        software["description"] = description
    if deltas:
        delta = deltas[0].delta
        software["embedded-script"] = delta_base_check_script(
            base_device=deltas[0].base_device, base_version=delta.base_version,
            base_sha256=delta.base_sha256, base_size=delta.base_size)
    software[device_type] = {
        "hardware-compatibility": list(hardware_revisions),
        "images": entries,
    }
    if syntax == "json":
        return (json.dumps({"software": software}, indent=2, ensure_ascii=False) + "\n").encode()
    if syntax != "libconfig":
        raise ValueError(f"syntax must be 'libconfig' or 'json', not {syntax!r}")
    if not _LIBCONFIG_NAME.fullmatch(device_type):
        raise ArchiveError(
            "device type {device_type} cannot be a libconfig name (it must start with a letter); use JSON syntax",
            device_type=device_type, code=ArchiveCode.DEVICE_TYPE_INVALID,
        )
    return libconfig.dumps({"software": software}).encode()


def _delta_entry(spec: ImageSpec) -> dict:
    delta = spec.delta
    check_version(delta.base_version)
    for name, size in (("base", delta.base_size), ("image", delta.image_size)):
        if not 0 < size <= _MAX_IMAGE_SIZE:
            if name == "base":
                raise ArchiveError("the delta's base size {size} is out of range", size=size,
                                   code=ArchiveCode.DELTA_INVALID)
            raise ArchiveError("the delta's image size {size} is out of range", size=size,
                               code=ArchiveCode.DELTA_INVALID)
    return {
        "type": DELTA_TYPE,
        "hook": DELTA_HOOK,
        "properties": {"rdiffbase": spec.base_device},
        "delta-base-version": delta.base_version,
        "delta-base-sha256": delta.base_sha256,
        "delta-base-size": delta.base_size,
        "delta-image-sha256": delta.image_sha256,
        "delta-image-size": delta.image_size,
    }


def check_device_path(path, what: str) -> None:
    if not isinstance(path, str) or not _DEVICE_PATH.fullmatch(path) or "/../" in f"{path}/":
        if what == "device":
            raise ArchiveError("the device {path!r} must be an absolute path of plain characters", path=path,
                               code=ArchiveCode.MANIFEST_INVALID)
        raise ArchiveError("the base device {path!r} must be an absolute path of plain characters", path=path,
                           code=ArchiveCode.MANIFEST_INVALID)


def check_version(version) -> None:
    if not is_version(version):
        raise ArchiveError(
            "software version {version!r} is malformed: expected numbers separated by dots, e.g. 5.40",
            version=version, field="version", code=ArchiveCode.VERSION_INVALID,
        )


def check_device_type(name) -> None:
    if not isinstance(name, str) or not _DEVICE_TYPE.fullmatch(name):
        raise ArchiveError(
            "board name {name!r} is not a device type code (lower-case letters, digits, '-' and '_')",
            name=name, field="device_type", code=ArchiveCode.DEVICE_TYPE_INVALID,
        )


def check_hardware_revisions(revisions) -> None:
    if not isinstance(revisions, list) or not revisions:
        raise ArchiveError("hardware-compatibility must list at least one hardware revision",
                           code=ArchiveCode.HARDWARE_REVISIONS_INVALID)
    for revision in revisions:
        if not isinstance(revision, str) or not _REVISION.fullmatch(revision):
            raise ArchiveError(
                "hardware revision {revision!r} is malformed (letters, digits, '.', '-', '_' and '+' only)",
                revision=revision, code=ArchiveCode.HARDWARE_REVISIONS_INVALID,
            )
    if len(set(revisions)) != len(revisions):
        raise ArchiveError("hardware-compatibility lists a revision twice", code=ArchiveCode.HARDWARE_REVISIONS_INVALID)


def check_filename(name) -> None:
    """Refuse anything but a plain file name: no directories, no backslashes, no NULs."""
    if not isinstance(name, str) or not _FILENAME.fullmatch(name):
        raise ArchiveError(
            "file name {name!r} is not allowed: use a plain name (letters, digits, '.', '-', '_', '+', '@') "
            "without directories", name=name, code=ArchiveCode.MANIFEST_INVALID,
        )
    if name in (DESCRIPTION_NAME, SIGNATURE_NAME):
        raise ArchiveError("an image cannot be called {name}", name=name, code=ArchiveCode.MANIFEST_INVALID)


def _load(data: bytes) -> dict:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArchiveError("sw-description is not UTF-8 text (byte {at})", at=exc.start, code=ArchiveCode.MANIFEST_INVALID) from None
    if "\x00" in text:
        raise ArchiveError("sw-description contains a NUL byte", code=ArchiveCode.MANIFEST_INVALID)
    if text.lstrip().startswith(
        "{"
    ):  # libconfig cannot start with '{': SWUpdate tells them apart the same way
        return _load_json(text)
    try:
        return libconfig.loads(text)
    except libconfig.ParseError as exc:
        raise ArchiveError("sw-description is not valid libconfig: line {line}: {reason}", line=exc.line,
                           reason=exc.words, code=ArchiveCode.MANIFEST_INVALID) from None


def _load_json(text: str) -> dict:
    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ArchiveError("sw-description is not valid JSON: a key appears twice in one object", code=ArchiveCode.MANIFEST_INVALID)
        return dict(pairs)

    def no_constants(name):
        raise ArchiveError("sw-description is not valid JSON: {name} is not JSON", name=name, code=ArchiveCode.MANIFEST_INVALID)

    if json_too_deep(text, limit=libconfig.MAX_DEPTH):
        raise ArchiveError("sw-description is nested more than {depth} levels deep", depth=libconfig.MAX_DEPTH, code=ArchiveCode.MANIFEST_INVALID)
    try:
        document = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        # The parser's own words (exc.msg) are English: the line and column say where.
        raise ArchiveError("sw-description is not valid JSON: line {line}, column {column}", line=exc.lineno,
                           column=exc.colno, code=ArchiveCode.MANIFEST_INVALID) from None
    if not isinstance(document, dict):
        raise ArchiveError("sw-description is not valid JSON: the top level must be an object", code=ArchiveCode.MANIFEST_INVALID)
    return document


def _board_section(software: dict) -> tuple[str, tuple[dict, ...]]:
    """Find the board name and the groups to read settings from, most specific first (the
    group holding the images first), as SWUpdate looks them up.

    Our archives put images straight in the board group. SWUpdate's collections
    (`board = { stable = { main = { images ... } } }`, installed with -e stable,main) are
    accepted when exactly one group holds images; anything else would need guessing.
    swupdate 2022.12 finds no images one level down (`board.stable.images`), so neither do we.
    """
    found = []
    for name, group in _subgroups(software):
        if _has_artifacts(group):
            found.append((name, (group, software)))
            continue
        for _, collection in _subgroups(group):
            for _, mode in _subgroups(collection):
                if _has_artifacts(mode):
                    found.append((name, (mode, collection, group, software)))
    if not found:
        if any(key in software for key in ARTIFACT_LISTS):
            raise ArchiveError(
                "sw-description names no board: images must sit in a section named after the "
                "device type, e.g. software.nord-gsm.images", code=ArchiveCode.DEVICE_TYPE_INVALID,
            )
        raise ArchiveError("sw-description has no board section with images", code=ArchiveCode.DEVICE_TYPE_INVALID)
    boards = sorted({name for name, _ in found})
    if len(boards) > 1:
        raise ArchiveError(
            "sw-description has several board sections ({boards}); an archive must be for one device type",
            boards=", ".join(boards), code=ArchiveCode.DEVICE_TYPE_INVALID,
        )
    if len(found) > 1:
        raise ArchiveError(
            "sw-description for {board} has several software collections; only one set of images is supported",
            board=boards[0], code=ArchiveCode.MANIFEST_INVALID,
        )
    check_device_type(boards[0])
    return found[0]


def _subgroups(group: dict) -> list[tuple[str, dict]]:
    return [(name, value) for name, value in group.items() if isinstance(value, dict)]


def _has_artifacts(group: dict) -> bool:
    return any(key in group for key in ARTIFACT_LISTS)


def _lookup(scopes: tuple[dict, ...], key: str):
    for scope in scopes:
        if key in scope:
            return scope[key]
    return None


def _items(section: dict) -> list:
    return [item for name in ARTIFACT_LISTS for item in (section.get(name) or [])
            if isinstance(item, dict)]


def _compression(item: dict) -> tuple[str, str]:
    """SWUpdate 2022.12 reads `compressed` as "zlib" or "zstd" (the boolean form, deprecated,
    means zlib); anything else it refuses, so do we."""
    value = item.get("compressed", False)
    if value is True:
        value = "zlib"
    if value is False or value == "false":
        return item.get("filename"), ""
    if value not in COMPRESSIONS:
        raise ArchiveError(
            "sw-description: {name} is compressed as {method!r}; SWUpdate reads zlib or zstd",
            name=item.get("filename"), method=value, code=ArchiveCode.MANIFEST_INVALID)
    return item.get("filename"), value


def _delta(section: dict, software: dict, version: str) -> tuple[str, DeltaSpec] | None:
    """A delta archive: one `rdiff_image`, naming its base version, the base image's sha256
    and size and the sha256 and size of the image it makes, with a hook and an embedded
    script (so swupdate checks the base before anything is written)."""
    items = _items(section)
    deltas = [item for item in items if item.get("type") == DELTA_TYPE]
    if not deltas:
        return None
    if len(items) > 1:
        raise ArchiveError("a delta archive must hold one image, the delta, and nothing else", code=ArchiveCode.DELTA_INVALID)
    item = deltas[0]
    name = item.get("filename")
    missing = [field for field in DELTA_FIELDS if field not in item]
    if missing:
        raise ArchiveError(
            "sw-description: the delta {name} does not name its base ({fields} missing); build it with "
            "`python -m firmware_updates.swu build --delta-from`", name=name, fields=", ".join(missing), code=ArchiveCode.DELTA_INVALID)
    base_version = item["delta-base-version"]
    check_version(base_version)
    if base_version == version:
        raise ArchiveError("the delta {name} is from {version} to itself", name=name, version=base_version, code=ArchiveCode.DELTA_INVALID)
    for field in ("delta-base-sha256", "delta-image-sha256"):
        if not isinstance(item[field], str) or not _SHA256.fullmatch(item[field]):
            raise ArchiveError("sw-description: {field} of {name} is not 64 hex digits", field=field, name=name,
                               code=ArchiveCode.DELTA_INVALID)
    for field in ("delta-base-size", "delta-image-size"):
        if not isinstance(item[field], int) or isinstance(item[field], bool) \
                or not 0 < item[field] <= _MAX_IMAGE_SIZE:
            raise ArchiveError("sw-description: {field} of {name} is not a size in bytes", field=field, name=name,
                               code=ArchiveCode.DELTA_INVALID)
    properties = item.get("properties")
    if not isinstance(properties, dict) or not isinstance(properties.get("rdiffbase"), str):
        raise ArchiveError("sw-description: the delta {name} has no rdiffbase property "
                           "(where the panel holds its base image)", name=name, code=ArchiveCode.DELTA_INVALID)
    if not item.get("hook") or not isinstance(software.get("embedded-script"), str):
        raise ArchiveError("sw-description: the delta {name} has no hook checking its base; "
                           "a panel could apply it to another image", name=name, code=ArchiveCode.DELTA_INVALID)
    return name, DeltaSpec(
        base_version=base_version,
        base_sha256=item["delta-base-sha256"].lower(),
        base_size=item["delta-base-size"],
        image_sha256=item["delta-image-sha256"].lower(),
        image_size=item["delta-image-size"],
    )


def _artifacts(section: dict) -> tuple[tuple[str, str], ...]:
    entries = []
    for list_name in ARTIFACT_LISTS:
        items = section.get(list_name, [])
        if not isinstance(items, list):
            raise ArchiveError("sw-description: {name} must be a list", name=list_name, code=ArchiveCode.MANIFEST_INVALID)
        for index, item in enumerate(items, 1):
            where = {"images": Words("image {index}", index=index), "files": Words("file {index}", index=index),
                     "scripts": Words("script {index}", index=index)}[list_name]
            entries.append(_artifact(item, where))
    if not section.get("images"):
        raise ArchiveError("sw-description lists no images", code=ArchiveCode.MANIFEST_INVALID)
    names = [name for name, _ in entries]
    for name in names:
        if names.count(name) > 1:
            raise ArchiveError("sw-description lists {name} twice", name=name, code=ArchiveCode.MANIFEST_INVALID)
    return tuple(entries)


def _artifact(item, where: Words) -> tuple[str, str]:
    if not isinstance(item, dict):
        raise ArchiveError("sw-description: {where} is not a group of settings", where=where, code=ArchiveCode.MANIFEST_INVALID)
    filename = item.get("filename")
    if filename is None:
        raise ArchiveError("sw-description: {where} has no filename", where=where, code=ArchiveCode.MANIFEST_INVALID)
    check_filename(filename)
    sha256 = item.get("sha256")
    if sha256 is None:
        raise ArchiveError("sw-description gives no sha256 for {name}", name=filename, code=ArchiveCode.MANIFEST_INVALID)
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ArchiveError("sw-description: sha256 of {name} is not 64 hex digits", name=filename, code=ArchiveCode.MANIFEST_INVALID)
    return filename, sha256.lower()
