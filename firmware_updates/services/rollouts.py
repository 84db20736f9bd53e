"""Rollouts: "Update software at all sites" for one device type on one receiver, in waves.

A rollout plans its waves when it starts (default: a canary of 1 % of the eligible sites, at
least 1 and at most 20, then 10 %, then the rest; `plan_waves`) and queues one wave at a
time. Within a wave the sites are spread over the receiver: the fan-out walks the fleet in
the rollout's spread order (`spread_key`, a fixed scramble of the device id), not by site
number. When the next wave starts is decided by rollout_control (success and error
conditions, pause, approval).

The fan-out walks one batch per transaction and stores its cursor with the batch: a worker
killed mid-way loses at most the uncommitted batch, and a re-run continues after the last
committed one. The partial unique index on active jobs makes a second insert for the same
device a no-op, so a batch replayed twice queues nobody twice.
"""

import logging
import math
from collections import Counter

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    Exists,
    F,
    FilteredRelation,
    Func,
    JSONField,
    OuterRef,
    Q,
    Value,
    When,
)
from django.db.models.functions import JSONObject, Mod
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from core.bulk import insert_select as _insert_select
from core.outages import enqueue_after_commit
from receivers.models import Receiver
from sites.models import Device, DeviceType, RemoteUpdate

from ..eligibility import ELIGIBLE, active_job_exists, refusal_expression, site_consent
from ..errors import Refusal, UpdateNotAllowed, count_words
from ..models import (
    ACTIVE_STATES,
    JOB_FAILED_OR_TIMED_OUT,
    START_STATES,
    TERMINAL_STATES,
    JobState,
    Rollout,
    RolloutEvent,
    RolloutWave,
    UpdateJob,
    UpdateJobEvent,
)
from .alarm_events import jobs_queued_record
from .jobs import Actor, current_release_required, device_jobs_prune

log = logging.getLogger(__name__)

DEFAULT_WAVES = (1, 10, 100)  # cumulative percentages of the eligible sites
CANARY_MIN, CANARY_MAX = 1, 20
# Knuth's multiplicative hash: odd, so id -> id * K mod 2^32 is a bijection for ids below
# 2^32. Consecutive ids land far apart, so a wave of N sites is spread over the receiver.
_SPREAD_FACTOR, _SPREAD_MODULUS = 2654435761, 2**32
FANOUT_END = _SPREAD_MODULUS  # the cursor once every device was examined


def spread_key():
    """Each device's place in every rollout's order (unique per device)."""
    return Mod(F("pk") * Value(_SPREAD_FACTOR, output_field=BigIntegerField()),
               Value(_SPREAD_MODULUS, output_field=BigIntegerField()), output_field=BigIntegerField())


def plan_waves(*, eligible: int, percents=None, counts=None) -> list[int | None]:
    """Cumulative queued targets of the waves, the last None (every site left).

    `percents` (cumulative, e.g. [1, 10, 100]) or `counts` (cumulative site counts); by
    default the canary is 1 % clamped to 1..20 sites. Waves that would queue nobody are
    merged with the next, so a small fleet may get a single wave.
    """
    if counts:
        targets = [int(c) for c in counts]
    else:
        targets = [math.ceil(eligible * p / 100) for p in (percents or DEFAULT_WAVES)]
        if not percents:
            targets[0] = min(max(targets[0], CANARY_MIN), CANARY_MAX)
    plan, previous = [], 0
    for target in targets:
        target = max(target, 1)
        if target > previous and target < eligible:
            plan.append(target)
            previous = target
    return [*plan, None]


WAVES_MAX = 20
WAVES_NOT_CUMULATIVE = gettext_noop("Waves are cumulative: each value larger than the one before.")


def waves_cumulative(values) -> bool:
    """Wave values (percentages or counts) each larger than the one before, as `plan_waves`
    reads them; the API and the panel's form refuse others with WAVES_NOT_CUMULATIVE."""
    return all(b > a for a, b in zip(values, values[1:], strict=False))


def rollout_devices(rollout: Rollout):
    """The devices the rollout may queue: its type on its receiver; a retry, only the sites
    whose job failed (or timed out) in the rollout it retries."""
    devices = Device.objects.filter(receiver_id=rollout.receiver_id, device_type_id=rollout.device_type_id)
    if rollout.retry_of_id:
        failed = UpdateJob.objects.filter(rollout_id=rollout.retry_of_id).filter(
            JOB_FAILED_OR_TIMED_OUT)
        devices = devices.filter(pk__in=failed.values("device_id"))
    return devices


