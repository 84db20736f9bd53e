"""What the panel shows about a device, a job or a rollout, computed once per request.

Pure functions over rows already loaded (no queries), so a page of 50 sites costs the same
few queries whatever it shows. Eligibility comes from the rule's code the list was annotated
with (firmware_updates/eligibility.py): the panel never decides on its own which panel may be
updated.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext_lazy
from django.utils.translation import gettext as _

from core.panel import duration_words, percent
from sites.models import IP_CHANNELS, Channel, Device
from sites.services import device_is_online

from ..badges import Badge
from ..eligibility import (
    ELIGIBLE,
    LAST_CANCELLED,
    LAST_FAILED,
    NOT_QUEUED,
    OFFLINE,
    RED_REASON_HELP,
    RED_REASON_WORDS,
    RED_REASONS,
    red_reason_of,
    refusal_of,
    refusal_words,
)
from ..errors import Refusal, no_current_release, panel_name, site_name
from ..install_windows import window_of, window_open, window_words
from ..models import (
    TRANSFER_STATES,
    JobState,
    Release,
    Rollout,
    RolloutEvent,
    RolloutWave,
    UpdateJob,
    is_active,
    is_awaiting_approval,
    is_cancellable,
)
from ..selectors import FirmwareStatsRow
from ..services.rollouts import plan_waves
from ..stored_words import stored_words, value_words

BADGE_WORDS = {Badge.GREEN: pgettext_lazy("badge", "Current"), Badge.YELLOW: pgettext_lazy("badge", "Updating"),
               Badge.RED: pgettext_lazy("badge", "Not planned")}
CHANNEL_WORDS = dict(Channel.choices)
# Lazy labels, translated when shown: get_state_display() rebuilds its choices on each call
# (the device type page asks it for every row's job).
JOB_STATE_WORDS = dict(JobState.choices)


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
        return str(JOB_STATE_WORDS.get(self.job.state, self.job.state))

    @property
    def percent(self) -> int:
        return self.job.progress_percent

    @property
    def shows_bytes(self) -> bool:
        return self.job.state in TRANSFER_STATES and bool(self.job.bytes_total)

    @property
    def rate_words(self) -> str:
        """Speed and expected time left while downloading, from the bytes the panel confirmed
        (services.job_progress_overlay); or how long nothing was confirmed."""
        job = self.job
        if job.state != JobState.DOWNLOADING or not job.bytes_total:
            return ""
        rate, quiet = getattr(job, "download_rate", None), getattr(job, "download_quiet", None)
        if quiet is not None and quiet >= STALLED_AFTER:
            return gettext("Nothing confirmed for %(time)s.") % {"time": rough_duration(quiet)}
        if not rate or rate <= 0:
            return ""
        left = max(0, job.bytes_total - job.bytes_downloaded) / rate
        speed = filesizeformat(int(rate))
        if left < 60:
            return gettext("%(speed)s/s · less than a minute left") % {"speed": speed}
        return gettext("%(speed)s/s · about %(left)s left") % {"speed": speed, "left": rough_duration(left)}

    @property
    def cancellable(self) -> bool:
        return is_cancellable(self.job.state)

    @property
    def sent_kind(self) -> str:
        """"delta" or "full" once the panel read its action (the archive is chosen then)."""
        if self.job.state == JobState.QUEUED:
            return ""
        return "delta" if self.job.delta_id else "full"

    @property
    def sent(self) -> str:
        """Which archive the panel is sent, in words (no query: the delta's size is the job's total)."""
        if self.sent_kind == "delta":
            return _("delta, %(size)s instead of %(full)s") % {
                "size": filesizeformat(self.job.bytes_total), "full": filesizeformat(self.job.release.size)}
        if self.sent_kind == "full":
            return _("full archive")
        return ""

    @property
    def can_show_cancel(self) -> bool:
        """Cancelling is already under way: the button would only be refused."""
        return self.job.state != JobState.CANCELLING and is_active(self.job.state)

    @property
    def awaiting_approval(self) -> bool:
        return is_awaiting_approval(self.job.state)

    def _install_waits(self) -> list[str]:
        """What the panel, holding the checked update, still waits for before it installs,
        as it last reported itself: a disarmed partition (the seed), mains power and a
        charged battery (issue 14; a panel that never reported its power is not held back)."""
        device = self.device
        if device is None:
            return []
        waits = [] if device.any_partition_disarmed else [_("until a partition is disarmed")]
        if device.on_battery:
            waits.append(_("for mains power"))
        if device.battery_low:
            waits.append(_("for the battery to charge"))
        return waits

    @property
    def hint(self) -> str:
        """One line saying what the job waits for, in the seed's words."""
        state, job = self.job.state, self.job
        if state == JobState.AWAITING_APPROVAL:
            return _("The site asks for approval: the update waits until an operator allowed to approve "
                     "approves it.")
        if state == JobState.QUEUED:
            # Seed: a device not connected starts only once it connects again.
            if self.online is False or (self.device is not None and not self.device.last_seen):
                return _("The device is offline; the update starts when it connects.")
            return (_("Device asked to connect; waiting for it.") if job.wakeup_sent_at
                    else _("Waiting for the device's next connection."))
        if state == JobState.DELIVERED:
            return _("The device received the command; download starting.")
        if state == JobState.DOWNLOADING:
            return _("Downloading in parts; resumes after interruptions.")
        if state in (JobState.DOWNLOADED, JobState.READY) and self.device is not None:
            # Outside its install window the device holds the update (the DDI answer says
            # `skip`). The device's receiver and the job's rollout come loaded with the rows
            # (selectors.device_type_sites, the site page): no query per row.
            window = window_of(job, receiver=self.device.receiver)
            if not window_open(window, timezone.now()):
                ready = state == JobState.READY
                waits = [_("for the install window ({window})").format(window=window_words(window)),
                         *(self._install_waits() if ready else [])]
                return (_("Ready for installation; waits {waits}.") if ready
                        else _("Downloaded; waits {waits}.")).format(waits=_(" and ").join(waits))
        if state == JobState.DOWNLOADED:
            return _("Downloaded; the device is checking the archive.")
        if state == JobState.READY:
            if waits := self._install_waits():
                return _("Ready for installation; waits {waits}.").format(waits=_(" and ").join(waits))
            return _("Ready for installation.")
        if state == JobState.INSTALLING:
            return _("Installing and restarting (about 10 seconds).")
        if state == JobState.CANCELLING:
            return _("Cancel sent; waiting for the device to acknowledge.")
        if state == JobState.SUCCEEDED and not job.confirmed_at:
            return _("Installed; waiting for the device to report the new version.")
        return stored_words(job.reason)


