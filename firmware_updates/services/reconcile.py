"""Reconciliation, run by beat: what devices did not tell us, found by timeouts (DESIGN.md 7).

Each pass is a constant number of queries per kind of finding, whatever the fleet size.
"""

import logging
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.outages import enqueue_after_commit
from sites.models import Device

from .. import stored_words as words
from ..models import (
    ACTIVE_STATES,
    Heartbeat,
    JobState,
    Rollout,
    RolloutWave,
    UpdateJob,
    UpdateJobEvent,
)
from .alarm_events import devices_not_returned, jobs_timed_out_record
from .jobs import ACTOR_SYSTEM, jobs_event_bulk, jobs_transition_bulk
from .notifications import events_publish
from .rollout_control import rollout_evaluate, rollouts_evaluate_after_commit
from .rollouts import rollout_late_joiners

log = logging.getLogger(__name__)
S = JobState
# Devices repaired per pass at most (one statement's id list); a larger drift takes more passes.
REPAIR_LIMIT = 10000


def _flagged(kind: str):
    return Exists(UpdateJobEvent.objects.filter(job=OuterRef("pk"), kind=kind))


def _flag_once(queryset, *, kind: str, message: str) -> int:
    """Record a timeout on each job of `queryset` not flagged yet (event + `timed_out`); a job
    of a rollout counts as failed there from now on."""
    with transaction.atomic():
        rows = list(queryset.exclude(_flagged(kind)).values_list("pk", "rollout_id")[:10000])
        ids = [pk for pk, _ in rows]
        UpdateJob.objects.filter(pk__in=ids, timed_out="").update(timed_out=kind)
        jobs_event_bulk(ids, actor=ACTOR_SYSTEM, kind=kind, message=message)
        jobs_timed_out_record(ids=ids, timeout=kind, reason=message)
        rollouts_evaluate_after_commit([(rollout_id, pk, "timed_out") for pk, rollout_id in rows])
    return len(ids)


def _minutes(delta) -> str:
    return f"{int(delta.total_seconds() // 60)} min" if delta.total_seconds() >= 60 else f"{int(delta.total_seconds())} s"


def reconcile(*, now=None) -> dict:
    """One pass; returns counts per finding (also logged)."""
    from ..tasks import rollout_run, wakeup_devices

    now = now or timezone.now()
    found = {}

    # A rollout whose worker died mid-way through a wave's fan-out (or before its first):
    # run it again; it resumes after its last batch.
    quiet = Q(heartbeat_at__lt=now - settings.ROLLOUT_STALE_AFTER) | Q(
        heartbeat_at__isnull=True, created_at__lt=now - settings.ROLLOUT_STALE_AFTER)
    queueing = Exists(RolloutWave.objects.filter(rollout=OuterRef("pk"), number=OuterRef("current_wave"),
                                                 queueing_done=False))
    stale = list(Rollout.objects.filter(Q(state=Rollout.State.PENDING) | Q(queueing, state=Rollout.State.RUNNING))
                 .filter(quiet).values_list("pk", flat=True))
    for rollout_id in stale:
        enqueue_after_commit(rollout_run, rollout_id)
    if stale:
        Rollout.objects.filter(pk__in=stale).update(heartbeat_at=now)
    found["rollout_resumed"] = len(stale)

    # Running rollouts: sites that became eligible join; the conditions are decided again
    # (a timeout found below, or a decision lost with a worker, is acted on here at the latest).
    running = list(Rollout.objects.filter(state=Rollout.State.RUNNING).exclude(pk__in=stale))
    found["late_joiners"] = sum(rollout_late_joiners(rollout=rollout) for rollout in running)
    for rollout in running:
        rollout_evaluate(rollout_id=rollout.pk)

    # Queued jobs of online devices whose wake-up was never sent or is old: push again.
    retry_before = now - settings.UPDATE_WAKEUP_RETRY_AFTER
    pending = (UpdateJob.objects.filter(state=S.QUEUED, device__receiver__wakeup_url__gt="")
               .filter(Q(wakeup_sent_at__isnull=True) | Q(wakeup_sent_at__lt=retry_before))
               .values_list("device__receiver_id", "device__serial")[:50000])
    by_receiver = defaultdict(list)
    for receiver_id, serial in pending:
        by_receiver[receiver_id].append(serial)
    step = settings.WAKEUP_BATCH_SIZE
    for receiver_id, serials in by_receiver.items():
        for i in range(0, len(serials), step):
            enqueue_after_commit(wakeup_devices, receiver_id, serials[i:i + step])
    found["wakeup_retried"] = sum(len(s) for s in by_receiver.values())

    stalled = settings.UPDATE_STALLED_DOWNLOAD_AFTER
    found["stalled_download"] = _flag_once(
        UpdateJob.objects.filter(state=S.DOWNLOADING).filter(
            Q(progress_at__lt=now - stalled) | Q(progress_at__isnull=True, state_changed_at__lt=now - stalled)),
        kind="stalled_download",
        message=words.STALLED_DOWNLOAD.format(duration=_minutes(stalled)),
    )
    timeout = settings.UPDATE_INSTALL_TIMEOUT
    found["install_timeout"] = jobs_transition_bulk(
        jobs=UpdateJob.objects.filter(state_changed_at__lt=now - timeout),
        from_state=S.INSTALLING, to_state=S.FAILED, actor=ACTOR_SYSTEM, kind="install_timeout",
        fields={"timed_out": "install_timeout"},
        reason=words.INSTALL_TIMEOUT.format(duration=_minutes(timeout)),
    )
    confirm = settings.UPDATE_VERSION_CONFIRM_TIMEOUT
    found["version_unconfirmed"] = _flag_once(
        UpdateJob.objects.filter(state=S.SUCCEEDED, confirmed_at__isnull=True, finished_at__lt=now - confirm),
        kind="version_unconfirmed",
        message=words.VERSION_UNCONFIRMED.format(duration=_minutes(confirm)),
    )
    ack = settings.UPDATE_CANCEL_ACK_TIMEOUT
    found["cancel_unacknowledged"] = jobs_transition_bulk(
        jobs=UpdateJob.objects.filter(state_changed_at__lt=now - ack),
        from_state=S.CANCELLING, to_state=S.CANCELLED, actor=ACTOR_SYSTEM, kind="cancel_timeout",
        reason=words.CANCEL_TIMEOUT.format(duration=_minutes(ack)),
    )
    # Panels whose expected-offline window after an install is over without a word.
    found["not_returned"] = devices_not_returned(now=now)
    # The alarm centre's events: positions for the feed, webhook deliveries the broker lost.
    found["webhooks_due"] = events_publish(now=now)
    if any(found.values()):
        log.info("reconcile: %s", found)
    # The pass is over: /healthz tells how long ago (securitycenter/health.py).
    Heartbeat.objects.update_or_create(name=Heartbeat.RECONCILE, defaults={"at": timezone.now()})
    return found


