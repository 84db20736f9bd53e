"""What the alarm centre hears of update jobs and of panels away to install (core.events;
docs/security-center.md). Every function writes in its caller's transaction, the one that
makes the change it reports, and costs a constant number of statements for any number of jobs.

Expected-offline windows: when a job starts installing (`job.install_started`, with the
device type's `expected_offline_seconds`), its panel is marked away until the window ends
(`Device.install_offline_until`). It is back (`device_back`) at its first request to the
server once the install's first seconds are over (from the device protocol's every endpoint;
a field already read, so a poll of a panel that is not away costs nothing more), or when it
reports the install's outcome (closed: success or failure), whenever that is. A request in
the first `IN_FLIGHT_SECONDS` (at most half the window) does not count: a panel polls while
its update runs, and a poll sent just before the reboot may reach the server just after the
install started. A panel still away when its window is over is found by beat's
reconciliation (`devices_not_returned`, one pass per batch): it "did not come back"
(`device.not_returned`, once); when it is back, `device.returned`. A panel back in time
writes neither.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from core import events
from core.events import EventType
from sites.models import Device

from ..models import JobState, UpdateJob

log = logging.getLogger(__name__)
S = JobState
# Panels flagged per statement at most; more wait for the next pass.
NOT_RETURNED_BATCH = 10000
# Seconds after the install's start during which a request from the panel may have been sent
# before it rebooted (at most half its window).
IN_FLIGHT_SECONDS = 5

# The job states the alarm centre hears of, and the event type of each.
STATE_EVENTS = {
    S.INSTALLING: EventType.JOB_INSTALL_STARTED,
    S.SUCCEEDED: EventType.JOB_SUCCEEDED,
    S.FAILED: EventType.JOB_FAILED,
    S.CANCELLED: EventType.JOB_CANCELLED,
}


def _about_jobs() -> dict:
    """An event's columns from its job (INSERT ... SELECT over the jobs)."""
    return {"receiver": F("device__receiver__code"), "site_number": F("device__site__number"),
            "serial": F("device__serial"), "job": F("pk"), "rollout": F("rollout_id")}


def jobs_queued_record(*, jobs, release, at=None) -> None:
    """`job.queued` for each job of `jobs` (a queryset): one statement."""
    events.record_select(EventType.JOB_QUEUED, jobs, **_about_jobs(), data={"release": release.version}, at=at)


def job_state_record(*, job: UpdateJob, from_state: str, to_state: str, by_device: bool, now) -> None:
    """The event of one job's transition (`job_transition`), if the alarm centre hears of it.
    A job starting to install opens its panel's expected-offline window; the panel reporting
    the install's outcome is back (before the event of its outcome)."""
    kind = STATE_EVENTS.get(to_state)
    if kind is None:
        return
    if by_device and from_state == S.INSTALLING and to_state in (S.SUCCEEDED, S.FAILED):
        device_back(device_id=job.device_id, reported=True, now=now)
    if to_state == S.INSTALLING:
        seconds = job.release.device_type.expected_offline_seconds
        install_window_open(job=job, seconds=seconds, now=now)
        data = {"expected_offline_seconds": seconds, "version": job.release.version}
    elif to_state == S.SUCCEEDED:
        data = {"version": job.release.version}
    else:
        data = {"reason": job.reason}
    events.record_select(kind, UpdateJob.objects.filter(pk=job.pk), **_about_jobs(), data=data, at=now)


def jobs_state_record(*, ids, to_state: str, reason: str, now) -> None:
    """The events of a bulk transition (`jobs_transition_bulk`): one statement per call."""
    kind = STATE_EVENTS.get(to_state)
    if kind is None or not ids:
        return
    if to_state in (S.INSTALLING, S.SUCCEEDED):
        raise ValueError(f"{to_state} is a device's report, one job at a time (job_transition).")
    events.record_select(kind, UpdateJob.objects.filter(pk__in=ids), **_about_jobs(), data={"reason": reason},
                         at=now)


