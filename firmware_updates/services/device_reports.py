"""What devices tell us over DDI, turned into job progress (DESIGN.md section 4).

Feedback may arrive twice, late or out of order (GPRS links drop the answer, not the
request): a report never moves a job backwards, and a report for a finished job is refused
so the device forgets the action.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from core.errors import QuotaExceeded
from sites.models import Device
from sites.services import device_apply_attributes

from .. import stored_words as words
from ..deltas import delta_for
from ..models import (
    ACTIVE_STATES,
    CONFIRMABLE_STATES,
    DOWNLOAD_COMPLETE,
    DOWNLOAD_INCOMPLETE,
    DOWNLOAD_NOT_STARTED,
    DOWNLOAD_UNDER_WAY,
    HELD_STATES,
    PROGRESS_ORDER,
    JobState,
    UpdateJob,
    is_active,
)
from .jobs import (
    ACTOR_DEVICE,
    ACTOR_SYSTEM,
    device_snapshot,
    job_event_record,
    job_transition,
    rollouts_evaluate_after_commit,
)

log = logging.getLogger(__name__)

S = JobState
EXECUTIONS = frozenset({"closed", "proceeding", "canceled", "scheduled", "rejected", "resumed", "downloaded", "download"})
FINISHED = frozenset({"success", "failure", "none"})
MAX_DETAILS = 50
MAX_DETAIL_LENGTH = 2000
MAX_COUNT = 10**12  # bytes: far above any archive
MAX_WARNINGS = 50  # device warnings kept per job
# SWUpdate's suricatta (2022.12, suricatta/server_hawkbit.c server_install_update) answers a
# deploymentBase whose `update` is `skip` (a closed install window) with `closed` + `success`
# and only these details, having downloaded and installed nothing.
SWUPDATE_SKIPPED = ["Skipped Update."]


class ActionGone(Exception):
    """The action is no longer active (DDI answers 410)."""


def feedback_validate(status) -> tuple[str, str, dict | None, list[str]]:
    """Check a DDI `status` object; returns (execution, finished, progress, details).

    Each field is checked for its JSON type before its value: a list or an object where a
    word belongs is a 400 with the reason, never a lookup that fails (a list is unhashable).
    `result`, `progress` and `details` may be absent or null; present, they are an object,
    an object (of any shape: progress_read) and a list of strings.
    """
    if not isinstance(status, dict):
        raise ValidationError({"status": "Missing 'status' object."})
    execution = status.get("execution")
    if not isinstance(execution, str) or execution not in EXECUTIONS:
        raise ValidationError({"status.execution": f"Unknown execution {_shown(execution)}; "
                                                   f"expected one of {', '.join(sorted(EXECUTIONS))}."})
    result = status.get("result")
    if result is None:
        result = {}
    if not isinstance(result, dict):
        raise ValidationError({"status.result": "'result' must be an object."})
    finished = result.get("finished", "none")
    if not isinstance(finished, str) or finished not in FINISHED:
        raise ValidationError({"status.result.finished": f"Unknown result {_shown(finished)}; "
                                                         "expected success, failure or none."})
    if result.get("progress") is not None and not isinstance(result["progress"], dict):
        raise ValidationError({"status.result.progress": "'progress' must be an object, such as "
                                                         '{"cnt": 2, "of": 5}.'})
    progress = progress_read(result.get("progress"))
    details = status.get("details")
    if details is None:
        details = []
    if not isinstance(details, list) or not all(isinstance(d, str) for d in details):
        raise ValidationError({"status.details": "'details' must be a list of strings."})
    details = [d[:MAX_DETAIL_LENGTH] for d in details[:MAX_DETAILS]]
    return execution, finished, progress, details


def _shown(value) -> str:
    """A device's value in a reason, cut short (it may be a whole JSON document)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def progress_read(value) -> dict | None:
    """A feedback's `progress`, as hawkBit takes it: optional, an object of any shape (anything
    but an object is refused by feedback_validate), understood where it means something,
    otherwise ignored (never a reason to refuse the report, whose `execution` and `finished`
    are what matter).

    - `{"cnt": N, "of": M}` (the spec; `of` in bytes or percent): `{"cnt", "of"}`. The spec
      requires only `cnt`; SWUpdate 2022.12 forwards its install log with {"cnt": 1, "of": 0}:
      a missing or zero `of` means "total unknown" (`{"cnt"}` alone).
    - `{"percentage": N}` (rauc-hawkbit, its install progress): N percent of the archive.
    - `{}` (rauc-hawkbit, @awesomeorganization/hawkbit-ddi without a count), anything else,
      or an impossible count (cnt above of, negative, not a number): None.
    """
    if not isinstance(value, dict):
        return None
    cnt, of = value.get("cnt"), value.get("of")
    if _whole(cnt):
        if of is None or (_whole(of) and of == 0):
            return {"cnt": cnt} if cnt <= MAX_COUNT else None
        if _whole(of) and cnt <= of <= MAX_COUNT:
            return {"cnt": cnt, "of": of}
        return None
    percentage = value.get("percentage")
    if isinstance(percentage, int | float) and not isinstance(percentage, bool) and 0 <= percentage <= 100:
        return {"cnt": int(percentage), "of": 100}
    return None