STALLED_AFTER = 60  # seconds without a confirmed byte: the row says so rather than a speed


def rough_duration(seconds: float) -> str:
    """"4 min", "2 h 10 min": a time as an estimate is said, to the minute (at least one)."""
    return duration_words(timedelta(minutes=max(1, round(seconds / 60))))


@dataclass
class SiteRow:
    device: Device
    badge: str
    online: bool
    job: JobView | None = None
    reason: str = ""
    reason_kind: str = ""  # not_eligible | offline | last_failure | not_queued | no_release
    red_reason: str = ""  # the red breakdown's code (eligibility.RED_REASONS), "" unless red

    @property
    def site_number(self):
        return self.device.site.number if self.device.site_id else None

    @property
    def channels(self) -> list[dict]:
        return channel_list(self.device)


def channel_list(device: Device) -> list[dict]:
    return [{"code": c, "label": CHANNEL_WORDS.get(c, c), "ip": c in IP_CHANNELS}
            for c in device.channels or []]


def site_row(*, device: Device, receiver, release: Release | None, job: UpdateJob | None, now=None) -> SiteRow:
    """`device` comes from selectors.device_type_sites (badge, verdict and last_job_*
    annotated). A red row's reason is its reason in the red breakdown
    (eligibility.RED_REASONS), in the words of one site."""
    now = now or timezone.now()
    online = device_is_online(device=device, receiver=receiver, now=now)
    row = SiteRow(device=device, badge=device.badge, online=online,
                  job=JobView(job, device, online) if job else None, red_reason=red_reason_of(device.verdict))
    if row.badge != Badge.RED:
        return row
    if release is None:
        row.reason, row.reason_kind = no_current_release(device.device_type).reason, "no_release"
        return row
    reason, refusal_code = red_reason_of(device.verdict), refusal_of(device.verdict)
    if refusal_code != ELIGIBLE:
        name = site_name(row.site_number) if row.site_number is not None else panel_name(device.serial)
        refusal = refusal_words(refusal_code, device=device, release=release, site=name)
        row.reason, row.reason_kind = refusal.reason, "not_eligible"
    elif reason == OFFLINE:
        # Counted as offline (the breakdown's order); how its last update ended is still said.
        row.reason, row.reason_kind = gettext("Offline: an update queued now starts when it connects."), "offline"
        if last := last_update_words(device):
            row.reason = f"{row.reason} {last}"
    elif reason in (LAST_FAILED, LAST_CANCELLED):
        row.reason, row.reason_kind = last_update_words(device), "last_failure"
    else:
        row.reason, row.reason_kind = gettext("Not queued for update."), "not_queued"
    return row


