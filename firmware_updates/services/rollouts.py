"""Rollouts: "Update software at all sites" for one device type on one receiver.

The fan-out walks the fleet in id order, one batch per transaction, and stores its cursor
with the batch: a worker killed mid-way loses at most the uncommitted batch, and a re-run
continues after the last committed one. The partial unique index on active jobs makes a
second insert for the same device a no-op, so a batch replayed twice queues nobody twice.
"""

import logging
from collections import Counter
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from receivers.models import Receiver
from sites.models import Device, DeviceType

from ..errors import UpdateNotAllowed
from ..models import ACTIVE_STATES, JobState, Rollout, UpdateJob, UpdateJobEvent
from .jobs import Actor, current_release, device_snapshot, update_refusal

log = logging.getLogger(__name__)


def rollout_start(*, receiver: Receiver, device_type: DeviceType, actor) -> tuple[Rollout, bool]:
    """Start (or join) the rollout of the current release; returns (rollout, created).

    A duplicate request while one is open returns the open one (unique constraint).
    """
    actor = Actor.of(actor)
    release = current_release(device_type=device_type)
    if release is None:
        raise UpdateNotAllowed(f"{device_type} has no current release.", code="no_current_release")
    open_rollout = Rollout.objects.filter(receiver=receiver, device_type=device_type).exclude(
        state=Rollout.State.DONE
    ).first()
    if open_rollout:
        return open_rollout, False
    try:
        with transaction.atomic():
            rollout = Rollout.objects.create(
                receiver=receiver, device_type=device_type, release=release, created_by=actor.user,
                total=Device.objects.filter(receiver=receiver, device_type=device_type).count(),
            )
    except IntegrityError:
        return Rollout.objects.filter(receiver=receiver, device_type=device_type).exclude(
            state=Rollout.State.DONE).get(), False
    from ..tasks import rollout_run

    transaction.on_commit(partial(rollout_run.delay, rollout.pk))
    return rollout, True


def rollout_run(*, rollout_id: int) -> Rollout:
    """Queue every eligible outdated device of the rollout, batch by batch; safe to re-run."""
    rollout = Rollout.objects.select_related("release", "receiver", "device_type").get(pk=rollout_id)
    if rollout.state == Rollout.State.DONE:
        return rollout
    if rollout.state == Rollout.State.PENDING:
        now = timezone.now()
        Rollout.objects.filter(pk=rollout.pk).update(state=Rollout.State.RUNNING, started_at=now, heartbeat_at=now)
    while rollout_run_batch(rollout=rollout):
        pass
    Rollout.objects.filter(pk=rollout.pk).update(state=Rollout.State.DONE, finished_at=timezone.now())
    rollout.refresh_from_db()
    log.info("rollout %s done: %s queued, skipped %s", rollout.pk, rollout.queued, rollout.skipped)
    return rollout


def rollout_run_batch(*, rollout: Rollout) -> bool:
    """Examine the next batch of devices; returns False when none is left.

    Five queries per batch whatever its size: read devices, insert jobs, read the new job
    ids, insert their events, advance the cursor and counters.
    """
    release = rollout.release
    batch_size = settings.ROLLOUT_BATCH_SIZE
    active = UpdateJob.objects.filter(device=OuterRef("pk"), state__in=ACTIVE_STATES)
    with transaction.atomic():
        locked = Rollout.objects.select_for_update().get(pk=rollout.pk)
        devices = list(
            Device.objects.filter(receiver_id=rollout.receiver_id, device_type_id=rollout.device_type_id,
                                  pk__gt=locked.cursor)
            .annotate(has_active_job=Exists(active))
            .select_related("site")
            .order_by("pk")[:batch_size]
        )
        if not devices:
            return False
        skipped = Counter()
        to_queue = []
        for device in devices:
            number = device.site.number if device.site_id else None
            refusal = update_refusal(device=device, release=release, site_number=number,
                                     has_active_job=device.has_active_job)
            if refusal:
                skipped[refusal[0]] += 1
            else:
                to_queue.append(device)
        now = timezone.now()
        UpdateJob.objects.bulk_create(
            [UpdateJob(device=d, release=release, rollout=rollout, created_by=rollout.created_by,
                       bytes_total=release.size, snapshot=device_snapshot(d), state=JobState.QUEUED,
                       created_at=now, state_changed_at=now) for d in to_queue],
            ignore_conflicts=True,  # a device queued meanwhile by an operator keeps that job
        )
        first, last = devices[0].pk, devices[-1].pk
        created = list(
            UpdateJob.objects.filter(rollout=rollout, device_id__gte=first, device_id__lte=last,
                                     state=JobState.QUEUED)
            .exclude(Exists(UpdateJobEvent.objects.filter(job=OuterRef("pk"))))
            .values_list("pk", "device__serial")
        )
        actor_label = rollout.created_by.get_username() if rollout.created_by else "system"
        UpdateJobEvent.objects.bulk_create(
            [UpdateJobEvent(job_id=pk, actor=rollout.created_by, actor_label=actor_label, kind="transition",
                            to_state=JobState.QUEUED, details={"rollout": rollout.pk, "release": release.version})
             for pk, _ in created],
            batch_size=5000,
        )
        lost_race = len(to_queue) - len(created)
        if lost_race:
            skipped["already_updating"] += lost_race
        merged = Counter(locked.skipped) + skipped
        Rollout.objects.filter(pk=rollout.pk).update(
            cursor=last, processed=locked.processed + len(devices), queued=locked.queued + len(created),
            skipped=dict(merged), heartbeat_at=now,
        )
        _wakeup_online(rollout=rollout, serials=[serial for _, serial in created])
    return len(devices) == batch_size


def _wakeup_online(*, rollout: Rollout, serials: list[str]) -> None:
    from ..tasks import wakeup_devices

    if not rollout.receiver.wakeup_url or not serials:
        return
    step = settings.WAKEUP_BATCH_SIZE
    for i in range(0, len(serials), step):
        transaction.on_commit(partial(wakeup_devices.delay, rollout.receiver_id, serials[i:i + step]))


def rollout_progress(*, rollout: Rollout) -> dict:
    """Counts of the rollout's jobs by state (one query)."""
    return dict(rollout.jobs.order_by().values_list("state").annotate(n=Count("id")).values_list("state", "n"))

