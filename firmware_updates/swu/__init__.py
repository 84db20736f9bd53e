"""SWUpdate archives (.swu): inspect, build and sign them. Pure Python, no Django.

Used by release intake, the fleet simulator and vendors (`python -m firmware_updates.swu`).
The format and what Debian's swupdate requires are in docs/swu-format.md.
"""

from . import rdiff
from .archive import (
    DEFAULT_MAX_IMAGE_SIZE,
    DEFAULT_MAX_SIZE,
    ArchiveInfo,
    ImageInfo,
    apply_archive_delta,
    build_archive,
    build_delta_archive,
    inspect_archive,
    read_archive_image,
    verify_image_for_device,
)
from .errors import ArchiveCode, ArchiveError, ArchiveTooLarge, Words
from .manifest import DeltaSpec
from .signing import make_signing_identity

__all__ = [
    "DEFAULT_MAX_IMAGE_SIZE",
    "DEFAULT_MAX_SIZE",
    "ArchiveCode",
    "ArchiveError",
    "ArchiveInfo",
    "ArchiveTooLarge",
    "DeltaSpec",
    "ImageInfo",
    "apply_archive_delta",
    "build_archive",
    "build_delta_archive",
    "inspect_archive",
    "make_signing_identity",
    "rdiff",
    "read_archive_image",
    "verify_image_for_device",
    "Words",
]
