"""What the panel shows about a device, a job or a rollout, computed once per request.

Pure functions over rows already loaded (no queries), so a page of 50 sites costs the same
few queries whatever it shows. Eligibility comes from the rule's code the list was annotated
with (firmware_updates/eligibility.py): the panel never decides on its own which panel may be
updated.
"""

from dataclasses import dataclass, field

from django.utils import timezone

from core.panel import percent
from sites.models import Channel, Device
from sites.services import device_is_online

from ..badges import Badge
from ..eligibility import ELIGIBLE, refusal_words
from ..errors import Refusal
from ..install_windows import window_of, window_open, window_words
from ..models import (
    TRANSFER_STATES,
    JobState,
    Release,
    Rollout,
    UpdateJob,
    is_active,
    is_cancellable,
)
from ..selectors import FirmwareStatsRow

BADGE_WORDS = {Badge.GREEN: "Current", Badge.YELLOW: "Updating", Badge.RED: "Not planned"}
CHANNEL_WORDS = dict(Channel.choices)


@dataclass
class JobView:
    job: UpdateJob
    device: Device | None = None
    online: bool | None = None

    @property
    def state(self) -> str:
        return self.job.state

    @property
    def state_label(self) -> str:
        return self.job.get_state_display()

    @property
    def percent(self) -> int:
        return self.job.progress_percent

    @property
    def shows_bytes(self) -> bool:
        return self.job.state in TRANSFER_STATES and bool(self.job.bytes_total)

    @property
    def cancellable(self) -> bool:
        return is_cancellable(self.job.state)

    @property
    def can_show_cancel(self) -> bool:
        """Cancelling is already under way: the button would only be refused."""
        return self.job.state != JobState.CANCELLING and is_active(self.job.state)

    @property
    def hint(self) -> str:
        """One line saying what the job waits for, in the seed's words."""
        state, job = self.job.state, self.job
        if state == JobState.QUEUED:
            # Seed: a device not connected starts only once it connects again.
            if self.online is False or (self.device is not None and not self.device.last_seen):
                return "The device is offline; the update starts when it connects."
            return ("Device asked to connect; waiting for it." if job.wakeup_sent_at
                    else "Waiting for the device's next connection.")
        if state == JobState.DELIVERED:
            return "The device received the command; download starting."
        if state == JobState.DOWNLOADING:
            return "Downloading in parts; resumes after interruptions."
        if state in (JobState.DOWNLOADED, JobState.READY) and self.device is not None:
            # Outside its install window the device holds the update (the DDI answer says
            # `skip`). The device's receiver and the job's rollout come loaded with the rows
            # (selectors.device_type_sites, the site page): no query per row.
            window = window_of(job, receiver=self.device.receiver)
            if not window_open(window, timezone.now()):
                ready = state == JobState.READY
                armed = ready and not self.device.any_partition_disarmed
                return (f"{'Ready for installation' if ready else 'Downloaded'}; waits for the install window "
                        f"({window_words(window)})" + (" and until a partition is disarmed." if armed else "."))
        if state == JobState.DOWNLOADED:
            return "Downloaded; the device is checking the archive."
        if state == JobState.READY:
            if self.device is not None and not self.device.any_partition_disarmed:
                return "Ready for installation; waits until a partition is disarmed."
            return "Ready for installation."
        if state == JobState.INSTALLING:
            return "Installing and restarting (about 10 seconds)."
        if state == JobState.CANCELLING:
            return "Cancel sent; waiting for the device to acknowledge."
        if state == JobState.SUCCEEDED and not job.confirmed_at:
            return "Installed; waiting for the device to report the new version."
        return job.reason


@dataclass
class SiteRow:
    device: Device
    badge: str
    online: bool
    job: JobView | None = None
    reason: str = ""
    reason_kind: str = ""  # not_eligible | last_failure | not_queued | no_release

    @property
    def site_number(self):
        return self.device.site.number if self.device.site_id else None

    @property
    def badge_label(self) -> str:
        return BADGE_WORDS[self.badge]

    @property
    def channels(self) -> list[dict]:
        return channel_list(self.device)