def _placed(devices, release):
    """`devices` with their place in every rollout's order (`spread`), their refusal for
    `release` (`refusal`, asked of the jobs table) and the state their job starts in
    (`first_state`: awaiting approval where the site asks for it)."""
    return devices.annotate(spread=spread_key(),
                            refusal=refusal_expression({release.device_type_id: release}, active=active_job_exists()),
                            first_state=first_job_state())


def first_job_state() -> Case:
    """The state a device's new job starts in, as `update_job_create` decides it for one site:
    awaiting approval at a site whose consent asks for it, else queued."""
    return Case(When(site_consent(RemoteUpdate.APPROVAL), then=Value(JobState.AWAITING_APPROVAL.value)),
                default=Value(JobState.QUEUED.value), output_field=CharField())


def rollout_order(*, receiver: Receiver, release):
    """The devices a rollout of `release` on `receiver` would queue if it started now, in the
    order its waves take them (the canary first): for a demo or a test that must know which
    panels a wave will hold."""
    devices = Device.objects.filter(receiver=receiver, device_type_id=release.device_type_id)
    return _placed(devices, release).filter(refusal=ELIGIBLE).order_by("spread")


def _refusal_counts(rollout: Rollout) -> Counter:
    """Refusal code -> devices of the rollout, "" for those it would queue (one query).

    The jobs table says which devices have an active job, as for every write decision, but
    joined once (at most one active job per device: the partial unique index) rather than an
    EXISTS per device: PostgreSQL costs an EXISTS inside the CASE as one index probe per
    device even when it runs it as one hashed subplan, and that cost (850,000 for 100,000
    sites) turned on JIT compilation, ~300 ms of a ~400 ms count (bench `rollouts`)."""
    active = FilteredRelation("update_jobs", condition=Q(update_jobs__state__in=ACTIVE_STATES))
    rows = (rollout_devices(rollout).annotate(active_job_row=active)
            .annotate(refusal=refusal_expression({rollout.release.device_type_id: rollout.release},
                                                 active=Q(active_job_row__device__isnull=False)))
            .values_list("refusal").annotate(n=Count("id")).order_by())
    return Counter(dict(rows))


def rollout_start(*, receiver: Receiver, device_type: DeviceType, actor, waves=None, wave_counts=None,
                  success_threshold_percent: int = 90, error_threshold_percent: int | None = 10,
                  error_threshold_count: int | None = None, error_threshold_min: int = 5,
                  approve_each_wave: bool = False, install_window=None, retry_of: Rollout | None = None,
                  ) -> tuple[Rollout, bool]:
    """Start (or join) the rollout of the current release in waves; returns (rollout, created).

    A duplicate request while one is open returns the open one (unique constraint). A
    rollout with nothing to queue is refused (UpdateNotAllowed nothing_to_queue) with the
    reasons, not started. `install_window` is (start, end) times, or None for the receiver's.
    """
    actor = Actor.of(actor)
    release = current_release_required(device_type=device_type)
    open_rollout = Rollout.objects.filter(receiver=receiver, device_type=device_type,
                                          state__in=Rollout.OPEN_STATES).first()
    if open_rollout:
        return open_rollout, False
    rollout = Rollout(
        receiver=receiver, device_type=device_type, release=release, created_by=actor.user, retry_of=retry_of,
        success_threshold_percent=success_threshold_percent, error_threshold_percent=error_threshold_percent,
        error_threshold_count=error_threshold_count, error_threshold_min=error_threshold_min,
        approve_each_wave=approve_each_wave,
    )
    if install_window:
        rollout.install_window_start, rollout.install_window_end = install_window
    counts = _refusal_counts(rollout)
    eligible = counts.pop(ELIGIBLE, 0)
    if not eligible:
        raise UpdateNotAllowed(Refusal.NOTHING_TO_QUEUE, device_type=device_type, receiver=receiver.name,
                               reasons=_reasons_words(counts))
    plan = plan_waves(eligible=eligible, percents=waves, counts=wave_counts)
    try:
        with transaction.atomic():
            rollout.total = sum(counts.values()) + eligible
            rollout.eligible = eligible
            rollout.save()
            previous = 0
            for number, target in enumerate(plan, start=1):
                RolloutWave.objects.create(rollout=rollout, number=number, target=target,
                                           size=(target or eligible) - previous)
                previous = target or eligible
            rollout_event_record(rollout=rollout, actor=actor, kind="started", details={
                "release": release.version, "eligible": eligible, "waves": [w or eligible for w in plan]})
    except IntegrityError:
        return Rollout.objects.get(receiver=receiver, device_type=device_type, state__in=Rollout.OPEN_STATES), False
    from ..tasks import rollout_run

    enqueue_after_commit(rollout_run, rollout.pk)
    return rollout, True


