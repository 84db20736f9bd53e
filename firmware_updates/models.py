from django.conf import settings
from django.db import models
from django.db.models import Q

from sites.versions import version_key


class Release(models.Model):
    """A firmware archive (SWUpdate .swu) for one device type and version."""

    device_type = models.ForeignKey("sites.DeviceType", on_delete=models.PROTECT, related_name="releases")
    version = models.CharField(max_length=40)
    version_key = models.CharField(max_length=40, editable=False)
    hardware_revisions = models.JSONField(default=list, help_text="Board revisions the archive supports.")
    description = models.CharField(max_length=500, blank=True)
    # The operators' own words: what changed, what to watch for; editable after upload.
    notes = models.TextField(blank=True, max_length=5000)
    # Archived: no longer offered (never current, queued or chosen), kept for the jobs and
    # rollouts that name it (their history).
    archived_at = models.DateTimeField(null=True, blank=True)
    archive = models.FileField(upload_to="releases/")
    filename = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    sha1 = models.CharField(max_length=40)
    md5 = models.CharField(max_length=32)
    signer = models.CharField(max_length=300, blank=True, help_text="Subject of the signing certificate.")
    is_current = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
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

    def supports(self, hardware_revision: str) -> bool:
        return hardware_revision in (self.hardware_revisions or [])

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    DELIVERED = "delivered", "Delivered"
    DOWNLOADING = "downloading", "Downloading"
    DOWNLOADED = "downloaded", "Downloaded"
    READY = "ready", "Ready for installation"
    INSTALLING = "installing", "Installing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLING = "cancelling", "Cancelling"
    CANCELLED = "cancelled", "Cancelled"


S = JobState
# The forward order of a job, written once (DESIGN.md 3). Every allowed transition below is
# derived from it, so a state added here is placed in the table by where it stands.
FORWARD_ORDER = (S.QUEUED, S.DELIVERED, S.DOWNLOADING, S.DOWNLOADED, S.READY, S.INSTALLING, S.SUCCEEDED)
PROGRESS_ORDER = {state: rank for rank, state in enumerate(FORWARD_ORDER)}
# Until the device has the whole file: the operator may still cancel (seed: "Update Process
# Stopping"), and the device's byte count is the job's progress.
DOWNLOAD_INCOMPLETE = frozenset(FORWARD_ORDER[:PROGRESS_ORDER[S.DOWNLOADED]])
# A cancel the device must acknowledge: it already has the command (cancelAction, DDI).
CANCEL_NEEDS_DEVICE = DOWNLOAD_INCOMPLETE - {S.QUEUED}


def _transitions() -> dict[str, frozenset[str]]:
    """The one table of allowed transitions, derived from the forward order:

    - forward jumps: devices skip reports (SWUpdate never sends downloaded/scheduled) and
      links lose them; never backwards (a late report is stale);
    - any state before succeeded may fail;
    - queued -> cancelled at once; delivered/downloading -> cancelling, then cancelled when
      the device acknowledges, or back to where the device says it is when it refuses
      (it had finished the download), or failed.
    """
    table = {state: set(FORWARD_ORDER[rank + 1:]) | {S.FAILED} for rank, state in enumerate(FORWARD_ORDER)}
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
CANCELLABLE_STATES = DOWNLOAD_INCOMPLETE
# The poll offers the action (deploymentBase); a cancelling job offers cancelAction instead.
DELIVERABLE_STATES = ACTIVE_STATES - {S.CANCELLING}
# The device holds the command: the panel shows bytes of the total.
TRANSFER_STATES = ACTIVE_STATES - {S.QUEUED}
# The device may still be fetching bytes: its reported progress is the job's.
DOWNLOAD_UNDER_WAY = CANCEL_NEEDS_DEVICE | {S.CANCELLING}


def is_terminal(state: str) -> bool:
    return state in TERMINAL_STATES


def is_active(state: str) -> bool:
    return state in ACTIVE_STATES


