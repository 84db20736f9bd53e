"""SWUpdate archives (.swu): inspect, build and sign them. Pure Python, no Django.

Used by release intake, the fleet simulator and vendors (`python -m firmware_updates.swu`).
The format and what Debian's swupdate requires are in docs/swu-format.md.
"""

from .archive import (
    DEFAULT_MAX_SIZE,
    ArchiveInfo,
    ImageInfo,
    build_archive,
    inspect_archive,
    verify_image_for_device,
)
from .errors import ArchiveError, ArchiveTooLarge
from .signing import make_signing_identity

__all__ = [
    "DEFAULT_MAX_SIZE",
    "ArchiveError",
    "ArchiveInfo",
    "ArchiveTooLarge",
    "ImageInfo",
    "build_archive",
    "inspect_archive",
    "make_signing_identity",
    "verify_image_for_device",
]
