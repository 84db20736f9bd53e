"""Firmware version numbers, compared numerically segment by segment ("5.40" > "5.8").

Versions are stored twice: as the device or vendor wrote them, and as a sort key in which
every segment is zero-padded, so the database can compare them with plain `<` / `>`.
"""

from django.core.exceptions import ValidationError

from core.versions import is_version

SEGMENT_WIDTH = 6


def version_validate(value: str) -> None:
    if not is_version(value):
        raise ValidationError(
            f"{value!r} is not a firmware version: use numbers separated by dots, e.g. 5.40.",
            code="invalid_version",
        )


def version_tuple(value: str) -> tuple[int, ...]:
    version_validate(value)
    return tuple(int(part) for part in value.split("."))


def version_key(value: str) -> str:
    """Sort key: "5.40" -> "000005.000040". Unknown or malformed versions sort first."""
    if not is_version(value):
        return ""
    return ".".join(part.zfill(SEGMENT_WIDTH) for part in value.split("."))