def _reasons_words(counts: Counter) -> str:
    return "; ".join(count_words(Refusal.short_of(code), n) for code, n in counts.most_common()) or gettext("no sites")


def rollout_event_record(*, rollout: Rollout, actor: Actor, kind: str, details: dict | None = None) -> RolloutEvent:
    return RolloutEvent.objects.create(rollout=rollout, actor=actor.user, actor_label=actor.label, kind=kind,
                                       details=details or {})


def rollout_run(*, rollout_id: int) -> Rollout:
    """Queue the rollout's current wave, batch by batch; safe to re-run.

    A pending rollout starts its first wave here. Returns once the wave is queued, or at
    once when the rollout is paused or ended (nothing new is queued then).
    """
    from .rollout_control import rollout_evaluate, wave_start

    rollout = Rollout.objects.select_related("release", "receiver", "device_type", "created_by").get(pk=rollout_id)
    if rollout.state == Rollout.State.PENDING:
        wave_start(rollout_id=rollout.pk, actor=None)
    while rollout_run_batch(rollout_id=rollout.pk):
        pass
    rollout_evaluate(rollout_id=rollout.pk)
    rollout.refresh_from_db()
    return rollout


def rollout_run_batch(*, rollout_id: int) -> bool:
    """Queue the next batch of the current wave; returns False when nothing is left to do now.

    A constant number of queries per batch whatever its size: lock the rollout and its
    wave, read the devices (with their refusal, from the jobs table), insert the jobs and
    point the devices at them (Device.active_job; on SQLite one more statement, executed per
    new job), insert their events, advance the cursor and counters. Jobs and events are
    built by the database (INSERT ... SELECT), and devices are read as tuples: a
    100,000-device rollout spent most of its time in Python before (bench `update_all`).
    """
    with transaction.atomic():
        rollout = (Rollout.objects.select_for_update(of=("self",)).select_related("release", "receiver", "created_by")
                   .get(pk=rollout_id))
        if rollout.state != Rollout.State.RUNNING:
            return False
        wave = RolloutWave.objects.select_for_update().filter(rollout=rollout, number=rollout.current_wave).first()
        if wave is None or wave.queueing_done:
            return False
        release = rollout.release
        batch_size = settings.ROLLOUT_BATCH_SIZE
        room = None if wave.target is None else max(wave.target - rollout.queued, 0)
        if room == 0:  # late joiners already filled it
            RolloutWave.objects.filter(pk=wave.pk).update(queueing_done=True)
            return False
        batch = _placed(rollout_devices(rollout), release).filter(spread__gt=rollout.cursor).order_by("spread")
        rows = list(batch.values_list("pk", "serial", "refusal", "spread", "first_state")[:batch_size])
        examined, to_queue, skipped = [], [], Counter()
        for row in rows:
            if room is not None and len(to_queue) >= room:
                break
            examined.append(row)
            if row[2] == ELIGIBLE:
                to_queue.append(row[0])
            else:
                skipped[row[2]] += 1
        exhausted = len(rows) < batch_size and len(examined) == len(rows)
        now = timezone.now()
        created = []
        if to_queue:
            created = _jobs_insert(rollout=rollout, wave=wave, release=release,
                                   devices=Device.objects.filter(pk__in=to_queue), now=now,
                                   device_ids=(min(to_queue) - 1, max(to_queue)))
            if created is None:  # no INSERT ... RETURNING (SQLite < 3.35): read them back
                created = list(UpdateJob.objects.filter(wave=wave, device_id__in=to_queue, created_at=now,
                                                        state__in=START_STATES)
                               .values_list("pk", "device_id"))
        if created:
            # Ids grow, and the lock keeps other runs of this rollout out: this batch's jobs are
            # the wave's jobs between the lowest and highest new id.
            ids = [pk for pk, _ in created]
            jobs = UpdateJob.objects.filter(wave=wave, pk__gte=min(ids), pk__lte=max(ids))
            _events_insert(rollout=rollout, wave=wave, release=release, jobs=jobs, now=now)
            if not _jobs_insert_points_devices():
                _devices_point_at(created)
            device_jobs_prune(devices=jobs.values("device_id"))
        lost_race = len(to_queue) - len(created)
        if lost_race:
            skipped[Refusal.ALREADY_UPDATING.value] += lost_race
        queued = rollout.queued + len(created)
        cursor = FANOUT_END if exhausted else (examined[-1][3] if examined else rollout.cursor)
        Rollout.objects.filter(pk=rollout.pk).update(
            cursor=cursor, processed=rollout.processed + len(examined), queued=queued,
            skipped=dict(Counter(rollout.skipped) + skipped), heartbeat_at=now,
        )
        wave_full = wave.target is not None and queued >= wave.target
        RolloutWave.objects.filter(pk=wave.pk).update(queued=wave.queued + len(created),
                                                      queueing_done=wave_full or exhausted)
        if exhausted:
            # Every device was examined: the later waves have nobody left to queue.
            RolloutWave.objects.filter(rollout=rollout, number__gt=wave.number).update(queueing_done=True)
        # Woken: the panels whose job is queued; one awaiting approval is woken when approved.
        serials = {pk: serial for pk, serial, _, _, first in examined if first == JobState.QUEUED}
        _wakeup_online(rollout=rollout, serials=[serials[device_id] for _, device_id in created
                                                 if device_id in serials])
    return not (wave_full or exhausted)