def last_update_words(device) -> str:
    """How the device's last update ended, if it failed or was cancelled ("" otherwise)."""
    if device.last_job_state == JobState.FAILED:
        return gettext("Last update failed: {reason}").format(
            reason=stored_words(device.last_job_reason) if device.last_job_reason else gettext("no reason given"))
    if device.last_job_state == JobState.CANCELLED:
        return cancelled_words(device.last_job_received, device.last_job_size)
    return ""


def cancelled_words(received: int | None, size: int | None) -> str:
    """What a cancelled update had received: what the device confirmed, not the plan."""
    if not received:
        return gettext("Last update was cancelled before any byte was received.")
    if size and received >= size:
        return gettext("Last update was cancelled; the whole file (%(size)s) had been received.") % {
            "size": filesizeformat(size)}
    return gettext("Last update was cancelled after %(received)s of %(size)s were received.") % {
        "received": filesizeformat(received), "size": filesizeformat(size or 0)}


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
    def no_release(self) -> str:
        """What the update-all dialog says when the type has no current release ("" if it has)."""
        return "" if self.row.current_release else no_current_release(self.row.device_type).reason

    @property
    def eligible_red(self) -> int:
        """Red sites a rollout would queue (offline ones included: they start when they connect)."""
        return self.row.not_planned - self.row.not_eligible

    @property
    def not_eligible_reasons(self) -> list[tuple[str, int]]:
        """(short reason, count) of the red a rollout would skip, most frequent first."""
        return skipped_words(self.row.not_eligible_reasons)

    @property
    def not_eligible_breakdown(self) -> list[tuple[str, str, int]]:
        """(code, short reason, count) of the red that may not be queued, most frequent first:
        the device type page's "of which" (a forbidding site says so here)."""
        counts = self.row.not_eligible_reasons or {}
        return sorted(((code, Refusal.short_of(code), n) for code, n in counts.items() if n), key=lambda r: -r[2])
    def red_breakdown(self) -> list[dict]:
        """The red by reason, each site once (eligibility.RED_REASONS, in that order): the
        legend's lines, those with sites only; their counts add up to `not_planned`."""
        return [{"code": code, "label": RED_REASON_WORDS[code], "help": RED_REASON_HELP[code],
                 "count": self.row.red_reasons[code]}
                for code in RED_REASONS if self.row.red_reasons.get(code)]

    def red_count(self, *codes) -> int:
        return sum(self.row.red_reasons.get(code, 0) for code in codes)

    @property
    def last_failed(self) -> int:
        return self.red_count(LAST_FAILED)

    @property
    def last_cancelled(self) -> int:
        return self.red_count(LAST_CANCELLED)

    @property
    def not_queued(self) -> int:
        return self.red_count(NOT_QUEUED)

    @property
    def wave_plan(self) -> str:
        """The default waves "Update all sites" would run, in words."""
        return wave_plan_words(self.eligible_red)