def _whole(value) -> bool:
    return type(value) is int and value >= 0


def _target_state(job: UpdateJob, execution: str, finished: str) -> str | None:
    """The state a deploymentBase report asks for (None: nothing to change)."""
    if execution == "closed":
        return S.FAILED if finished == "failure" else S.SUCCEEDED
    if execution == "downloaded":
        return S.DOWNLOADED
    if execution == "scheduled":
        return S.READY
    if execution in ("proceeding", "resumed", "download"):
        # The same word means "downloading" before the file is complete and "installing" after.
        effective = job.state_before_cancel if job.state == S.CANCELLING else job.state
        if effective in DOWNLOAD_INCOMPLETE:
            return S.DOWNLOADING
        if execution != "download":
            return S.INSTALLING
    return None


def job_apply_feedback(*, job: UpdateJob, execution: str, finished: str, progress: dict | None,
                       details: list[str]) -> UpdateJob:
    """Apply a deploymentBase feedback. Raises ActionGone for a finished job.

    Decided under the job's row lock: an operator's cancel landing between reading the
    state and writing the new one would otherwise be overwritten.
    """
    with transaction.atomic():
        return _apply_feedback(_locked(job), execution, finished, progress, details)


def _locked(job: UpdateJob) -> UpdateJob:
    return UpdateJob.objects.select_for_update(no_key=True).select_related("release", "device").get(pk=job.pk)


def _apply_feedback(job: UpdateJob, execution: str, finished: str, progress: dict | None,
                    details: list[str]) -> UpdateJob:
    if not is_active(job.state) or job.state in HELD_STATES:
        # A held job (awaiting approval) was never offered: nothing of it is the device's to report.
        raise ActionGone(f"Action {job.pk} is {job.state}.")
    info = {"execution": execution, "finished": finished, "details": details}
    if progress:
        info["progress"] = progress
    if execution == "canceled":
        _record_reported_progress(job, progress)
        return _apply_cancel_feedback(job, "closed", "success", details)
    if execution == "closed" and finished == "success" and details == SWUPDATE_SKIPPED:
        # Not a success: the action stays, so the device finds it again at its next poll and
        # installs once the window is open (an identical repeat is kept once on the timeline).
        _keep_report(job, info)
        return job
    if finished == "failure" and execution != "closed":
        _device_warning(job, info)
        return job
    target = None if execution == "rejected" else _target_state(job, execution, finished)
    if execution == "rejected" or target is None or (
            target != S.FAILED and PROGRESS_ORDER.get(target, 99) <= PROGRESS_ORDER.get(job.state, -1)):
        # Moves nothing (a refusal, a log line, a duplicate or late report: never backwards; a
        # cancelling job ranks below every state): at most a line on the timeline, and the
        # status-entry quota is asked before anything of the report is taken.
        if execution == "rejected":
            _status_entry_quota(job)
            job_event_record(job=job, actor=ACTOR_DEVICE, kind="warning", details=info)
        else:
            _keep_report(job, info)
        _record_reported_progress(job, progress)
        return job
    _record_reported_progress(job, progress)
    if job.state == S.CANCELLING and target not in (S.FAILED, S.SUCCEEDED):
        # Still waiting for the cancel answer: remember how far the device got, so a refused
        # cancel returns there.
        if PROGRESS_ORDER.get(target, -1) > PROGRESS_ORDER.get(job.state_before_cancel, -1):
            UpdateJob.objects.filter(pk=job.pk, state=S.CANCELLING).update(state_before_cancel=target)
            job_event_record(job=job, actor=ACTOR_DEVICE, kind="report", details=info)
        return job
    fields = {}
    if target == S.FAILED:
        fields["reason"] = "; ".join(details) or words.DEVICE_FAILED
        if job.delta_id:
            fields["reason"] = words.DELTA_FAILED.format(reason=fields["reason"])
    if target in (S.READY, S.INSTALLING):
        fields["snapshot"] = device_snapshot(job.device)
    if target in DOWNLOAD_COMPLETE:
        fields["bytes_downloaded"] = job.bytes_total
    job, changed = job_transition(job_id=job.pk, to_state=target, actor=ACTOR_DEVICE, details=info,
                                  allowed_from={job.state}, **fields)
    if changed and target == S.SUCCEEDED:
        job_confirm_if_version_matches(job=job, device=job.device)
    return job


