"""Update jobs: queue one site, cancel, and the single place where a job changes state."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from core.outages import enqueue_after_commit
from receivers.models import Receiver
from sites.models import Device, RemoteUpdate, Site

from .. import stored_words as words
from ..eligibility import update_refusal
from ..errors import Refusal, UpdateNotAllowed, no_current_release, site_name
from ..models import (
    CANCEL_AT_ONCE,
    TERMINAL_STATES,
    JobState,
    Release,
    Rollout,
    UpdateJob,
    UpdateJobEvent,
    is_active,
    is_awaiting_approval,
    is_cancellable,
    transition_allowed,
)
from .alarm_events import job_state_record, jobs_queued_record, jobs_state_record

log = logging.getLogger(__name__)

SYSTEM = "system"
BULK_CHUNK = 5000
DEVICE = "device"


@dataclass(frozen=True)
class Actor:
    """Who did it: an operator (user), the device, or the system (beat, rollout)."""

    label: str
    user: object = None

    @classmethod
    def of(cls, user) -> "Actor":
        if user is None:
            return cls(SYSTEM)
        if isinstance(user, Actor):
            return user
        return cls(user.get_username(), user)


ACTOR_SYSTEM = Actor(SYSTEM)
ACTOR_DEVICE = Actor(DEVICE)


def job_event_record(*, job: UpdateJob, actor: Actor, kind: str, details: dict | None = None,
                     from_state: str = "", to_state: str = "") -> UpdateJobEvent:
    return UpdateJobEvent.objects.create(
        job=job, actor=actor.user, actor_label=actor.label, kind=kind, details=details or {},
        from_state=from_state, to_state=to_state,
    )


def job_transition(
    *, job_id: int, to_state: str, actor: Actor, details: dict | None = None, allowed_from=None, **fields
) -> tuple[UpdateJob, bool]:
    """Move a job to `to_state` if the transition table (models.TRANSITIONS) allows it.

    The row is locked for the check-and-write, so concurrent callers (operator cancel vs.
    device feedback) are serialised and exactly one wins. Returns (job, changed). Writes the
    event row in the same transaction.
    """
    with transaction.atomic():
        job = (UpdateJob.objects.select_for_update(no_key=True, of=("self",)).select_related("release__device_type")
               .get(pk=job_id))
        from_state = job.state
        if not transition_allowed(from_state, to_state) or (allowed_from and from_state not in allowed_from):
            return job, False
        now = timezone.now()
        job.state = to_state
        job.state_changed_at = now
        if not is_active(to_state):
            job.finished_at = now
        for name, value in fields.items():
            setattr(job, name, value)
        job.save(update_fields=["state", "state_changed_at", "finished_at", *fields])
        if not is_active(to_state):
            device_active_job_clear(job_ids=[job.pk], outcome=to_state)
            rollouts_evaluate_after_commit([(job.rollout_id, job.pk, to_state)])
        job_event_record(job=job, actor=actor, kind="transition", details=details,
                         from_state=from_state, to_state=to_state)
        job_state_record(job=job, from_state=from_state, to_state=to_state, by_device=actor.label == DEVICE, now=now)
    log.info("job %s %s -> %s by %s", job.pk, from_state, to_state, actor.label)
    return job, True


def jobs_transition_bulk(*, jobs, from_state: str, to_state: str, actor: Actor, kind: str, reason: str,
                         skip_locked: bool = True, fields: dict | None = None) -> int:
    """Move every job of `jobs` that is in `from_state` to `to_state`, with one event each:
    the fleet-sized counterpart of `job_transition` (reconciliation's timeouts, a rollout's
    stop), a constant number of statements per 5,000 jobs. With `skip_locked`, rows another
    transaction holds are left for the next pass rather than waited for.
    """
    if not transition_allowed(from_state, to_state):
        raise ValueError(f"A job may not go from {from_state} to {to_state}.")
    now = timezone.now()
    changes = {"state": to_state, "state_changed_at": now, "reason": reason, **(fields or {})}
    if not is_active(to_state):
        changes["finished_at"] = now
    with transaction.atomic():
        rows = list(jobs.filter(state=from_state).select_for_update(skip_locked=skip_locked)
                    .values_list("pk", "rollout_id").order_by("pk"))
        for start in range(0, len(rows), BULK_CHUNK):
            ids = [pk for pk, _ in rows[start:start + BULK_CHUNK]]
            UpdateJob.objects.filter(pk__in=ids, state=from_state).update(**changes)
            if not is_active(to_state):
                device_active_job_clear(job_ids=ids, outcome=to_state)
            jobs_event_bulk(ids, actor=actor, kind=kind, message=reason, from_state=from_state, to_state=to_state)
            jobs_state_record(ids=ids, to_state=to_state, reason=reason, now=now)
        if not is_active(to_state):
            rollouts_evaluate_after_commit([(rollout_id, pk, to_state) for pk, rollout_id in rows])
    if rows:
        log.info("%d job(s) %s -> %s by %s (%s)", len(rows), from_state, to_state, actor.label, kind)
    return len(rows)


def rollouts_evaluate_after_commit(job_rollouts) -> None:
    """Let the rollouts of these jobs ((rollout id, job id, state), ...) decide after the
    commit (rollout_control; imported here, which it imports)."""
    from .rollout_control import rollouts_evaluate_after_commit as evaluate

    evaluate(job_rollouts)


def jobs_event_bulk(ids, *, actor: Actor, kind: str, message: str, from_state: str = "", to_state: str = "") -> None:
    UpdateJobEvent.objects.bulk_create(
        [UpdateJobEvent(job_id=pk, actor=actor.user, actor_label=actor.label, kind=kind, from_state=from_state,
                        to_state=to_state, details={"message": message}) for pk in ids],
        batch_size=5000,
    )


def device_active_job_clear(*, job_ids, outcome: str) -> int:
    """Forget finished jobs on their devices (Device.active_job) and record how they ended
    (`Device.last_outcome`, the red breakdown's "last update failed / cancelled"); one
    statement.

    Called in the transaction that moves the jobs out of the active states, after their rows
    are locked: the lock order is job, then device, everywhere (see device_report_attributes).
    Only a device still pointing at one of these jobs is written.
    """
    return Device.objects.filter(active_job__in=job_ids).update(active_job=None, last_outcome=outcome)


def site_get(*, receiver: Receiver, site_number: int) -> Site:
    try:
        return Site.objects.select_related("device__device_type", "receiver").get(
            receiver=receiver, number=site_number
        )
    except Site.DoesNotExist:
        raise UpdateNotAllowed(Refusal.UNKNOWN_SITE, site_number=site_number, receiver=receiver.code) from None


def current_release(*, device_type) -> Release | None:
    return Release.objects.filter(device_type=device_type, is_current=True).first()


def current_release_required(*, device_type) -> Release:
    """The current release of `device_type`, or the refusal that there is none."""
    release = current_release(device_type=device_type)
    if release is None:
        raise no_current_release(device_type)
    return release


def update_job_create(*, receiver: Receiver, site_number: int, actor, release: Release | None = None) -> UpdateJob:
    """Queue one site for update (the canary, "Update using site number...").

    Raises UpdateNotAllowed with the reason when the site may not be updated: the
    eligibility rule (firmware_updates/eligibility.py), asked of the jobs table. At a site
    whose consent asks for approval the job waits in `awaiting_approval` (no wake-up, nothing
    offered to the panel) until `update_job_approve`.
    """
    actor = Actor.of(actor)
    site = site_get(receiver=receiver, site_number=site_number)
    name = site_name(site_number)
    device = getattr(site, "device", None)
    if device is None:
        raise UpdateNotAllowed(Refusal.NO_DEVICE, site=name)
    if release is None:
        if device.device_type is None:
            raise UpdateNotAllowed(Refusal.UNKNOWN_DEVICE_TYPE, site=name)
        release = current_release_required(device_type=device.device_type)
    if release.is_archived:  # chosen by id (API): archived releases are offered no more
        raise UpdateNotAllowed(Refusal.RELEASE_ARCHIVED, release=release)
    if refusal := update_refusal(device=device, release=release, site=name):
        raise refusal
    state = JobState.AWAITING_APPROVAL if site.remote_update == RemoteUpdate.APPROVAL else JobState.QUEUED
    try:
        with transaction.atomic():
            job = UpdateJob.objects.create(
                device=device, release=release, created_by=actor.user, bytes_total=release.size,
                snapshot=device_snapshot(device), state=state,
            )
            Device.objects.filter(pk=device.pk).update(active_job=job)
            device.active_job_id = job.pk
            job_event_record(job=job, actor=actor, kind="transition", to_state=state,
                             details={"release": release.version, "site_number": site_number})
            if state == JobState.QUEUED:  # one awaiting approval is queued when approved
                jobs_queued_record(jobs=UpdateJob.objects.filter(pk=job.pk), release=release)
            device_jobs_prune(devices=[device.pk])
    except IntegrityError:
        # The partial unique index settled a race with another queue request.
        raise UpdateNotAllowed(Refusal.ALREADY_UPDATING, site=name) from None
    if state == JobState.QUEUED:
        _wakeup_on_commit(receiver=receiver, serials=[device.serial])
    return job


def update_job_approve(*, job: UpdateJob, actor) -> UpdateJob:
    """An operator allowed to approve (core.permissions APPROVE_UPDATE) lets a job held at a
    site that asks for approval go on: awaiting approval -> queued, and the panel is woken.

    Refused (UpdateNotAllowed) for a job not awaiting approval, and while the site now forbids
    remote updates (the job stays held: cancel it, or allow the site again). The decision is
    taken under the job's row lock, so an approval racing a cancel has one winner.
    """
    actor = Actor.of(actor)
    with transaction.atomic():
        locked = (UpdateJob.objects.select_for_update(no_key=True, of=("self",))
                  .select_related("device__site", "device__receiver").get(pk=job.pk))
        device = locked.device
        name = f"Site {device.site.number}" if device.site_id else f"Panel {device.serial}"
        if not is_awaiting_approval(locked.state):
            raise UpdateNotAllowed(Refusal.NOT_AWAITING_APPROVAL, site=name,
                                   state=locked.get_state_display().lower())
        if device.site_id and device.site.remote_update == RemoteUpdate.FORBIDDEN:
            raise UpdateNotAllowed(Refusal.REMOTE_UPDATE_FORBIDDEN, site=name)
        job, _ = job_transition(job_id=job.pk, to_state=JobState.QUEUED, actor=actor,
                                allowed_from={JobState.AWAITING_APPROVAL},
                                details={"message": f"Approved by {actor.label}."})
        jobs_queued_record(jobs=UpdateJob.objects.filter(pk=job.pk), release=job.release)
    _wakeup_on_commit(receiver=device.receiver, serials=[device.serial])
    return job


def device_jobs_prune(*, devices) -> int:
    """DEVICE_MAX_JOBS: the jobs a device keeps. Called in the transaction that queues a job for
    `devices` (ids, or a queryset of ids); deletes, with their timelines, each device's jobs
    older than its newest DEVICE_MAX_JOBS. Returns how many were deleted.

    hawkBit refuses a new assignment once a target has maxActionsPerTarget actions. Here an
    alarm panel's security update is never refused because of its history: the oldest
    history goes instead (DEVELOPERS.md "Quotas"). Jobs of an open rollout stay whatever
    their age: its waves count them.

    Only finished jobs can be that old: a device has one active job at a time and a new one
    only once the last has finished, so its active job is its newest. So a device's jobs are
    read through the device index alone (not every finished job of the fleet by state, which
    SQLite preferred): counted per device, and ranked newest first only for the devices over
    the quota, usually none. A constant number of statements for any number of devices (a
    rollout's batch of 10,000: ~10 ms on SQLite): that one read, then, when it found some,
    Django's delete of the timelines, the device pointers (none) and the jobs.
    """
    keep = settings.DEVICE_MAX_JOBS
    crowded = (UpdateJob.objects.filter(device__in=devices).order_by().values("device_id")
               .annotate(jobs=Count("pk")).filter(jobs__gt=keep).values("device_id"))
    ranked = (UpdateJob.objects.filter(device__in=crowded)
              .annotate(newest_first=Window(RowNumber(), partition_by=F("device_id"), order_by=F("pk").desc()))
              .filter(newest_first__gt=keep)
              .values("pk"))
    doomed = (UpdateJob.objects.filter(pk__in=ranked, state__in=TERMINAL_STATES)
              .exclude(rollout__state__in=Rollout.OPEN_STATES).only("pk"))
    _total, deleted = doomed.delete()
    count = deleted.get(UpdateJob._meta.label, 0)
    if count:
        log.info("%d finished job(s) pruned: their devices keep %d (DEVICE_MAX_JOBS)", count, keep)
    return count


def _wakeup_on_commit(*, receiver: Receiver, serials: list[str]) -> None:
    from ..tasks import wakeup_devices

    if receiver.wakeup_url and serials:
        enqueue_after_commit(wakeup_devices, receiver.pk, serials)


def device_snapshot(device: Device) -> dict:
    return {"partitions": device.partitions, "settings_digest": device.settings_digest,
            "firmware_version": device.firmware_version}


def update_job_cancel(*, job: UpdateJob, actor) -> UpdateJob:
    """Stop an update until the device has the whole file ("Cancel update...").

    queued or awaiting approval -> cancelled at once; delivered/downloading -> cancelling
    until the device acknowledges. From downloaded on: UpdateNotAllowed("already downloaded"). The decision is
    taken under the row lock, so a cancel racing the device's `downloaded` has one winner.
    """
    actor = Actor.of(actor)
    with transaction.atomic():
        locked = UpdateJob.objects.select_for_update(no_key=True).get(pk=job.pk)
        state = locked.state
        if not is_cancellable(state):
            raise _cancel_refusal(locked)
        if state in CANCEL_AT_ONCE:
            job, _ = job_transition(job_id=job.pk, to_state=JobState.CANCELLED, actor=actor,
                                    reason=words.CANCELLED_BY.format(actor=actor.label))
        else:
            job, _ = job_transition(job_id=job.pk, to_state=JobState.CANCELLING, actor=actor,
                                    state_before_cancel=state)
    return job


def _cancel_refusal(job: UpdateJob) -> UpdateNotAllowed:
    if job.state == JobState.CANCELLING:
        return UpdateNotAllowed(Refusal.ALREADY_CANCELLING)
    if is_active(job.state):
        return UpdateNotAllowed(Refusal.ALREADY_DOWNLOADED)
    return UpdateNotAllowed(Refusal.FINISHED, state=job.get_state_display().lower())