def last_outcome_of_device() -> Coalesce:
    """`Device.last_outcome` as the jobs say it, for an UPDATE of devices (OuterRef pk): the
    state of the device's newest finished job, "" if none."""
    finished = (UpdateJob.objects.filter(device=OuterRef("pk")).exclude(state__in=ACTIVE_STATES)
                .order_by("-created_at", "-pk").values("state")[:1])
    return Coalesce(Subquery(finished), Value(""))


def device_active_job_repair() -> int:
    """Make Device.active_job say what the jobs say; returns how many devices were wrong.

    The job services keep the column in the transactions that queue and finish jobs, so this
    finds nothing unless something wrote jobs past them (raw SQL, a restored backup, a bug).
    Two reads over the active jobs and the devices pointing at one; only when they find a
    device to fix: lock its active job, then the device (the services' lock order), and set
    the column from the jobs in a statement that starts after the locks are held.

    Beat runs it every ACTIVE_JOB_REPAIR_INTERVAL, not with each reconciliation pass: the two
    reads are proportional to the active jobs (about 0.5 s for 220,000 of them next to
    1.1 million devices on PostgreSQL).
    """
    active = UpdateJob.objects.filter(state__in=ACTIVE_STATES).order_by()
    pointing_wrong = (Device.objects.filter(active_job__isnull=False).order_by()
                      .exclude(Exists(active.filter(pk=OuterRef("active_job_id"), device=OuterRef("pk"))))
                      .values_list("pk", flat=True))
    not_pointed_at = active.exclude(device__active_job=F("pk")).values_list("device_id", flat=True)
    ids = sorted({*pointing_wrong[:REPAIR_LIMIT], *not_pointed_at[:REPAIR_LIMIT]})
    if not ids:
        return 0
    with transaction.atomic():
        list(active.filter(device__in=ids).select_for_update(no_key=True).values_list("pk"))
        list(Device.objects.filter(pk__in=ids).select_for_update(no_key=True).values_list("pk"))
        Device.objects.filter(pk__in=ids).update(
            active_job=Subquery(active.filter(device=OuterRef("pk")).order_by().values("pk")[:1]),
            last_outcome=last_outcome_of_device())
    log.warning("reconcile: Device.active_job was wrong on %d device(s), repaired from the jobs: ids %s%s",
                len(ids), ids[:20], " ..." if len(ids) > 20 else "")
    return len(ids)