def job_apply_cancel_feedback(*, job: UpdateJob, execution: str, finished: str, details: list[str]) -> UpdateJob:
    """Apply a cancelAction feedback: `closed` acknowledges, `rejected` refuses."""
    with transaction.atomic():
        return _apply_cancel_feedback(_locked(job), execution, finished, details)


def _apply_cancel_feedback(job: UpdateJob, execution: str, finished: str, details: list[str]) -> UpdateJob:
    if job.state != S.CANCELLING:
        raise ActionGone(f"Action {job.pk} is not being cancelled (it is {job.state}).")
    info = {"execution": execution, "finished": finished, "details": details}
    if execution in ("closed", "canceled") and finished != "failure":
        # What it had received stays on the job (the row is written every few seconds only).
        job, _ = job_transition(job_id=job.pk, to_state=S.CANCELLED, actor=ACTOR_DEVICE, details=info,
                                reason=words.CANCEL_ACKNOWLEDGED, bytes_downloaded=job_bytes_received(job))
    elif execution == "rejected" or finished == "failure":
        back = job.state_before_cancel or S.DOWNLOADING
        job, _ = job_transition(job_id=job.pk, to_state=back, actor=ACTOR_DEVICE,
                                details={**info, "cancel": "refused by the device"})
        job_event_record(job=job, actor=ACTOR_DEVICE, kind="warning",
                         details={"message": words.CANCEL_REFUSED, **info})
    return job


def _device_warning(job: UpdateJob, info: dict) -> None:
    """A failure the device has not given up on (`finished: failure` with an execution other
    than `closed`): rauc-hawkbit reports a transient error so (`proceeding` + `failure`, its
    LastError) and closes the action later with its verdict. Kept as the job's warning with
    the device's details; the job goes on. An identical repeat (a GPRS retry) is kept once."""
    text = (words.DEVICE_FAILED_WHILE_DETAILS.format(execution=info["execution"], details="; ".join(info["details"]))
            if info["details"] else words.DEVICE_FAILED_WHILE.format(execution=info["execution"]))
    if text in job.warnings[-1:] or len(job.warnings) >= MAX_WARNINGS:
        return
    _status_entry_quota(job)
    UpdateJob.objects.filter(pk=job.pk).update(warnings=job.warnings + [text])
    job.warnings = job.warnings + [text]
    job_event_record(job=job, actor=ACTOR_DEVICE, kind="warning", details={"message": text, **info})


def _keep_report(job: UpdateJob, info: dict) -> None:
    """A report that moves nothing still goes on the timeline when it says something: SWUpdate
    forwards its install log as `proceeding` feedback with details, and that log is what an
    engineer reads when a site misbehaves. Progress-only reports are shown by the progress bar,
    an identical repeat (a GPRS retry) is kept once, and a chatty device is refused once the
    timeline is full (`_status_entry_quota`)."""
    if not info["details"]:
        return
    last = job.events.filter(kind="report").order_by("-at", "-id").values_list("details", flat=True).first()
    if last is not None and {k: last.get(k) for k in ("execution", "finished", "details")} == \
            {k: info[k] for k in ("execution", "finished", "details")}:
        return
    _status_entry_quota(job)
    job_event_record(job=job, actor=ACTOR_DEVICE, kind="report", details=info)