def _sites(n: int) -> str:
    return ngettext("{n} site", "{n} sites", n).format(n=n)


def wave_plan_words(eligible: int) -> str:
    """"Wave 1 (canary): 1 site, wave 2: 5 sites, wave 3: the remaining 50": the default waves
    of a rollout of `eligible` sites (services.rollouts.plan_waves)."""
    if eligible <= 0:
        return ""
    targets = plan_waves(eligible=eligible)
    if len(targets) == 1:
        return ngettext("One wave: all {n} site", "One wave: all {n} sites", eligible).format(n=eligible)
    parts, previous = [], 0
    for number, target in enumerate(targets, start=1):
        name = _("Wave 1 (canary)") if number == 1 else _("wave {number}").format(number=number)
        if target:
            parts.append(_("{wave}: {sites}").format(wave=name, sites=_sites(target - previous)))
        else:
            parts.append(_("{wave}: the remaining {n}").format(wave=name, n=eligible - previous))
        previous = target or eligible
    return ", ".join(parts)


def _gprs_time(seconds: float) -> str:
    return duration_words(timedelta(seconds=max(1, round(seconds))))


@dataclass
class TransferView:
    """What a rollout sends (selectors.rollout_transfer), in an operator's words: the bytes,
    full archives against deltas, and one panel's expected download time on GPRS."""

    estimate: object  # deltas.TransferEstimate

    def __getattr__(self, name):
        if name == "estimate":
            raise AttributeError(name)
        return getattr(self.estimate, name)

    @property
    def summary(self) -> str:
        e = self.estimate
        if not e.panels:
            return ""
        if not e.delta_panels:
            return _("The rollout sends %(bytes)s: the full archive to each panel.") % {"bytes": filesizeformat(e.bytes)}
        return _("The rollout sends %(bytes)s instead of %(full)s: deltas save %(saved)d %% of the bytes.") % {
            "bytes": filesizeformat(e.bytes), "full": filesizeformat(e.bytes_without_deltas),
            "saved": round(100 - e.bytes * 100 / e.bytes_without_deltas) if e.bytes_without_deltas else 0}

    @property
    def lines(self) -> list[str]:
        e = self.estimate
        lines = []
        if e.delta_panels:
            lines.append(ngettext(
                "%(count)d panel gets a delta of at most %(size)s: about %(time)s on GPRS.",
                "%(count)d panels get a delta of at most %(size)s: about %(time)s each on GPRS.",
                e.delta_panels) % {"count": e.delta_panels, "size": filesizeformat(e.largest_delta),
                                   "time": _gprs_time(e.gprs_seconds_delta)})
        if e.full_panels:
            lines.append(ngettext(
                "%(count)d panel gets the full archive of %(size)s: about %(time)s on GPRS.",
                "%(count)d panels get the full archive of %(size)s: about %(time)s each on GPRS.",
                e.full_panels) % {"count": e.full_panels, "size": filesizeformat(e.release.size),
                                  "time": _gprs_time(e.gprs_seconds_full)})
        return lines


def empty_stats(device_type, release) -> FirmwareStatsRow:
    return FirmwareStatsRow(device_type=device_type, current_release=release, total=0, current=0, updating=0,
                            not_planned=0, not_eligible=0, offline=0)