def jobs_timed_out_record(*, ids, timeout: str, reason: str) -> None:
    """`job.timed_out` for jobs reconciliation flags without changing their state (a stalled
    download, a success whose version never came): a rollout counts them as failed."""
    if ids:
        events.record_select(EventType.JOB_TIMED_OUT, UpdateJob.objects.filter(pk__in=ids), **_about_jobs(),
                             data={"timeout": timeout, "reason": reason})


# --- Expected-offline windows -----------------------------------------------------------------

def install_window_open(*, job: UpdateJob, seconds: int, now) -> None:
    """The job's panel leaves to install: away until `now + seconds`. In the transaction of
    the job's transition, after its row lock (lock order: job, then device)."""
    Device.objects.filter(pk=job.device_id).update(
        install_offline_since=now, install_offline_until=now + timedelta(seconds=seconds),
        install_offline_job=job.pk, not_returned_since=None)


def device_back(*, device_id: int, reported: bool = False, now=None) -> bool:
    """The panel, marked away to install, was heard from: it is back, unless this is a request
    of the install's first seconds (`IN_FLIGHT_SECONDS`) and not the install's outcome
    (`reported`). Writes `device.returned` if reconciliation had already said it did not come
    back; returns whether the panel is back now.

    Decided under the device's row lock, which reconciliation's flagging takes too: a panel
    coming back while it is flagged is either flagged first (and then reported returned) or
    back first (and then never flagged). Called in the transaction of a job's transition, it
    comes after the job's lock (lock order: job, then device).
    """
    now = now or timezone.now()
    with transaction.atomic():
        row = (Device.objects.select_for_update(no_key=True, of=("self",)).filter(pk=device_id)
               .values("install_offline_until", "install_offline_since", "install_offline_job", "not_returned_since",
                       "serial", "receiver__code", "site__number").first())
        if row is None or row["install_offline_until"] is None:
            return False
        since, until = row["install_offline_since"], row["install_offline_until"]
        if not reported and now - since < min(timedelta(seconds=IN_FLIGHT_SECONDS), (until - since) / 2):
            return False
        Device.objects.filter(pk=device_id).update(install_offline_since=None, install_offline_until=None,
                                                   install_offline_job=None, not_returned_since=None)
        if row["not_returned_since"] is None:
            return True
        job = row["install_offline_job"]
        rollout = UpdateJob.objects.filter(pk=job).values_list("rollout_id", flat=True).first() if job else None
        events.record(EventType.DEVICE_RETURNED, receiver=row["receiver__code"], site_number=row["site__number"],
                      serial=row["serial"], job=job, rollout=rollout, data={"since": row["not_returned_since"]})
    log.info("device %s came back after its install (away since %s)", row["serial"], row["not_returned_since"])
    return True


def devices_not_returned(*, now=None) -> int:
    """Reconciliation: panels whose expected-offline window is over without a word from them
    did not come back. Each is flagged once (`Device.not_returned_since`, the time it left)
    with its `device.not_returned` event; returns how many. One read, one update and one
    insert per NOT_RETURNED_BATCH panels; rows a returning panel holds are left for the next
    pass (it is back)."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(Device.objects.filter(install_offline_until__lt=now, not_returned_since__isnull=True)
                    .select_for_update(skip_locked=True, of=("self",))
                    .annotate(rollout=Subquery(UpdateJob.objects.filter(pk=OuterRef("install_offline_job"))
                                               .values("rollout_id")[:1]))
                    .values_list("pk", "receiver__code", "site__number", "serial", "install_offline_job",
                                 "rollout", "install_offline_since")
                    .order_by("pk")[:NOT_RETURNED_BATCH])
        if not rows:
            return 0
        Device.objects.filter(pk__in=[row[0] for row in rows]).update(not_returned_since=F("install_offline_since"))
        events.record_bulk(
            events.build(EventType.DEVICE_NOT_RETURNED, receiver=receiver, site_number=site, serial=serial, job=job,
                         rollout=rollout, data={"since": since}, at=now)
            for _pk, receiver, site, serial, job, rollout, since in rows)
    log.warning("%d panel(s) did not come back after their install: %s%s", len(rows),
                ", ".join(row[3] for row in rows[:20]), " ..." if len(rows) > 20 else "")
    return len(rows)