def is_cancellable(state: str) -> bool:
    """Cancel is still possible: the device does not have the whole file yet."""
    return state in CANCELLABLE_STATES


def is_deliverable(state: str) -> bool:
    return state in DELIVERABLE_STATES


def download_incomplete(state: str) -> bool:
    return state in DOWNLOAD_INCOMPLETE


def transition_allowed(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, ())


class Rollout(models.Model):
    """One operator request covering every outdated site of a device type on a receiver,
    queued in waves (a canary first) that stop themselves when the firmware fails."""

    class State(models.TextChoices):
        PENDING = "pending", "Starting"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped"
        COMPLETED = "completed", "Completed"

    OPEN_STATES = (State.PENDING, State.RUNNING, State.PAUSED)

    receiver = models.ForeignKey("receivers.Receiver", on_delete=models.PROTECT, related_name="rollouts")
    device_type = models.ForeignKey("sites.DeviceType", on_delete=models.PROTECT, related_name="rollouts")
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="rollouts")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    paused_reason = models.TextField(blank=True)
    total = models.PositiveIntegerField(default=0, help_text="Devices of the type on the receiver.")
    eligible = models.PositiveIntegerField(default=0, help_text="Sites it could queue when it started.")
    processed = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    joined_late = models.PositiveIntegerField(default=0, help_text="Sites queued after they became eligible.")
    skipped = models.JSONField(default=dict, blank=True, help_text="{reason: count}")
    # The conditions (issue "Safe fleet rollouts"; hawkBit's success and error conditions).
    success_threshold_percent = models.PositiveSmallIntegerField(default=90)
    error_threshold_percent = models.PositiveSmallIntegerField(null=True, blank=True, default=10)
    error_threshold_count = models.PositiveIntegerField(null=True, blank=True)
    error_threshold_min = models.PositiveIntegerField(default=5)
    approve_each_wave = models.BooleanField(default=False)
    install_window_start = models.TimeField(null=True, blank=True)
    install_window_end = models.TimeField(null=True, blank=True)
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    # The wave being queued or watched (1-based); 0 before the first starts.
    current_wave = models.PositiveSmallIntegerField(default=0)
    # Resume point in the rollout's spread order (`spread_key`): the last device examined,
    # so a re-run after a dead worker continues instead of starting over.
    cursor = models.BigIntegerField(default=-1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Advanced with every batch; reconciliation restarts a rollout whose worker went quiet.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Duplicate "update all" requests join the open rollout instead of starting another.
            models.UniqueConstraint(
                fields=["receiver", "device_type"],
                condition=Q(state__in=["pending", "running", "paused"]),
                name="one_open_rollout_per_receiver_and_type",
            )
        ]
        indexes = [models.Index(fields=["receiver", "device_type", "-created_at"], name="rollout_history_idx")]

    def __str__(self):
        return f"Rollout #{self.pk} {self.device_type} on {self.receiver.code}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES


class RolloutWave(models.Model):
    """One wave of a rollout: the sites queued together, watched before the next starts."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        STOPPED = "stopped", "Stopped"

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="waves")
    number = models.PositiveSmallIntegerField()
    # The rollout's queued count once this wave is queued; NULL: every site left (the last).
    target = models.PositiveIntegerField(null=True, blank=True)
    size = models.PositiveIntegerField(default=0, help_text="Sites planned when the rollout started.")
    queued = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    queueing_done = models.BooleanField(default=False)
    # Failures an operator accepted by resuming the wave after a halt: its error condition
    # counts only the ones after.
    failures_accepted = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["rollout", "number"]
        constraints = [models.UniqueConstraint(fields=["rollout", "number"], name="rollout_wave_number_unique")]

    def __str__(self):
        return f"Wave {self.number} of rollout #{self.rollout_id}"


class RolloutEvent(models.Model):
    """A rollout's history: who started, paused, resumed, advanced or stopped it, and what it
    decided by itself (a wave started, an automatic pause with its reason, completion)."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    kind = models.CharField(max_length=32)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} rollout #{self.rollout_id} {self.kind} by {self.actor_label}"


