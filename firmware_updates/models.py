from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.events import types_validate
from sites.versions import version_key


class Release(models.Model):
    """A firmware archive (SWUpdate .swu) for one device type and version."""

    device_type = models.ForeignKey("sites.DeviceType", verbose_name=_("device type"), on_delete=models.PROTECT, related_name="releases")
    version = models.CharField(_("version"), max_length=40)
    version_key = models.CharField(_("version key"), max_length=40, editable=False)
    hardware_revisions = models.JSONField(_("hardware revisions"), default=list, help_text=_("Board revisions the archive supports."))
    description = models.CharField(_("description"), max_length=500, blank=True)
    # The operators' own words: what changed, what to watch for; editable after upload.
    notes = models.TextField(_("notes"), blank=True, max_length=5000)
    # Archived: no longer offered (never current, queued or chosen), kept for the jobs and
    # rollouts that name it (their history).
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    archive = models.FileField(_("archive"), upload_to="releases/")
    filename = models.CharField(_("filename"), max_length=200)
    size = models.PositiveBigIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    sha1 = models.CharField(_("SHA-1"), max_length=40)
    md5 = models.CharField(_("MD5"), max_length=32)
    signer = models.CharField(_("signer"), max_length=300, blank=True, help_text=_("Subject of the signing certificate."))
    is_current = models.BooleanField(_("is current"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("release")
        verbose_name_plural = _("releases")
        ordering = ["device_type", "-version_key"]
        constraints = [
            models.UniqueConstraint(fields=["device_type", "version"], name="release_version_unique_per_type"),
            models.UniqueConstraint(
                fields=["device_type"], condition=Q(is_current=True), name="one_current_release_per_type"
            ),
        ]

    def __str__(self):
        return f"{self.device_type} {self.version}"

    def save(self, *args, **kwargs):
        self.version_key = version_key(self.version)
        super().save(*args, **kwargs)

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class ReleaseDelta(models.Model):
    """A delta archive of a release: the difference from one base version (SWUpdate's
    rdiff_image), served instead of the full archive to a panel reporting that version.
    Checked at intake like the full archive, plus its base (services/releases.py)."""

    release = models.ForeignKey(Release, verbose_name=_("release"), on_delete=models.CASCADE, related_name="deltas")
    base_version = models.CharField(_("base version"), max_length=40)
    base_sha256 = models.CharField(_("base sha256"), max_length=64,
                                   help_text=_("sha256 of the base image the delta patches."))
    archive = models.FileField(_("archive"), upload_to="releases/")
    filename = models.CharField(_("file name"), max_length=200)
    size = models.PositiveBigIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    sha1 = models.CharField(_("SHA-1"), max_length=40)
    md5 = models.CharField(_("MD5"), max_length=32)
    signer = models.CharField(_("signer"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("delta")
        verbose_name_plural = _("deltas")
        ordering = ["release", "base_version"]
        constraints = [
            models.UniqueConstraint(fields=["release", "base_version"], name="release_delta_one_per_base"),
        ]

    def __str__(self):
        return f"{self.release} from {self.base_version}"


class JobState(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    QUEUED = "queued", _("Queued")
    DELIVERED = "delivered", _("Delivered")
    DOWNLOADING = "downloading", _("Downloading")
    DOWNLOADED = "downloaded", _("Downloaded")
    READY = "ready", _("Ready for installation")
    INSTALLING = "installing", _("Installing")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLING = "cancelling", _("Cancelling")
    CANCELLED = "cancelled", _("Cancelled")


S = JobState
# The forward order of a job, written once (DESIGN.md 3). Every allowed transition below is
# derived from it, so a state added here is placed in the table by where it stands.
FORWARD_ORDER = (S.QUEUED, S.DELIVERED, S.DOWNLOADING, S.DOWNLOADED, S.READY, S.INSTALLING, S.SUCCEEDED)
PROGRESS_ORDER = {state: rank for rank, state in enumerate(FORWARD_ORDER)}
# Until the device has the whole file: the operator may still cancel (seed: "Update Process
# Stopping"), and the device's byte count is the job's progress.
DOWNLOAD_INCOMPLETE = frozenset(FORWARD_ORDER[:PROGRESS_ORDER[S.DOWNLOADED]])
# The device has the whole file (it said so, or went on past it).
DOWNLOAD_COMPLETE = frozenset(FORWARD_ORDER[PROGRESS_ORDER[S.DOWNLOADED]:])
# No byte asked for yet: the first (a range request, a progress report) starts the download.
DOWNLOAD_NOT_STARTED = frozenset(FORWARD_ORDER[:PROGRESS_ORDER[S.DOWNLOADING]])
# The device holds the command and is fetching the file, not all of it yet.
FETCHING = DOWNLOAD_INCOMPLETE - {S.QUEUED}
# A cancel the device must acknowledge: it already has the command (cancelAction, DDI).
CANCEL_NEEDS_DEVICE = FETCHING
# Held before the forward order: queued at a site whose consent asks for approval (issue 14),
# it goes on to `queued` once an operator allowed to approve does, or is cancelled. The
# device knows nothing of it yet.
HELD_STATES = frozenset({S.AWAITING_APPROVAL})
# Where a new job starts (services.jobs.update_job_create, the rollout's batched insert).
START_STATES = HELD_STATES | {S.QUEUED}


def _transitions() -> dict[str, frozenset[str]]:
    """The one table of allowed transitions, derived from the forward order:

    - forward jumps: devices skip reports (SWUpdate never sends downloaded/scheduled) and
      links lose them; never backwards (a late report is stale);
    - any state before succeeded may fail;
    - queued -> cancelled at once; delivered/downloading -> cancelling, then cancelled when
      the device acknowledges, or back to where the device says it is when it refuses
      (it had finished the download), or failed;
    - awaiting approval -> queued (approved), cancelled, or failed; nothing else: no device
      report may skip the approval.
    """
    table = {state: set(FORWARD_ORDER[rank + 1:]) | {S.FAILED} for rank, state in enumerate(FORWARD_ORDER)}
    table[S.AWAITING_APPROVAL] = {S.QUEUED, S.CANCELLED, S.FAILED}
    table[S.SUCCEEDED] = set()
    table[S.QUEUED].add(S.CANCELLED)
    for state in CANCEL_NEEDS_DEVICE:
        table[state].add(S.CANCELLING)
    table[S.CANCELLING] = {*FORWARD_ORDER[1:], S.CANCELLED, S.FAILED}
    table[S.FAILED] = table[S.CANCELLED] = set()
    return {state: frozenset(targets) for state, targets in table.items()}


TRANSITIONS: dict[str, frozenset[str]] = _transitions()
ACTIVE_STATES = frozenset(state for state, targets in TRANSITIONS.items() if targets)
TERMINAL_STATES = frozenset(JobState.values) - ACTIVE_STATES
CANCELLABLE_STATES = DOWNLOAD_INCOMPLETE | HELD_STATES
# Cancelled at once, the device never told: it does not have the command.
CANCEL_AT_ONCE = CANCELLABLE_STATES - CANCEL_NEEDS_DEVICE
# The poll offers the action (deploymentBase); a cancelling job offers cancelAction instead;
# a held one nothing yet.
DELIVERABLE_STATES = ACTIVE_STATES - {S.CANCELLING} - HELD_STATES
# The device holds the command: the panel shows bytes of the total.
TRANSFER_STATES = ACTIVE_STATES - {S.QUEUED} - HELD_STATES
# The device may still be fetching bytes: its reported progress is the job's.
DOWNLOAD_UNDER_WAY = FETCHING | {S.CANCELLING}
# The device was sent the job and it neither failed nor was cancelled: the version the device
# reports may confirm it (services.device_reports.job_confirm_if_version_matches).
CONFIRMABLE_STATES = TRANSFER_STATES | {S.SUCCEEDED}


def is_terminal(state: str) -> bool:
    return state in TERMINAL_STATES


def is_active(state: str) -> bool:
    return state in ACTIVE_STATES


def is_cancellable(state: str) -> bool:
    """Cancel is still possible: the device does not have the whole file yet."""
    return state in CANCELLABLE_STATES


def is_deliverable(state: str) -> bool:
    return state in DELIVERABLE_STATES


def is_awaiting_approval(state: str) -> bool:
    return state == S.AWAITING_APPROVAL


def download_incomplete(state: str) -> bool:
    return state in DOWNLOAD_INCOMPLETE


def transition_allowed(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, ())


class Rollout(models.Model):
    """One operator request covering every outdated site of a device type on a receiver,
    queued in waves (a canary first) that stop themselves when the firmware fails."""

    class State(models.TextChoices):
        PENDING = "pending", _("Starting")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        STOPPED = "stopped", _("Stopped")
        COMPLETED = "completed", _("Completed")

    OPEN_STATES = (State.PENDING, State.RUNNING, State.PAUSED)

    receiver = models.ForeignKey("receivers.Receiver", verbose_name=_("receiver"), on_delete=models.PROTECT, related_name="rollouts")
    device_type = models.ForeignKey("sites.DeviceType", verbose_name=_("device type"), on_delete=models.PROTECT, related_name="rollouts")
    release = models.ForeignKey(Release, verbose_name=_("release"), on_delete=models.PROTECT, related_name="rollouts")
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    paused_reason = models.TextField(_("paused reason"), blank=True)
    total = models.PositiveIntegerField(_("total"), default=0, help_text=_("Devices of the type on the receiver."))
    eligible = models.PositiveIntegerField(_("eligible"), default=0, help_text=_("Sites it could queue when it started."))
    processed = models.PositiveIntegerField(_("processed"), default=0)
    queued = models.PositiveIntegerField(_("queued"), default=0)
    joined_late = models.PositiveIntegerField(_("joined late"), default=0, help_text=_("Sites queued after they became eligible."))
    skipped = models.JSONField(_("skipped"), default=dict, blank=True, help_text=_("{reason: count}"))
    # The conditions (issue "Safe fleet rollouts"; hawkBit's success and error conditions).
    success_threshold_percent = models.PositiveSmallIntegerField(_("success threshold percent"), default=90)
    error_threshold_percent = models.PositiveSmallIntegerField(_("error threshold percent"), null=True, blank=True, default=10)
    error_threshold_count = models.PositiveIntegerField(_("error threshold count"), null=True, blank=True)
    error_threshold_min = models.PositiveIntegerField(_("error threshold min"), default=5)
    approve_each_wave = models.BooleanField(_("approve each wave"), default=False)
    install_window_start = models.TimeField(_("install window start"), null=True, blank=True)
    install_window_end = models.TimeField(_("install window end"), null=True, blank=True)
    retry_of = models.ForeignKey("self", verbose_name=_("retry of"), null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    # The wave being queued or watched (1-based); 0 before the first starts.
    current_wave = models.PositiveSmallIntegerField(_("current wave"), default=0)
    # Resume point in the rollout's spread order (`spread_key`): the last device examined,
    # so a re-run after a dead worker continues instead of starting over.
    cursor = models.BigIntegerField(_("cursor"), default=-1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Advanced with every batch; reconciliation restarts a rollout whose worker went quiet.
    heartbeat_at = models.DateTimeField(_("heartbeat at"), null=True, blank=True)

    class Meta:
        verbose_name = _("rollout")
        verbose_name_plural = _("rollouts")
        ordering = ["-created_at"]
        constraints = [
            # Duplicate "update all" requests join the open rollout instead of starting another.
            models.UniqueConstraint(
                fields=["receiver", "device_type"],
                condition=Q(state__in=["pending", "running", "paused"]),
                name="one_open_rollout_per_receiver_and_type",
            )
        ]
        indexes = [
            models.Index(fields=["receiver", "device_type", "-created_at"], name="rollout_history_idx"),
            # The API's list of every rollout, newest first: 50 read by the index, not 1,000
            # joined to their receivers, types, releases and authors and then sorted (5 -> 0.3 ms).
            models.Index(fields=["-created_at", "-id"], name="rollout_newest_idx"),
        ]

    def __str__(self):
        return gettext("Rollout #{id} {device_type} on {receiver}").format(
            id=self.pk, device_type=self.device_type, receiver=self.receiver.code)

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES


class RolloutWave(models.Model):
    """One wave of a rollout: the sites queued together, watched before the next starts."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        STOPPED = "stopped", _("Stopped")

    rollout = models.ForeignKey(Rollout, verbose_name=_("rollout"), on_delete=models.CASCADE, related_name="waves")
    number = models.PositiveSmallIntegerField(_("number"))
    # The rollout's queued count once this wave is queued; NULL: every site left (the last).
    target = models.PositiveIntegerField(_("target"), null=True, blank=True)
    size = models.PositiveIntegerField(_("size"), default=0, help_text=_("Sites planned when the rollout started."))
    queued = models.PositiveIntegerField(_("queued"), default=0)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    queueing_done = models.BooleanField(_("queueing done"), default=False)
    # Failures an operator accepted by resuming the wave after a halt: its error condition
    # counts only the ones after.
    failures_accepted = models.PositiveIntegerField(_("failures accepted"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("rollout wave")
        verbose_name_plural = _("rollout waves")
        ordering = ["rollout", "number"]
        constraints = [models.UniqueConstraint(fields=["rollout", "number"], name="rollout_wave_number_unique")]

    def __str__(self):
        return gettext("Wave {number} of rollout #{rollout}").format(number=self.number, rollout=self.rollout_id)


class RolloutEvent(models.Model):
    """A rollout's history: who started, paused, resumed, advanced or stopped it, and what it
    decided by itself (a wave started, an automatic pause with its reason, completion)."""

    rollout = models.ForeignKey(Rollout, verbose_name=_("rollout"), on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(_("at"), auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(_("actor label"), max_length=150)
    kind = models.CharField(_("kind"), max_length=32)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("rollout event")
        verbose_name_plural = _("rollout events")
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} rollout #{self.rollout_id} {self.kind} by {self.actor_label}"


class Webhook(models.Model):
    """Where a receiver's Security Center wants its events (docs/webhooks.md): each event of the
    receiver in the event table (core.models.Event), POSTed as JSON signed with HMAC-SHA256 of
    the body under `secret`, in the feed's order (firmware_updates/services/notifications.py).

    The table is the outbox: `delivered_through` is the position of the last event delivered
    (or given up after WEBHOOK_MAX_TRIES), so an event written while the broker or the endpoint
    was down is delivered once they are back. NULL: none yet, the events from `created_at` on.
    """

    receiver = models.ForeignKey("receivers.Receiver", verbose_name=_("receiver"), on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(_("secret"), max_length=200, help_text=_("Shared secret of the HMAC-SHA256 signature."))
    is_active = models.BooleanField(_("is active"), default=True)
    types = models.JSONField(
        _("event types"), default=list, blank=True, validators=[types_validate],
        help_text=_('Event types to send, e.g. ["job.failed", "device.not_returned"]; empty: every type.'))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    delivered_through = models.BigIntegerField(_("delivered through"), null=True, blank=True, editable=False)
    failures = models.PositiveIntegerField(_("failures"), default=0, editable=False,
                                           help_text=_("Failed tries of the next event in a row."))
    retry_at = models.DateTimeField(_("retry at"), null=True, blank=True, editable=False)
    last_error = models.CharField(_("last error"), max_length=300, blank=True, editable=False)
    # One delivery at a time per webhook (a compare-and-swap on it): the events keep their order.
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        ordering = ["receiver", "url"]

    def __str__(self):
        return f"{self.receiver.code} -> {self.url}"


# What a rollout counts of its jobs (its waves' conditions, retry-failed, the API, the panel):
# succeeded = updated with the new version confirmed; failed = failed or timed out.
JOB_TIMED_OUT = ~Q(timed_out="")
JOB_CONFIRMED = Q(state=JobState.SUCCEEDED, confirmed_at__isnull=False) & ~JOB_TIMED_OUT
JOB_FAILED_OR_TIMED_OUT = Q(state=JobState.FAILED) | JOB_TIMED_OUT
# Settled: finished, or timed out while still active. Every job counted as succeeded or failed
# is one; a running rollout's queued and downloading jobs are not.
JOB_SETTLED = Q(state__in=sorted(TERMINAL_STATES)) | JOB_TIMED_OUT


class UpdateJob(models.Model):
    """One device being moved to one release: a DDI action."""

    device = models.ForeignKey("sites.Device", verbose_name=_("device"), on_delete=models.CASCADE, related_name="update_jobs")
    release = models.ForeignKey(Release, verbose_name=_("release"), on_delete=models.PROTECT, related_name="update_jobs")
    # No index of its own: update_job_rollout_idx starts with it.
    rollout = models.ForeignKey(Rollout, verbose_name=_("rollout"), null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="jobs", db_index=False)
    wave = models.ForeignKey(RolloutWave, verbose_name=_("wave"), null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    state = models.CharField(_("state"), max_length=24, choices=JobState.choices, default=JobState.QUEUED)
    # The archive the device is sent, chosen once when it first reads the action
    # (deltas.delta_for): a delta from the version it runs, or NULL for the full archive.
    delta = models.ForeignKey(ReleaseDelta, verbose_name=_("delta"), null=True, blank=True, on_delete=models.PROTECT,
                              related_name="jobs")
    # Where a cancelling job returns when the device refuses the cancel.
    state_before_cancel = models.CharField(_("state before cancel"), max_length=24, choices=JobState.choices, blank=True)
    bytes_downloaded = models.PositiveBigIntegerField(_("bytes downloaded"), default=0)
    bytes_total = models.PositiveBigIntegerField(_("bytes total"), default=0)
    reason = models.TextField(_("reason"), blank=True, help_text=_("Why it failed or was cancelled."))
    # Set by reconciliation when the device went quiet (stalled_download, version_unconfirmed,
    # install_timeout): counted as a failure by the rollout's error condition.
    timed_out = models.CharField(_("timed out"), max_length=32, blank=True)
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    # Partitions and settings digest before install, compared after the device returns.
    snapshot = models.JSONField(_("snapshot"), default=dict, blank=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True, help_text=_("Device reported the release's version."))
    wakeup_sent_at = models.DateTimeField(_("wakeup sent at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    state_changed_at = models.DateTimeField(_("state changed at"), auto_now_add=True)
    progress_at = models.DateTimeField(_("progress at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("update job")
        verbose_name_plural = _("update jobs")
        ordering = ["-created_at"]
        # Approving a job held at a site that asks for approval (core.permissions APPROVE_UPDATE).
        permissions = [("approve_updatejob", "Can approve update jobs")]
        constraints = [
            models.UniqueConstraint(
                fields=["device"], condition=Q(state__in=sorted(ACTIVE_STATES)), name="one_active_job_per_device"
            ),
            models.CheckConstraint(condition=Q(state__in=JobState.values), name="update_job_state_valid"),
        ]
        indexes = [
            models.Index(fields=["state", "state_changed_at"], name="update_job_state_idx"),
            # A rollout's jobs (the rollout foreign key's index: the field has none of its own),
            # with what the counting rule reads: a retry's failed sites from this index alone.
            # (The rollouts' pages count their jobs from the job tally, firmware_updates/tally.py.)
            models.Index(fields=["rollout", "wave", "state", "confirmed_at", "timed_out"],
                         name="update_job_rollout_idx"),
            # A wave's outcome, counted each time one of its jobs ends (the automatic halt).
            models.Index(fields=["wave", "state"], condition=Q(wave__isnull=False), name="update_job_wave_idx"),
        ]

    def __str__(self):
        return gettext("Job #{id} {device} -> {version} ({state})").format(
            id=self.pk, device=self.device, version=self.release.version, state=self.get_state_display())

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def progress_percent(self) -> int:
        if not self.bytes_total:
            return 0
        return min(100, int(self.bytes_downloaded * 100 / self.bytes_total))


class JobTally(models.Model):
    """How many jobs of each rollout and wave share what the rollout's counts read of them
    (firmware_updates/tally.py): kept by database triggers on the jobs' table, never written
    by the application but to check and fold it. Plain columns, no foreign keys. Named as the
    job's own fields, so that JOB_CONFIRMED, JOB_FAILED_OR_TIMED_OUT and JOB_SETTLED apply to
    a group as to a job: `confirmed_at` NULL or the day of the confirmation, `timed_out` the
    job's own reason."""

    rollout_id = models.BigIntegerField(null=True)
    wave_id = models.BigIntegerField(null=True)
    state = models.CharField(max_length=24)
    confirmed_at = models.DateTimeField(null=True)
    timed_out = models.CharField(max_length=32)
    n = models.IntegerField()

    class Meta:
        verbose_name = _("job tally")
        indexes = [models.Index(fields=["rollout_id"], name="job_tally_rollout_idx")]

    def __str__(self):
        return f"{self.n} × {self.state}"


class UpdateJobEvent(models.Model):
    """The job's history: every state change and device report, with who and when."""

    job = models.ForeignKey(UpdateJob, verbose_name=_("job"), on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)
    from_state = models.CharField(_("from state"), max_length=24, blank=True)
    to_state = models.CharField(_("to state"), max_length=24, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # "device", "system" or the operator's username at the time (kept if the user is deleted).
    actor_label = models.CharField(_("actor label"), max_length=150)
    kind = models.CharField(_("kind"), max_length=32, default="transition")
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("update job event")
        verbose_name_plural = _("update job events")
        ordering = ["at", "id"]

    def __str__(self):
        # The admin's inline shows it above each row, in the reader's language (the states'
        # labels); the row itself says when.
        states = [str(JobState(state).label) if state in JobState.values else state or "—"
                  for state in (self.from_state, self.to_state)]
        return f"{self.actor_label}: {states[0]} → {states[1]}"


class Heartbeat(models.Model):
    """When a periodic job last completed a pass, one row per job: beat's reconciliation
    (`RECONCILE`) writes its row at the end of each pass, and `GET /healthz` reports its age
    (securitycenter/health.py): a worker, beat and broker that work together keep it fresh."""

    RECONCILE = "reconcile"

    name = models.CharField(_("name"), max_length=50, primary_key=True)
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self):
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
