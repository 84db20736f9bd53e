"""Which archive a panel is sent: the one rule, asked when it first reads its action
(`services.job_deployment_fetched`), by the rollout preview and by the device type page.

A panel whose reported version is the base of one of the release's deltas gets that delta;
any other panel the full archive. Once a delta install failed for a panel, its next attempt
at the same release gets the full archive by itself: the delta may have met an image that
is not what the panel reports (flashed on site), and the full archive needs no base.
"""

from django.conf import settings
from django.db.models import Exists, OuterRef

from .models import JobState, Release, ReleaseDelta, UpdateJob


def delta_for(*, job: UpdateJob, firmware_version: str) -> ReleaseDelta | None:
    """The delta `job`'s device is sent, or None for the full archive."""
    if not firmware_version:
        return None
    delta = ReleaseDelta.objects.filter(release_id=job.release_id, base_version=firmware_version).first()
    if delta is None:
        return None
    if UpdateJob.objects.filter(device_id=job.device_id, release_id=job.release_id, state=JobState.FAILED,
                                delta__isnull=False).exists():
        return None
    return delta


def delta_failed_before(release: Release):
    """An expression: the device had a delta of `release` fail (so it is sent the full archive)."""
    return Exists(UpdateJob.objects.filter(device_id=OuterRef("pk"), release_id=release.pk, state=JobState.FAILED,
                                           delta__isnull=False))


def transfer_estimate(*, release: Release, versions: dict[str, int], full_fallbacks: int = 0) -> dict:
    """What updating panels running `versions` ({version: count}) to `release` sends, and how
    long it takes one panel on a GPRS link: {"panels", "bytes", "full_bytes", "delta_panels",
    "gprs_seconds_full", "gprs_seconds_delta"}. `full_fallbacks` of them get the full
    archive whatever they run (a delta failed for them before)."""
    sizes = dict(ReleaseDelta.objects.filter(release=release).values_list("base_version", "size"))
    panels = sum(versions.values())
    delta_panels = sum(count for version, count in versions.items() if version in sizes)
    delta_panels = max(0, delta_panels - full_fallbacks)
    delta_bytes = 0
    remaining_fallbacks = full_fallbacks
    for version, count in sorted(versions.items()):
        if version in sizes:
            taken = min(count, remaining_fallbacks)
            remaining_fallbacks -= taken
            delta_bytes += (count - taken) * sizes[version]
    full_panels = panels - delta_panels
    rate = settings.FIRMWARE_GPRS_BYTES_PER_SECOND
    typical_delta = max(sizes.values()) if sizes else None
    return {
        "panels": panels,
        "delta_panels": delta_panels,
        "bytes": delta_bytes + full_panels * release.size,
        "full_bytes": panels * release.size,
        "gprs_seconds_full": release.size / rate,
        "gprs_seconds_delta": typical_delta / rate if typical_delta is not None else None,
    }