def _status_entry_quota(job: UpdateJob) -> None:
    """JOB_MAX_STATUS_ENTRIES (hawkBit's maxStatusEntriesPerAction): once a job's timeline holds
    that many entries, a device report that would only add one (a log line, a warning) is
    refused with 429, and the transaction with it (progress included). As in hawkBit, a report
    that moves the job is always taken: a panel that flooded its timeline can still say it
    finished, and the state changes it can add are bounded by the states themselves.

    Asked under the job's row lock (`job_apply_feedback`), so two reports cannot both take
    the last place."""
    limit = settings.JOB_MAX_STATUS_ENTRIES
    if job.events.count() >= limit:
        raise QuotaExceeded(
            f"Action {job.pk} already has {limit} status entries, the most a job keeps (quota "
            "JOB_MAX_STATUS_ENTRIES): reports that change nothing are refused; the action's "
            "outcome is still accepted.",
            quota="JOB_MAX_STATUS_ENTRIES",
        )


def _record_reported_progress(job: UpdateJob, progress: dict | None) -> None:
    """The device's own count is the best measure of what it holds: `of` in bytes (the
    archive's size, as fleetsim and our firmware send) or in percent (of == 100)."""
    if not progress or job.state not in DOWNLOAD_UNDER_WAY or not job.bytes_total:
        return
    cnt, of = progress["cnt"], progress.get("of")  # no `of`: the device does not know the total
    if of == job.bytes_total:
        offset = cnt
    elif of == 100:
        offset = job.bytes_total * cnt // 100
    else:
        return
    if offset > job.bytes_downloaded:
        job_download_progress(job=job, offset=offset)


def job_deployment_fetched(*, job: UpdateJob) -> UpdateJob:
    """The device read its deploymentBase: the action is delivered, with the archive it is
    sent chosen once (`deltas.delta_for`: a delta from the version it reports, or the full
    archive), so every resume of the download fetches the same file."""
    if job.state == S.QUEUED:
        device = job.device
        delta = delta_for(job=job, firmware_version=device.firmware_version)
        fields = {"delta": delta, "bytes_total": delta.size} if delta else {}
        details = ({"message": f"Sent the delta from {delta.base_version} ({delta.size} bytes) instead of the full "
                               f"archive ({job.release.size} bytes)."} if delta else None)
        job, _ = job_transition(job_id=job.pk, to_state=S.DELIVERED, actor=ACTOR_DEVICE, allowed_from={S.QUEUED},
                                details=details, **fields)
        job.device = device
    return job


def _progress_key(job_id: int) -> str:
    return f"job-progress:{job_id}"


def _rate_key(job_id: int) -> str:
    return f"job-progress-rate:{job_id}"


# Download speed from the bytes the panel confirmed (a resume's start, a feedback's count):
# measured from an anchor RATE_WINDOW to twice that old to the latest confirmation, so it
# follows the link as it changes; a download quiet for RATE_GAP starts measuring again (a
# panel that was offline for hours did not download at a crawl meanwhile).
RATE_WINDOW = 60.0  # seconds
RATE_GAP = 300.0


def _rate_samples(previous, now: float, offset: int) -> tuple:
    """(older anchor time, bytes, newer anchor time, bytes, latest time, bytes)."""
    if not previous or now - previous[4] > RATE_GAP or offset < previous[5]:
        return (now, offset, now, offset, now, offset)
    a_at, a_off, b_at, b_off, _, _ = previous
    if now - b_at >= RATE_WINDOW:
        a_at, a_off, b_at, b_off = b_at, b_off, now, offset
    return (a_at, a_off, b_at, b_off, now, offset)


def download_rate(samples, *, now: float | None = None) -> tuple[float | None, float | None]:
    """(bytes per second, seconds since the latest confirmed byte) from `_rate_samples`; the
    speed is None until 5 s of confirmations are there to measure it."""
    if not samples:
        return None, None
    a_at, a_off, _, _, last_at, last_off = samples
    quiet = max(0.0, (now or time.time()) - last_at)
    if last_at - a_at < 5:
        return None, quiet
    return (last_off - a_off) / (last_at - a_at), quiet


