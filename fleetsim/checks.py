"""The panel's archive check: "integrity and suitability for this device type and board".

The archive format is the project's pure library `firmware_updates.swu` (no Django), the
same code the server runs at upload; the panel repeats the check because a device must
never trust what arrived over the air.
"""

from __future__ import annotations

import hashlib
import io

from .state import Artifact

MAX_ARCHIVE = 64 * 1024 * 1024


class CheckFailed(Exception):
    """The downloaded archive must not be installed; str() is the reason for the server."""


def check_archive(data: bytes, artifact: Artifact, *, device_type: str, hardware_revision: str,
                  trusted_certs_pem: bytes | None = None) -> str:
    """Check a complete download; returns the firmware version it installs.

    Order: size and the file hashes from deploymentBase, then the archive itself (every
    image's sha256, the signature when the panel trusts certificates), then device type and
    board revision.
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
        info = swu.inspect_archive(io.BytesIO(data), max_size=MAX_ARCHIVE,
                                   trusted_certs_pem=trusted_certs_pem)
        if trusted_certs_pem and not info.signed:
            raise CheckFailed("the archive is not signed and this panel requires a signature")
        swu.verify_image_for_device(info, device_type=device_type,
                                    hardware_revision=hardware_revision)
    except swu.ArchiveError as exc:
        raise CheckFailed(str(exc)) from exc
    return info.version
