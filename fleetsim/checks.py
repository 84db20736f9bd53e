"""The panel's archive check: "integrity and suitability for this device type and board".

The archive format is the project's pure library `firmware_updates.swu` (no Django), the
same code the server runs at upload; the panel repeats the check because a device must
never trust what arrived over the air.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from .state import Artifact

MAX_ARCHIVE = 64 * 1024 * 1024


@dataclass(frozen=True)
class Checked:
    version: str  # the firmware version the archive installs
    image: bytes | None  # what the panel will run (None: an archive of several images)
    delta_from: str | None = None  # a delta: the version it patched


class CheckFailed(Exception):
    """The downloaded archive must not be installed; str() is the reason for the server."""


def check_archive(data: bytes, artifact: Artifact, *, device_type: str, hardware_revision: str,
                  trusted_certs_pem: bytes | None = None, base_image: bytes | None = None) -> Checked:
    """Check a complete download; returns the firmware version it installs and the image the
    panel will run.

    Order: size and the file hashes from deploymentBase, then the archive itself (every
    image's sha256, decompressed when compressed; the signature when the panel trusts
    certificates), then device type and board revision. A delta is then applied for real to
    `base_image`, the image the panel runs: refused unless that is the base the delta names
    (sha256), and the patched image must have the sha256 the delta names.
    """
    # Imported here: the library is the only project code fleetsim may use, and keeping the
    # import local keeps `import fleetsim` cheap for the CLI's --help.
    from firmware_updates import swu

    if len(data) != artifact.size:
        raise CheckFailed(f"downloaded {len(data)} bytes, deploymentBase announced {artifact.size}")
    for name in ("sha256", "sha1", "md5"):
        expected = (artifact.hashes or {}).get(name)
        if expected and hashlib.new(name, data).hexdigest() != expected.lower():
            raise CheckFailed(f"{name} of the downloaded file does not match deploymentBase "
                              f"(expected {expected})")
    try:
        info, image = swu.read_archive_image(io.BytesIO(data), max_size=MAX_ARCHIVE,
                                             trusted_certs_pem=trusted_certs_pem)
        if trusted_certs_pem and not info.signed:
            raise CheckFailed("the archive is not signed and this panel requires a signature")
        swu.verify_image_for_device(info, device_type=device_type,
                                    hardware_revision=hardware_revision)
        if info.delta is not None:
            if base_image is None:
                raise CheckFailed(f"the delta patches {info.delta.base_version}, and this panel holds no "
                                  "image to patch")
            image = swu.apply_archive_delta(info, image, base_image)
    except swu.ArchiveError as exc:
        raise CheckFailed(str(exc)) from exc
    return Checked(info.version, image, info.delta.base_version if info.delta else None)