def job_download_progress(*, job: UpdateJob, offset: int) -> None:
    """The device holds the artifact's first `offset` bytes (it asked to resume there, or
    said so in its feedback); a delivered job starts downloading.

    Range requests come every few KiB on GPRS; the job row is written at most once per
    DOWNLOAD_PROGRESS_WRITE_INTERVAL per job (and always on completion), the latest value
    kept in the cache meanwhile (see `job_progress_overlay`).
    """
    if job.state in DOWNLOAD_NOT_STARTED:
        job, _ = job_transition(job_id=job.pk, to_state=S.DOWNLOADING, actor=ACTOR_DEVICE,
                                allowed_from=DOWNLOAD_NOT_STARTED, bytes_downloaded=offset, progress_at=timezone.now())
        return
    complete = offset >= job.bytes_total
    key, rate_key = _progress_key(job.pk), _rate_key(job.pk)
    held = cache.get_many([key, rate_key])  # one round trip, as the single read before
    if offset > (held.get(key) or 0):
        cache.set_many({key: offset, rate_key: _rate_samples(held.get(rate_key), time.time(), offset)},
                       timeout=3600)
    interval = settings.DOWNLOAD_PROGRESS_WRITE_INTERVAL
    if complete or cache.add(f"{key}:written", time.monotonic(), timeout=max(1, int(interval))):
        UpdateJob.objects.filter(pk=job.pk).update(
            bytes_downloaded=Greatest(F("bytes_downloaded"), offset), progress_at=timezone.now()
        )


DOWNLOAD_BUDGET_WINDOW = 3600  # seconds: the budget is per job and clock hour
DOWNLOAD_BUDGET_EVENT = "download_budget"


def job_download_admit(*, job: UpdateJob, size: int, first: int, last: int, now: float | None = None) -> int | None:
    """A retry storm's brake: None to serve bytes `first`..`last` of the job's `size`-byte
    archive, else the seconds until the job may download again (429 with Retry-After).

    The bytes asked for are counted per job and clock hour in the cache (one read, one
    write). A resume (`first` past the previous request's start, within its range) proves
    what of the previous request arrived: the rest of it is not counted, so a panel on a link
    that drops every few KiB is charged about what it received, while a panel fetching the
    archive from the start again and again is charged every time. Past
    DDI_DOWNLOAD_BUDGET_ARCHIVES archives' worth in the hour the download is refused until the
    hour ends, and the job's history says so once. A cache out of reach counts nothing and
    refuses nothing: downloads fail open.
    """
    archives = settings.DDI_DOWNLOAD_BUDGET_ARCHIVES
    if not archives:
        return None
    now = time.time() if now is None else now
    key = f"job-download-budget:{job.pk}:{int(now // DOWNLOAD_BUDGET_WINDOW)}"
    try:
        spent, previous_first, previous_last = cache.get(key) or (0, None, None)
        if previous_first is not None and previous_first < first <= previous_last + 1:
            spent -= previous_last - first + 1  # not received: the panel resumes at `first`
        spent += last - first + 1
        cache.set(key, (spent, first, last), timeout=DOWNLOAD_BUDGET_WINDOW + 60)
    except Exception:  # noqa: BLE001 - any cache failure: serve (fail open)
        log.warning("download budget of job %s not counted: cache unavailable", job.pk, exc_info=True)
        return None
    budget = archives * size
    if spent <= budget:
        return None
    retry_after = max(1, DOWNLOAD_BUDGET_WINDOW - int(now) % DOWNLOAD_BUDGET_WINDOW)
    try:
        first_this_hour = cache.add(f"{key}:reported", 1, timeout=DOWNLOAD_BUDGET_WINDOW + 60)
    except Exception:  # noqa: BLE001
        first_this_hour = False
    if first_this_hour and not job.events.filter(kind=DOWNLOAD_BUDGET_EVENT).exists():
        job_event_record(job=job, actor=ACTOR_SYSTEM, kind=DOWNLOAD_BUDGET_EVENT, details={
            "message": words.RETRY_STORM.format(spent=spent, size=size, archives=archives),
        })
    return retry_after