# The operator's controls of a rollout, as the card offers them and the confirmation asks:
# (button on the card, dialog title, question, confirm button). The question is filled in
# with RolloutView.words.
CONTROLS = {
    "pause": (gettext_lazy("Pause..."), gettext_lazy("Pause the rollout"),
              gettext_lazy("Pause rollout #{id}? No further site is queued until it is resumed; updates already "
                "under way go on."), gettext_lazy("Pause")),
    "resume": (gettext_lazy("Resume..."), gettext_lazy("Resume the rollout"),
               gettext_lazy("Resume rollout #{id}? Wave {current} goes on, its failures so far accepted; if that wave "
                 "is over, the next one starts."), gettext_lazy("Resume")),
    "advance": (gettext_lazy("Start next wave now..."), gettext_lazy("Start the next wave now"),
                gettext_lazy("Start wave {next} of {count} ({next_size}) now, without waiting for the result of "
                  "wave {current}?"), gettext_lazy("Start wave {next}")),
    "stop": (gettext_lazy("Stop..."), gettext_lazy("Stop the rollout"),
             gettext_lazy("Stop rollout #{id}? Its updates that have not been downloaded yet are cancelled (a device "
               "downloading is told at its next connection); those already downloaded finish. A stopped "
               "rollout cannot be resumed."), gettext_lazy("Stop rollout")),
    "retry": (gettext_lazy("Retry failed sites..."), gettext_lazy("Retry the failed sites"),
              gettext_lazy("Start a new rollout of the {failed_sites} whose update failed or timed out in rollout "
                "#{id}, with the same conditions?"), gettext_lazy("Retry failed sites")),
}
# Resuming after a wave that succeeded (an approval) starts the next one.
RESUME_APPROVED = gettext_lazy("Resume rollout #{id}? Wave {next} of {count} ({next_size}) starts now.")
DANGEROUS_CONTROLS = {"stop"}


@dataclass
class RolloutControl:
    action: str
    url: str
    label: str
    title: str
    question: str
    button: str

    @property
    def danger(self) -> bool:
        return self.action in DANGEROUS_CONTROLS


@dataclass
class RolloutView:
    rollout: Rollout
    job_states: dict = field(default_factory=dict)  # finished jobs by state (services.rollout_outcomes)
    waves: list[RolloutWave] = field(default_factory=list)  # with succeeded/failed (selectors.waves_of)
    events: list[RolloutEvent] = field(default_factory=list)  # oldest first (selectors.history_of)

    @property
    def open(self) -> bool:
        return self.rollout.is_open

    @property
    def state_label(self) -> str:
        return self.rollout.get_state_display()

    @property
    def state_detail(self) -> str:
        """What the state label alone does not say: which wave, why paused. The card shows
        "<label> — <detail>": "Running — wave 2 of 3", "Paused — <reason>", "Completed"."""
        r = self.rollout
        if r.state == Rollout.State.RUNNING and r.current_wave:
            return _("wave {current} of {count}").format(current=r.current_wave, count=len(self.waves))
        if r.state == Rollout.State.PAUSED:
            return stored_words(r.paused_reason)
        if r.state == Rollout.State.PENDING:
            return _("queueing its first wave")
        return ""

    @property
    def conditions(self) -> str:
        """When the next wave starts and when the rollout pauses by itself, in words."""
        r = self.rollout
        # xgettext:no-python-format
        parts = [_("Next wave once {percent} % of a wave is confirmed").format(percent=r.success_threshold_percent)]
        limits = [f"{r.error_threshold_percent} %" if r.error_threshold_percent is not None else "",
                  str(r.error_threshold_count) if r.error_threshold_count is not None else ""]
        if any(limits):
            parts.append(ngettext("pauses when more than {limit} of a wave's finished updates fail (once {min} has "
                                  "finished)",
                                  "pauses when more than {limit} of a wave's finished updates fail (once {min} have "
                                  "finished)", r.error_threshold_min)
                         .format(limit=_(" or ").join(x for x in limits if x), min=r.error_threshold_min))
        if r.approve_each_wave:
            parts.append(_("asks for approval after each wave"))
        if r.install_window_start is not None:
            parts.append(_("installs only between {start} and {end}").format(
                start=f"{r.install_window_start:%H:%M}", end=f"{r.install_window_end:%H:%M}"))
        return "; ".join(parts) + "."

    @property
    def next_wave(self) -> RolloutWave | None:
        return next((w for w in self.waves if w.number == self.rollout.current_wave + 1), None)

    @property
    def failed_sites(self) -> int:
        """Sites whose update failed or timed out (what "Retry failed sites" takes)."""
        return sum(w.failed for w in self.waves)

    @property
    def started_at(self):
        return self.rollout.started_at or self.rollout.created_at

    @property
    def duration(self) -> str:
        end = self.rollout.finished_at or timezone.now()
        return duration_words(max(end - self.started_at, timedelta(0)))

    @property
    def available_controls(self) -> list[str]:
        """What may be asked of the rollout in its state (the services decide in the end)."""
        state = self.rollout.state
        if state in (Rollout.State.PENDING, Rollout.State.RUNNING):
            actions = ["pause"]
        elif state == Rollout.State.PAUSED:
            actions = ["resume"]
        else:
            return ["retry"] if self.failed_sites else []
        if self.next_wave is not None and state != Rollout.State.PENDING:
            actions.append("advance")
        return [*actions, "stop"]

    def words(self) -> dict:
        following = self.next_wave
        return {"id": self.rollout.pk, "current": self.rollout.current_wave or 1, "count": len(self.waves),
                "next": following.number if following else "", "next_size": _sites(following.size) if following else "",
                "failed_sites": _sites(self.failed_sites)}

    def control(self, action: str) -> RolloutControl:
        label, title, question, button = CONTROLS[action]
        current = next((w for w in self.waves if w.number == self.rollout.current_wave), None)
        approved = current is not None and current.state == RolloutWave.State.SUCCEEDED
        if action == "resume" and approved and self.next_wave is not None:
            question = RESUME_APPROVED
        words = self.words()
        r = self.rollout
        url = reverse(f"rollout-{action}", kwargs={"code": r.receiver.code, "device_type_code": r.device_type.code,
                                                   "rollout_id": r.pk})
        return RolloutControl(action=action, url=url, label=str(label), title=str(title),
                              question=str(question).format(**words), button=str(button).format(**words))

    @property
    def controls(self) -> list[RolloutControl]:
        return [self.control(action) for action in self.available_controls]

    @property
    def history(self) -> list[dict]:
        return [{"event": e, "words": event_words(e), "actor": actor_words(e)} for e in self.events]

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