def rollout_late_joiners(*, rollout: Rollout) -> int:
    """Queue, into the current wave (or the last), the sites that became eligible after the
    fan-out passed them: a panel registered, a channel added, hardware replaced. Devices
    the fan-out has not reached yet are left to it, and a device the rollout queued already
    is never queued by it again, whatever became of its job: a failed site is retried by
    `rollout_retry_failed` (the operator's decision), an operator's cancel stands, and each
    site counts once in the waves. A constant number of queries."""
    with transaction.atomic():
        rollout = (Rollout.objects.select_for_update(of=("self",)).select_related("release", "receiver", "created_by")
                   .get(pk=rollout.pk))
        if rollout.state != Rollout.State.RUNNING:
            return 0
        wave = RolloutWave.objects.filter(rollout=rollout, number=rollout.current_wave).first()
        if wave is None:
            return 0
        release = rollout.release
        devices = (_placed(rollout_devices(rollout), release)
                   .filter(spread__lte=rollout.cursor, refusal=ELIGIBLE)
                   .exclude(Exists(UpdateJob.objects.filter(rollout=rollout, device=OuterRef("pk")))))
        ids = list(devices.values_list("pk", flat=True)[:settings.ROLLOUT_BATCH_SIZE])
        if not ids:
            return 0
        now = timezone.now()
        created = _jobs_insert(rollout=rollout, wave=wave, release=release, devices=Device.objects.filter(pk__in=ids),
                               now=now, device_ids=(min(ids) - 1, max(ids)))
        if created is None:
            created = list(UpdateJob.objects.filter(wave=wave, device_id__in=ids, created_at=now)
                           .values_list("pk", "device_id"))
        if created:
            job_ids = [pk for pk, _ in created]
            _events_insert(rollout=rollout, wave=wave, release=release, now=now,
                           jobs=UpdateJob.objects.filter(pk__in=job_ids))
            if not _jobs_insert_points_devices():
                _devices_point_at(created)
            device_jobs_prune(devices=[device_id for _, device_id in created])
            Rollout.objects.filter(pk=rollout.pk).update(queued=F("queued") + len(created),
                                                         joined_late=F("joined_late") + len(created))
            RolloutWave.objects.filter(pk=wave.pk).update(queued=F("queued") + len(created))
            serials = (UpdateJob.objects.filter(pk__in=job_ids, state=JobState.QUEUED)
                       .values_list("device__serial", flat=True))
            _wakeup_online(rollout=rollout, serials=list(serials))
            log.info("rollout %s: %d late joiner(s) queued in wave %s", rollout.pk, len(created), wave.number)
    return len(created)


class _AsJSON(Func):
    """A JSON column as a value inside JSON_OBJECT: SQLite keeps JSON as text, which
    JSON_OBJECT would otherwise embed as one string."""

    template = "%(expressions)s"
    output_field = JSONField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="JSON(%(expressions)s)", **extra_context)


def _jobs_insert_points_devices() -> bool:
    # PostgreSQL runs the UPDATE in the INSERT's own statement (a data-modifying WITH).
    return connection.vendor == "postgresql"