def job_progress_overlay(jobs) -> None:
    """Replace bytes_downloaded with the freshest value not yet written, and give each job its
    download speed and the seconds since its latest confirmed byte (`download_rate`,
    `download_quiet`; None when unknown). One cache call."""
    jobs = [j for j in jobs if j is not None]
    if not jobs:
        return
    fresh = cache.get_many([k for j in jobs for k in (_progress_key(j.pk), _rate_key(j.pk))])
    now = time.time()
    for job in jobs:
        value = fresh.get(_progress_key(job.pk))
        if value and value > job.bytes_downloaded and is_active(job.state):
            job.bytes_downloaded = min(value, job.bytes_total or value)
        job.download_rate, job.download_quiet = download_rate(fresh.get(_rate_key(job.pk)), now=now)


def job_bytes_received(job: UpdateJob) -> int:
    """What the panel confirmed of the download: the job's row or, fresher, the cache."""
    return max(job.bytes_downloaded, min(cache.get(_progress_key(job.pk)) or 0, job.bytes_total or 0))


@transaction.atomic
def device_report_attributes(*, device: Device, data: dict, mode: str = "merge") -> Device:
    """DDI configData: store the attributes, then confirm a job whose version now runs."""
    if mode not in ("merge", "replace", "remove"):
        raise ValidationError({"mode": f"Unknown mode {mode!r}; expected merge, replace or remove."})
    if not isinstance(data, dict):
        raise ValidationError({"data": "'data' must be an object of attribute names to text values."})
    # Lock order job, then device: this writes the device and may then finish its job, while
    # the job's own feedback locks the job and then clears Device.active_job. The other order
    # deadlocks a configData crossing a "closed" feedback on PostgreSQL.
    list(UpdateJob.objects.select_for_update(no_key=True).filter(device=device, state__in=ACTIVE_STATES)
         .values_list("pk"))
    device = device_apply_attributes(device=device, data=data, mode=mode)
    job_confirm_if_version_matches(job=None, device=device)
    return device


def job_confirm_if_version_matches(*, job: UpdateJob | None, device: Device) -> None:
    """Confirmation, not trust: green only when the device reports the release's version.

    Compares partitions and settings digest with the snapshot taken before install and
    records any difference as a warning on the job.
    """
    if job is None:
        job = (UpdateJob.objects.select_related("release")
               .filter(device=device, confirmed_at__isnull=True, release__version=device.firmware_version)
               .filter(state__in=CONFIRMABLE_STATES).order_by("-created_at").first())
        if job is None:
            return
    if job.confirmed_at or device.firmware_version != job.release.version:
        return
    confirming_a_finished_job = not is_active(job.state)
    if not confirming_a_finished_job:
        job, _ = job_transition(job_id=job.pk, to_state=S.SUCCEEDED, actor=ACTOR_DEVICE,
                                details={"message": words.DEVICE_REPORTS_VERSION.format(version=device.firmware_version)},
                                bytes_downloaded=job.bytes_total)
    UpdateJob.objects.filter(pk=job.pk).update(confirmed_at=timezone.now())
    if confirming_a_finished_job and job.rollout_id:
        # Closed with success before the version came (suricatta's order): a wave counts
        # confirmed jobs only, so its rollout decides again now, not at beat's next pass.
        rollouts_evaluate_after_commit([(job.rollout_id, job.pk, job.state)])
    job_event_record(job=job, actor=ACTOR_DEVICE, kind="confirmed",
                     details={"message": words.DEVICE_RUNS.format(version=device.firmware_version)})
    differences = snapshot_differences(job.snapshot, device)
    if differences:
        UpdateJob.objects.filter(pk=job.pk).update(warnings=job.warnings + differences)
        job_event_record(job=job, actor=ACTOR_DEVICE, kind="warning", details={"message": " ".join(differences)})


def snapshot_differences(snapshot: dict, device: Device) -> list[str]:
    found = []
    before = {p["number"]: p["armed"] for p in snapshot.get("partitions") or []}
    after = {p["number"]: p["armed"] for p in device.partitions or []}
    for number in sorted(set(before) | set(after)):
        if before.get(number) != after.get(number):
            was = {True: "armed", False: "disarmed", None: "absent"}[before.get(number)]
            now = {True: "armed", False: "disarmed", None: "absent"}[after.get(number)]
            found.append(words.PARTITION_CHANGED.format(number=number, was=was, now=now))
    if snapshot.get("settings_digest") and snapshot["settings_digest"] != device.settings_digest:
        found.append(words.SETTINGS_CHANGED)
    return found

