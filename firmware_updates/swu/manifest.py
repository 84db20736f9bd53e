"""sw-description: what an archive says it holds, read strictly and written as SWUpdate wants."""

import json
import re
from dataclasses import dataclass

from core.json import json_too_deep

from . import libconfig
from .errors import ArchiveError

DESCRIPTION_NAME = "sw-description"
SIGNATURE_NAME = "sw-description.sig"
MAX_MANIFEST_SIZE = 1024 * 1024
# Debian's swupdate 2022.12 has the raw handler in every build; in a dry run (-n) it swaps
# in its dummy handler, and a real run would write into /dev/null. See docs/swu-format.md.
IMAGE_TYPE = "raw"
IMAGE_DEVICE = "/dev/null"
# SWUpdate looks for files to install in these lists (scripts run before/after images).
ARTIFACT_LISTS = ("images", "files", "scripts")

_VERSION = re.compile(r"\d{1,6}(?:\.\d{1,6}){0,4}")
_DEVICE_TYPE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # as sites.models.code_validator
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,31}")
_FILENAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+@-]{0,127}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_LIBCONFIG_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9_]*")


@dataclass(frozen=True)
class Manifest:
    device_type: str
    version: str
    hardware_revisions: tuple[str, ...]
    description: str
    images: tuple[tuple[str, str], ...]  # (filename, sha256), in sw-description order


def parse_manifest(data: bytes) -> Manifest:
    """Read sw-description (libconfig or JSON) and check everything it promises."""
    software = _load(data).get("software")
    if not isinstance(software, dict):
        raise ArchiveError("sw-description has no 'software' section")
    board, scopes = _board_section(software)
    section = scopes[0]
    version = _lookup(scopes, "version")
    if version is None:
        raise ArchiveError("sw-description has no software version")
    check_version(version)
    revisions = _lookup(scopes, "hardware-compatibility")
    if revisions is None:
        raise ArchiveError(f"sw-description has no hardware-compatibility for board {board}")
    check_hardware_revisions(revisions)
    description = _lookup(scopes, "description") or ""
    if not isinstance(description, str):
        raise ArchiveError("sw-description: description must be a string")
    return Manifest(
        device_type=board,
        version=version,
        hardware_revisions=tuple(revisions),
        description=description,
        images=_artifacts(section),
    )


def render_manifest(
    *,
    device_type: str,
    version: str,
    hardware_revisions: list[str],
    description: str,
    images: list[tuple[str, str]],
    syntax: str = "libconfig",
) -> bytes:
    """Write sw-description for one board; `images` are (filename, sha256) pairs."""
    check_device_type(device_type)
    check_version(version)
    check_hardware_revisions(list(hardware_revisions))
    if not images:
        raise ArchiveError("an archive needs at least one image")
    seen: set[str] = set()
    entries = []
    for filename, sha256 in images:
        check_filename(filename)
        if filename in seen:
            raise ArchiveError(f"image {filename} is given twice")
        seen.add(filename)
        entries.append(
            {"filename": filename, "type": IMAGE_TYPE, "device": IMAGE_DEVICE, "sha256": sha256}
        )
    software: dict = {"version": version}
    if description:
        software["description"] = description
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
            f"device type {device_type} cannot be a libconfig name (it must start with a letter); "
            "use JSON syntax"
        )
    return libconfig.dumps({"software": software}).encode()


def check_version(version) -> None:
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ArchiveError(
            f"software version {version!r} is malformed: expected numbers separated by dots, "
            "e.g. 5.40",
            field="version",
        )


def check_device_type(name) -> None:
    if not isinstance(name, str) or not _DEVICE_TYPE.fullmatch(name):
        raise ArchiveError(
            f"board name {name!r} is not a device type code "
            "(lower-case letters, digits, '-' and '_')",
            field="device_type",
        )


def check_hardware_revisions(revisions) -> None:
    if not isinstance(revisions, list) or not revisions:
        raise ArchiveError("hardware-compatibility must list at least one hardware revision")
    for revision in revisions:
        if not isinstance(revision, str) or not _REVISION.fullmatch(revision):
            raise ArchiveError(
                f"hardware revision {revision!r} is malformed "
                "(letters, digits, '.', '-', '_' and '+' only)"
            )
    if len(set(revisions)) != len(revisions):
        raise ArchiveError("hardware-compatibility lists a revision twice")


def check_filename(name) -> None:
    """Refuse anything but a plain file name: no directories, no backslashes, no NULs."""
    if not isinstance(name, str) or not _FILENAME.fullmatch(name):
        raise ArchiveError(
            f"file name {name!r} is not allowed: use a plain name (letters, digits, '.', '-', "
            "'_', '+', '@') without directories"
        )
    if name in (DESCRIPTION_NAME, SIGNATURE_NAME):
        raise ArchiveError(f"an image cannot be called {name}")


def _load(data: bytes) -> dict:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArchiveError(f"sw-description is not UTF-8 text (byte {exc.start})") from None
    if "\x00" in text:
        raise ArchiveError("sw-description contains a NUL byte")
    if text.lstrip().startswith(
        "{"
    ):  # libconfig cannot start with '{': SWUpdate tells them apart the same way
        return _load_json(text)
    try:
        return libconfig.loads(text)
    except libconfig.ParseError as exc:
        raise ArchiveError(f"sw-description is not valid libconfig: {exc}") from None


def _load_json(text: str) -> dict:
    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("a key appears twice in one object")
        return dict(pairs)

    def no_constants(name):
        raise ValueError(f"{name} is not JSON")

    if json_too_deep(text, limit=libconfig.MAX_DEPTH):
        raise ArchiveError(f"sw-description is nested more than {libconfig.MAX_DEPTH} levels deep")
    try:
        document = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise ArchiveError(
            f"sw-description is not valid JSON: line {exc.lineno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise ArchiveError(f"sw-description is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ArchiveError("sw-description is not valid JSON: the top level must be an object")
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
                "device type, e.g. software.nord-gsm.images"
            )
        raise ArchiveError("sw-description has no board section with images")
    boards = sorted({name for name, _ in found})
    if len(boards) > 1:
        raise ArchiveError(
            f"sw-description has several board sections ({', '.join(boards)}); "
            "an archive must be for one device type"
        )
    if len(found) > 1:
        raise ArchiveError(
            f"sw-description for {boards[0]} has several software collections; "
            "only one set of images is supported"
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


def _artifacts(section: dict) -> tuple[tuple[str, str], ...]:
    entries = []
    for list_name in ARTIFACT_LISTS:
        items = section.get(list_name, [])
        if not isinstance(items, list):
            raise ArchiveError(f"sw-description: {list_name} must be a list")
        for index, item in enumerate(items, 1):
            entries.append(_artifact(item, f"{list_name[:-1]} {index}"))
    if not section.get("images"):
        raise ArchiveError("sw-description lists no images")
    names = [name for name, _ in entries]
    for name in names:
        if names.count(name) > 1:
            raise ArchiveError(f"sw-description lists {name} twice")
    return tuple(entries)


def _artifact(item, where: str) -> tuple[str, str]:
    if not isinstance(item, dict):
        raise ArchiveError(f"sw-description: {where} is not a group of settings")
    filename = item.get("filename")
    if filename is None:
        raise ArchiveError(f"sw-description: {where} has no filename")
    check_filename(filename)
    sha256 = item.get("sha256")
    if sha256 is None:
        raise ArchiveError(f"sw-description gives no sha256 for {filename}")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ArchiveError(f"sw-description: sha256 of {filename} is not 64 hex digits")
    return filename, sha256.lower()