def _jobs_insert(*, rollout: Rollout, wave: RolloutWave, release, devices, now,
                 device_ids: tuple[int, int]) -> list[tuple[int, int]] | None:
    """Queue a job for each of `devices` (a queryset); returns (job id, device id) of those
    created, or None where the database cannot say (then the caller reads them back).

    The snapshot is device_snapshot() computed by the database. ON CONFLICT DO NOTHING: the
    partial unique index keeps the job an operator queued between our read and this insert.
    On PostgreSQL the same statement points the devices at their new jobs (Device.active_job)
    from the inserted rows: no second pass over the jobs, no extra query per batch. The
    batch's id range (`device_ids`: after the first, up to the second) bounds the devices
    the UPDATE reads (after the first, up to the second): without it PostgreSQL hashed the
    whole device table for each batch.
    """
    snapshot = JSONObject(partitions=_AsJSON(F("partitions")), settings_digest=F("settings_digest"),
                          firmware_version=F("firmware_version"))
    wrap = None
    if _jobs_insert_points_devices():
        q = connection.ops.quote_name
        device = q(Device._meta.db_table)
        after, last = (int(i) for i in device_ids)
        wrap = (f"WITH new AS ({{insert}}), pointed AS (UPDATE {device} SET "
                f"{q(Device._meta.get_field('active_job').column)} = new.{q('id')} FROM new "
                f"WHERE {device}.{q('id')} = new.{q('device_id')} AND {device}.{q('id')} > {after} "
                f"AND {device}.{q('id')} <= {last}) SELECT {q('id')}, {q('device_id')} FROM new")
    return _insert_select(UpdateJob, devices, {
        "device_id": F("pk"), "release_id": Value(release.pk), "rollout_id": Value(rollout.pk),
        "wave_id": Value(wave.pk),
        "created_by_id": Value(rollout.created_by_id), "state": first_job_state(),
        "bytes_total": Value(release.size), "snapshot": snapshot, "created_at": now, "state_changed_at": now,
    }, on_conflict_ignore=True, returning=("id", "device_id"), wrap=wrap)


def _events_insert(*, rollout: Rollout, wave: RolloutWave, release, jobs, now) -> None:
    """The new jobs' timelines and the alarm centre's `job.queued`: a statement each."""
    actor_label = rollout.created_by.get_username() if rollout.created_by else "system"
    _insert_select(UpdateJobEvent, jobs, {
        "job_id": F("pk"), "at": now, "actor_id": Value(rollout.created_by_id),
        "actor_label": actor_label, "kind": "transition", "to_state": F("state"),
        "details": {"rollout": rollout.pk, "wave": wave.number, "release": release.version},
    })
    # Held for approval, a job is queued for the alarm centre when approved (update_job_approve).
    jobs_queued_record(jobs=jobs.filter(state=JobState.QUEUED), release=release, at=now)


def _devices_point_at(created: list[tuple[int, int]]) -> None:
    """Device.active_job for the batch's new jobs (job id, device id), where the INSERT
    cannot do it (SQLite): one prepared UPDATE by primary key, executed for each pair. A
    correlated subquery over the batch's jobs made SQLite walk the rollout's jobs once per
    device (100 s for 100,000 devices)."""
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {q(Device._meta.db_table)} SET {q(Device._meta.get_field('active_job').column)} "
                           f"= %s WHERE {q('id')} = %s", created)


def _wakeup_online(*, rollout: Rollout, serials: list[str]) -> None:
    from ..tasks import wakeup_devices

    if not rollout.receiver.wakeup_url or not serials:
        return
    step = settings.WAKEUP_BATCH_SIZE
    for i in range(0, len(serials), step):
        enqueue_after_commit(wakeup_devices, rollout.receiver_id, serials[i:i + step])


def rollout_progress(*, rollout: Rollout) -> dict:
    """Counts of the rollout's jobs by state (one query)."""
    return _count_by_state(rollout.jobs.all())


def rollout_outcomes(*, rollout: Rollout) -> dict:
    """Counts of the rollout's finished jobs by state (one query); the others are in progress
    (`rollout.queued` minus these). Read from a partial index of finished jobs: the panel
    refreshes this every few seconds, and counting all 100,000 jobs of a fresh rollout by
    state took ~40 ms on PostgreSQL."""
    return _count_by_state(rollout.jobs.filter(state__in=TERMINAL_STATES))


def _count_by_state(jobs) -> dict:
    # COUNT(*), not COUNT(id): a rollout's finished jobs are then counted from the partial
    # index alone (index-only scan of update_job_rollout_done_idx). Needing the rows, PostgreSQL
    # took the rollout_id index instead once finished jobs of earlier rollouts filled the table
    # (it takes state and rollout as independent) and read every job of a 100,000-site rollout
    # to find its few finished ones: ~40 ms of each refresh of the device type page.
    return dict(jobs.order_by().values_list("state").annotate(n=Count("*")).values_list("state", "n"))