def channel_list(device: Device) -> list[dict]:
    return [{"code": c, "label": CHANNEL_WORDS.get(c, c), "ip": c in ("gprs", "ethernet")}
            for c in device.channels or []]


def site_row(*, device: Device, receiver, release: Release | None, job: UpdateJob | None, now=None) -> SiteRow:
    """`device` comes from selectors.device_type_sites (badge, refusal and last_job_* annotated)."""
    now = now or timezone.now()
    online = device_is_online(device=device, receiver=receiver, now=now)
    row = SiteRow(device=device, badge=device.badge, online=online,
                  job=JobView(job, device, online) if job else None)
    if row.badge != Badge.RED:
        return row
    if release is None:
        row.reason, row.reason_kind = "No current release for this device type.", "no_release"
        return row
    if device.refusal != ELIGIBLE:
        name = f"Site {row.site_number}" if row.site_number is not None else f"Device {device.serial}"
        refusal = refusal_words(device.refusal, device=device, release=release, site=name)
        row.reason, row.reason_kind = refusal.reason, "not_eligible"
    elif device.last_job_state == JobState.FAILED:
        row.reason, row.reason_kind = f"Last update failed: {device.last_job_reason or 'no reason given'}", "last_failure"
    elif device.last_job_state == JobState.CANCELLED:
        row.reason, row.reason_kind = "Last update was cancelled.", "last_failure"
    else:
        row.reason, row.reason_kind = "Not queued for update.", "not_queued"
    return row


def skipped_words(counts: dict | None) -> list[tuple[str, int]]:
    """Counts by refusal code as (short words, count), most frequent first."""
    return sorted(((Refusal.short_of(code), n) for code, n in (counts or {}).items() if n),
                  key=lambda item: -item[1])


@dataclass
class StatsView:
    """One device type's counts, with the shares the stacked bar needs."""

    row: FirmwareStatsRow

    def __getattr__(self, name):
        if name == "row":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.row, name)

    @property
    def shares(self) -> dict:
        total = self.row.total
        return {"green": percent(self.row.current, total), "yellow": percent(self.row.updating, total),
                "red": percent(self.row.not_planned, total)}

    @property
    def eligible_red(self) -> int:
        """Red sites a rollout would queue (offline ones included: they start when they connect)."""
        return self.row.not_planned - self.row.not_eligible

    @property
    def not_eligible_reasons(self) -> list[tuple[str, int]]:
        """(short reason, count) of the red a rollout would skip, most frequent first."""
        return skipped_words(self.row.not_eligible_reasons)


def empty_stats(device_type, release) -> FirmwareStatsRow:
    return FirmwareStatsRow(device_type=device_type, current_release=release, total=0, current=0, updating=0,
                            not_planned=0, not_eligible=0, offline=0)


@dataclass
class RolloutView:
    rollout: Rollout
    job_states: dict = field(default_factory=dict)  # finished jobs by state (services.rollout_outcomes)

    @property
    def open(self) -> bool:
        return self.rollout.is_open

    @property
    def examined_percent(self) -> float:
        return percent(self.rollout.processed, self.rollout.total)

    @property
    def skipped(self) -> list[tuple[str, int]]:
        return skipped_words(self.rollout.skipped)

    @property
    def skipped_total(self) -> int:
        return sum((self.rollout.skipped or {}).values())

    @property
    def succeeded(self) -> int:
        return self.job_states.get(JobState.SUCCEEDED, 0)

    @property
    def failed(self) -> int:
        return self.job_states.get(JobState.FAILED, 0)

    @property
    def cancelled(self) -> int:
        return self.job_states.get(JobState.CANCELLED, 0)

    @property
    def in_progress(self) -> int:
        return max(0, self.rollout.queued - self.succeeded - self.failed - self.cancelled)

    @property
    def done_percent(self) -> float:
        return percent(self.succeeded, self.rollout.queued)