class Webhook(models.Model):
    """Where a receiver's Security Center wants rollout events (POST, JSON, signed with
    HMAC-SHA256 of the body under `secret`; firmware_updates/services/notifications.py)."""

    receiver = models.ForeignKey("receivers.Receiver", on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200, help_text="Shared secret of the HMAC-SHA256 signature.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["receiver", "url"]

    def __str__(self):
        return f"{self.receiver.code} -> {self.url}"


class UpdateJob(models.Model):
    """One device being moved to one release: a DDI action."""

    device = models.ForeignKey("sites.Device", on_delete=models.CASCADE, related_name="update_jobs")
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="update_jobs")
    rollout = models.ForeignKey(Rollout, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    wave = models.ForeignKey(RolloutWave, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.QUEUED)
    # Where a cancelling job returns when the device refuses the cancel.
    state_before_cancel = models.CharField(max_length=16, choices=JobState.choices, blank=True)
    bytes_downloaded = models.PositiveBigIntegerField(default=0)
    bytes_total = models.PositiveBigIntegerField(default=0)
    reason = models.TextField(blank=True, help_text="Why it failed or was cancelled.")
    # Set by reconciliation when the device went quiet (stalled_download, version_unconfirmed,
    # install_timeout): counted as a failure by the rollout's error condition.
    timed_out = models.CharField(max_length=32, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    # Partitions and settings digest before install, compared after the device returns.
    snapshot = models.JSONField(default=dict, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="Device reported the release's version.")
    wakeup_sent_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    progress_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["device"], condition=Q(state__in=sorted(ACTIVE_STATES)), name="one_active_job_per_device"
            ),
            models.CheckConstraint(condition=Q(state__in=JobState.values), name="update_job_state_valid"),
        ]
        indexes = [
            models.Index(fields=["state", "state_changed_at"], name="update_job_state_idx"),
            # A rollout's finished jobs, which the panel counts on each refresh. Partial: a
            # rollout's insert of 100,000 queued jobs adds nothing to it.
            models.Index(fields=["rollout", "state"], condition=Q(state__in=sorted(TERMINAL_STATES)),
                         name="update_job_rollout_done_idx"),
            # A wave's outcome, counted each time one of its jobs ends (the automatic halt).
            models.Index(fields=["wave", "state"], condition=Q(wave__isnull=False), name="update_job_wave_idx"),
        ]

    def __str__(self):
        return f"Job #{self.pk} {self.device} -> {self.release.version} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def progress_percent(self) -> int:
        if not self.bytes_total:
            return 0
        return min(100, int(self.bytes_downloaded * 100 / self.bytes_total))


# What a rollout counts of its jobs (its waves' conditions, retry-failed, the API, the panel):
# succeeded = updated with the new version confirmed; failed = failed or timed out.
JOB_TIMED_OUT = ~Q(timed_out="")
JOB_CONFIRMED = Q(state=JobState.SUCCEEDED, confirmed_at__isnull=False) & ~JOB_TIMED_OUT
JOB_FAILED_OR_TIMED_OUT = Q(state=JobState.FAILED) | JOB_TIMED_OUT


class UpdateJobEvent(models.Model):
    """The job's history: every state change and device report, with who and when."""

    job = models.ForeignKey(UpdateJob, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # "device", "system" or the operator's username at the time (kept if the user is deleted).
    actor_label = models.CharField(max_length=150)
    kind = models.CharField(max_length=32, default="transition")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label}: {self.from_state}->{self.to_state}"


class Heartbeat(models.Model):
    """When a periodic job last completed a pass, one row per job: beat's reconciliation
    (`RECONCILE`) writes its row at the end of each pass, and `GET /healthz` reports its age
    (securitycenter/health.py): a worker, beat and broker that work together keep it fresh."""

    RECONCILE = "reconcile"

    name = models.CharField(max_length=50, primary_key=True)
    at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
