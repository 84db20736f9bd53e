"""Which archive a panel is sent: the one rule, asked when it first reads its action
(`services.job_deployment_fetched`), by the rollout preview and by the device type page.

A panel whose reported version is the base of one of the release's deltas gets that delta;
any other panel the full archive. Once a delta install failed for a panel, its next attempt
at the same release gets the full archive by itself: the delta may have met an image that
is not what the panel reports (flashed on site), and the full archive needs no base.
"""

from dataclasses import dataclass

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


def delta_failed_before(release: Release) -> Exists:
    """An expression: the device (OuterRef pk) had a delta of `release` fail, so it is sent
    the full archive."""
    return Exists(UpdateJob.objects.filter(device_id=OuterRef("pk"), release_id=release.pk, state=JobState.FAILED,
                                           delta__isnull=False))


@dataclass(frozen=True)
class TransferEstimate:
    """What updating some panels to `release` sends: per archive, how many panels and bytes."""

    release: Release
    panels: int
    delta_panels: int
    delta_bytes: int  # all the deltas sent, together
    largest_delta: int  # the largest delta a panel gets (0: none)

    @property
    def full_panels(self) -> int:
        return self.panels - self.delta_panels

    @property
    def bytes(self) -> int:
        return self.delta_bytes + self.full_panels * self.release.size

    @property
    def bytes_without_deltas(self) -> int:
        return self.panels * self.release.size

    @property
    def gprs_seconds_full(self) -> float:
        """One panel's download of the full archive on GPRS (FIRMWARE_GPRS_BYTES_PER_SECOND)."""
        return self.release.size / settings.FIRMWARE_GPRS_BYTES_PER_SECOND

    @property
    def gprs_seconds_delta(self) -> float:
        return self.largest_delta / settings.FIRMWARE_GPRS_BYTES_PER_SECOND


def transfer_estimate(*, release: Release, rows: list[tuple[int | None, bool, int]]) -> TransferEstimate:
    """`rows`: (size of the release's delta from the panels' version or None, a delta failed
    for them before, panel count) of the panels to update; each gets what `delta_for` would
    give it."""
    panels = delta_panels = delta_bytes = largest = 0
    for delta_size, failed_before, count in rows:
        panels += count
        if delta_size is not None and not failed_before:
            delta_panels += count
            delta_bytes += count * delta_size
            largest = max(largest, delta_size)
    return TransferEstimate(release=release, panels=panels, delta_panels=delta_panels, delta_bytes=delta_bytes,
                            largest_delta=largest)
