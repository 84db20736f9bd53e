"""Update jobs: queue one site, cancel, and the single place where a job changes state."""

import logging
from dataclasses import dataclass
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from receivers.models import Receiver
from sites.models import Device, Site
from sites.versions import version_key

from ..errors import UpdateNotAllowed
from ..models import (
    ACTIVE_STATES,
    CANCELLABLE_STATES,
    JobState,
    Release,
    UpdateJob,
    UpdateJobEvent,
    transition_allowed,
)

log = logging.getLogger(__name__)

SYSTEM = "system"
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
        job = UpdateJob.objects.select_for_update(no_key=True).select_related("release").get(pk=job_id)
        from_state = job.state
        if not transition_allowed(from_state, to_state) or (allowed_from and from_state not in allowed_from):
            return job, False
        now = timezone.now()
        job.state = to_state
        job.state_changed_at = now
        if to_state not in ACTIVE_STATES:
            job.finished_at = now
        for name, value in fields.items():
            setattr(job, name, value)
        job.save(update_fields=["state", "state_changed_at", "finished_at", *fields])
        if to_state not in ACTIVE_STATES:
            device_active_job_clear(job_ids=[job.pk])
        job_event_record(job=job, actor=actor, kind="transition", details=details,
                         from_state=from_state, to_state=to_state)
    log.info("job %s %s -> %s by %s", job.pk, from_state, to_state, actor.label)
    return job, True


def device_active_job_clear(*, job_ids) -> int:
    """Forget finished jobs on their devices (Device.active_job); one statement.

    Called in the transaction that moves the jobs out of the active states, after their rows
    are locked: the lock order is job, then device, everywhere (see device_report_attributes).
    Only a device still pointing at one of these jobs is written.
    """
    return Device.objects.filter(active_job__in=job_ids).update(active_job=None)


def site_get(*, receiver: Receiver, site_number: int) -> Site:
    try:
        return Site.objects.select_related("device__device_type", "receiver").get(
            receiver=receiver, number=site_number
        )
    except Site.DoesNotExist:
        raise UpdateNotAllowed(
            f"Site {site_number} does not exist on receiver {receiver.code}.", code="unknown_site"
        ) from None


def current_release(*, device_type) -> Release | None:
    return Release.objects.filter(device_type=device_type, is_current=True).first()


def update_refusal(*, device: Device, release: Release, site_number, has_active_job: bool) -> tuple[str, str] | None:
    """Why `device` may not be moved to `release`, as (code, words), or None if it may.

    The one eligibility rule, used for single sites, rollouts and statistics alike.
    """
    label = f"Site {site_number}" if site_number is not None else f"Device {device.serial}"
    if device.device_type_id != release.device_type_id:
        return "wrong_device_type", f"{label} is a {device.device_type or 'device of unknown type'}, not a {release.device_type}."
    if device.firmware_version == release.version:
        return "already_current", f"{label} already runs {release.version}."
    if not device.has_ip_channel:
        return "no_ip_channel", f"{label} has no GPRS or Ethernet channel."
    if not release.supports(device.hardware_revision):
        supported = ", ".join(release.hardware_revisions) or "none"
        return "hardware_not_supported", (
            f"Hardware revision {device.hardware_revision or 'unknown'} of {label} "
            f"is not supported by {release.device_type} {release.version} (supports {supported})."
        )
    if has_active_job:
        return "already_updating", f"{label} is already being updated."
    if device.firmware_version and version_key(device.firmware_version) > release.version_key:
        return "would_downgrade", f"{label} runs {device.firmware_version}, newer than {release.version}."
    return None


def update_job_create(*, receiver: Receiver, site_number: int, actor, release: Release | None = None) -> UpdateJob:
    """Queue one site for update (the canary, "Update using site number...").

    Raises UpdateNotAllowed with the reason when the site may not be updated.
    """
    actor = Actor.of(actor)
    site = site_get(receiver=receiver, site_number=site_number)
    device = getattr(site, "device", None)
    if device is None:
        raise UpdateNotAllowed(f"Site {site_number} has no panel registered.", code="no_device")
    if release is None:
        if device.device_type is None:
            raise UpdateNotAllowed(f"The device type of site {site_number} is not known yet.", code="unknown_device_type")
        release = current_release(device_type=device.device_type)
        if release is None:
            raise UpdateNotAllowed(f"{device.device_type} has no current release.", code="no_current_release")
    active = UpdateJob.objects.filter(device=device, state__in=ACTIVE_STATES).exists()
    refusal = update_refusal(device=device, release=release, site_number=site_number, has_active_job=active)
    if refusal:
        code, reason = refusal
        raise UpdateNotAllowed(reason, code=code)
    try:
        with transaction.atomic():
            job = UpdateJob.objects.create(
                device=device, release=release, created_by=actor.user, bytes_total=release.size,
                snapshot=device_snapshot(device),
            )
            Device.objects.filter(pk=device.pk).update(active_job=job)
            device.active_job_id = job.pk
            job_event_record(job=job, actor=actor, kind="transition", to_state=JobState.QUEUED,
                             details={"release": release.version, "site_number": site_number})
    except IntegrityError:
        # The partial unique index settled a race with another queue request.
        raise UpdateNotAllowed(f"Site {site_number} is already being updated.", code="already_updating") from None
    _wakeup_on_commit(receiver=receiver, serials=[device.serial])
    return job


def _wakeup_on_commit(*, receiver: Receiver, serials: list[str]) -> None:
    from ..tasks import wakeup_devices

    if receiver.wakeup_url and serials:
        transaction.on_commit(partial(wakeup_devices.delay, receiver.pk, serials))


def device_snapshot(device: Device) -> dict:
    return {"partitions": device.partitions, "settings_digest": device.settings_digest,
            "firmware_version": device.firmware_version}


def update_job_cancel(*, job: UpdateJob, actor) -> UpdateJob:
    """Stop an update until the device has the whole file ("Cancel update...").

    queued -> cancelled at once; delivered/downloading -> cancelling until the device
    acknowledges. From downloaded on: UpdateNotAllowed("already downloaded"). The decision is
    taken under the row lock, so a cancel racing the device's `downloaded` has one winner.
    """
    actor = Actor.of(actor)
    with transaction.atomic():
        locked = UpdateJob.objects.select_for_update(no_key=True).get(pk=job.pk)
        state = locked.state
        if state not in CANCELLABLE_STATES:
            raise UpdateNotAllowed(_cancel_refusal(locked), code=_cancel_refusal_code(state))
        if state == JobState.QUEUED:
            job, _ = job_transition(job_id=job.pk, to_state=JobState.CANCELLED, actor=actor,
                                    reason=f"Cancelled by {actor.label}.")
        else:
            job, _ = job_transition(job_id=job.pk, to_state=JobState.CANCELLING, actor=actor,
                                    state_before_cancel=state)
    return job


def _cancel_refusal_code(state: str) -> str:
    if state in (JobState.DOWNLOADED, JobState.READY, JobState.INSTALLING):
        return "already_downloaded"
    if state == JobState.CANCELLING:
        return "already_cancelling"
    return "finished"


def _cancel_refusal(job: UpdateJob) -> str:
    code = _cancel_refusal_code(job.state)
    if code == "already_downloaded":
        return "The device has already downloaded the update; it can no longer be cancelled."
    if code == "already_cancelling":
        return "The update is already being cancelled; waiting for the device to acknowledge."
    return f"The update has already finished ({job.get_state_display().lower()})."