def actor_words(event) -> str:
    """Who did it: the operator's name as recorded, or the server or the panel in words."""
    return value_words(event.actor_label) if event.actor_id is None else event.actor_label


def event_words(event: RolloutEvent) -> str:
    """A rollout event as a sentence (the actor and the time are shown beside it)."""
    d = event.details or {}
    kind = event.kind
    if kind == "started":
        waves = d.get("waves") or []
        words = {"version": d.get("release", "?"), "sites": _sites(d.get("eligible", 0)), "count": len(waves)}
        if waves:
            return ngettext("Started: version {version}, {sites} to update in {count} wave.",
                            "Started: version {version}, {sites} to update in {count} waves.", len(waves)).format(**words)
        return _("Started: version {version}, {sites} to update.").format(**words)
    if kind in ("wave_started", "advanced"):
        words = {"wave": d.get("wave"), "sites": _sites(d.get("size", 0))}
        if kind == "advanced":
            return _("Wave {wave} started early, on request ({sites}).").format(**words)
        return _("Wave {wave} started ({sites}).").format(**words)
    if kind == "paused":
        return _("Paused.")
    if kind == "halted":
        return _("Paused by itself: {reason}").format(reason=stored_words(d.get("reason", "")))
    if kind == "awaiting_approval":
        return _("Waiting for approval: {reason}").format(reason=stored_words(d.get("reason", "")))
    if kind == "resumed":
        return _("Resumed (wave {wave}).").format(wave=d["wave"]) if d.get("wave") else _("Resumed.")
    if kind == "stopped":
        cancelled = d.get("cancelled", 0)
        return ngettext("Stopped; {n} update cancelled.", "Stopped; {n} updates cancelled.", cancelled).format(n=cancelled)
    if kind == "completed":
        return _("Completed: {sites} queued in all.").format(sites=_sites(d.get("queued", 0)))
    return kind.replace("_", " ").capitalize() + "."
