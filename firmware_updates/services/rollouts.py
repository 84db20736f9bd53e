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
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, Func, JSONField, OuterRef, Value
from django.db.models.functions import JSONObject
from django.utils import timezone

from receivers.models import Receiver
from sites.models import Device, DeviceType

from ..eligibility import ELIGIBLE, active_job_exists, refusal_expression
from ..errors import Refusal
from ..models import TERMINAL_STATES, JobState, Rollout, UpdateJob, UpdateJobEvent
from .jobs import Actor, current_release_required

log = logging.getLogger(__name__)


def rollout_start(*, receiver: Receiver, device_type: DeviceType, actor) -> tuple[Rollout, bool]:
    """Start (or join) the rollout of the current release; returns (rollout, created).

    A duplicate request while one is open returns the open one (unique constraint).
    """
    actor = Actor.of(actor)
    release = current_release_required(device_type=device_type)
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
    rollout = Rollout.objects.select_related("release", "receiver", "device_type", "created_by").get(pk=rollout_id)
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

    Five queries per batch whatever its size: lock the rollout, read the devices, insert the
    jobs and point the devices at them (Device.active_job; on SQLite a sixth statement, run
    for each new job), insert their events, advance the cursor and counters. Jobs and events are built
    by the database (INSERT ... SELECT) rather than one model instance each, and devices are
    read as tuples: a 100,000-device rollout spent most of its time in Python before
    (bench `update_all`, docs/benchmarks.md).
    """
    release = rollout.release
    batch_size = settings.ROLLOUT_BATCH_SIZE
    with transaction.atomic():
        locked = Rollout.objects.select_for_update().get(pk=rollout.pk)
        # The eligibility rule, asked of the jobs table (a decision that writes).
        batch = (
            Device.objects.filter(receiver_id=rollout.receiver_id, device_type_id=rollout.device_type_id,
                                  pk__gt=locked.cursor)
            .annotate(refusal=refusal_expression({release.device_type_id: release}, active=active_job_exists()))
            .order_by("pk")
        )
        devices = list(batch.values_list("pk", "serial", "refusal")[:batch_size])
        if not devices:
            return False
        skipped = Counter(refusal for _, _, refusal in devices if refusal != ELIGIBLE)
        to_queue = [pk for pk, _, refusal in devices if refusal == ELIGIBLE]
        refused = [pk for pk, _, refusal in devices if refusal != ELIGIBLE]
        last = devices[-1][0]
        now = timezone.now()
        in_batch = batch.filter(pk__lte=last)
        # The shorter id list of the two: usually few devices are refused.
        chosen = in_batch.filter(pk__in=to_queue) if len(to_queue) < len(refused) else in_batch.exclude(
            pk__in=refused)
        created = _jobs_insert(rollout=rollout, release=release, devices=chosen, now=now,
                               device_ids=(locked.cursor, last)) if to_queue else []
        if created is None:  # no INSERT ... RETURNING (SQLite < 3.35): read them back
            created = list(
                UpdateJob.objects.filter(rollout=rollout, device_id__gt=locked.cursor, device_id__lte=last)
                .exclude(Exists(UpdateJobEvent.objects.filter(job=OuterRef("pk"))))
                .values_list("pk", "device_id")
            )
        if created:
            # Ids grow, and the lock keeps other runs of this rollout out: this batch's jobs are
            # the rollout's jobs between the lowest and highest new id.
            ids = [pk for pk, _ in created]
            jobs = UpdateJob.objects.filter(rollout=rollout, pk__gte=min(ids), pk__lte=max(ids))
            _events_insert(rollout=rollout, release=release, jobs=jobs, now=now)
            if not _jobs_insert_points_devices():
                _devices_point_at(created)
        lost_race = len(to_queue) - len(created)
        if lost_race:
            skipped[Refusal.ALREADY_UPDATING.value] += lost_race
        merged = Counter(locked.skipped) + skipped
        Rollout.objects.filter(pk=rollout.pk).update(
            cursor=last, processed=locked.processed + len(devices),
            queued=locked.queued + len(created), skipped=dict(merged), heartbeat_at=now,
        )
        serials = {pk: serial for pk, serial, _ in devices}
        _wakeup_online(rollout=rollout, serials=[serials[device_id] for _, device_id in created])
    return len(devices) == batch_size


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


def _jobs_insert(*, rollout: Rollout, release, devices, now, device_ids: tuple[int, int]) -> list[tuple[int, int]] | None:
    """Queue a job for each of `devices` (a queryset); returns (job id, device id) of those
    created, or None where the database cannot say (then the caller reads them back).

    The snapshot is device_snapshot() computed by the database. ON CONFLICT DO NOTHING: the
    partial unique index keeps the job an operator queued between our read and this insert.
    On PostgreSQL the same statement points the devices at their new jobs (Device.active_job)
    from the inserted rows: no second pass over the jobs, no extra query per batch. The
    batch's id range (`device_ids`: after the first, up to the second) bounds the devices
    the UPDATE reads: without it PostgreSQL hashed the whole device table for each batch.
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
        "created_by_id": Value(rollout.created_by_id), "state": Value(JobState.QUEUED),
        "bytes_total": Value(release.size), "snapshot": snapshot, "created_at": now, "state_changed_at": now,
    }, on_conflict_ignore=True, returning=("id", "device_id"), wrap=wrap)


def _events_insert(*, rollout: Rollout, release, jobs, now) -> None:
    actor_label = rollout.created_by.get_username() if rollout.created_by else "system"
    _insert_select(UpdateJobEvent, jobs, {
        "job_id": F("pk"), "at": now, "actor_id": Value(rollout.created_by_id),
        "actor_label": actor_label, "kind": "transition", "to_state": JobState.QUEUED,
        "details": {"rollout": rollout.pk, "release": release.version},
    })


def _devices_point_at(created: list[tuple[int, int]]) -> None:
    """Device.active_job for the batch's new jobs (job id, device id), where the INSERT
    cannot do it (SQLite): one prepared UPDATE by primary key, executed for each pair. A
    correlated subquery over the batch's jobs made SQLite walk the rollout's jobs once per
    device (100 s for 100,000 devices)."""
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {q(Device._meta.db_table)} SET {q(Device._meta.get_field('active_job').column)} "
                           f"= %s WHERE {q('id')} = %s", created)


def _insert_select(model, source, values: dict, *, on_conflict_ignore: bool = False,
                   returning: tuple[str, ...] = (), wrap: str | None = None) -> list[tuple] | None:
    """INSERT INTO model SELECT <values> FROM source: every row built by the database.

    `values` maps attnames to expressions over `source` or to constants; other columns get
    their field default, nullable ones are left NULL. `wrap`, a statement with `{insert}` in
    it, runs the INSERT inside it (rows returned: the statement's).
    """
    columns, select = [], {}
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        value = values[field.attname] if field.attname in values else (
            None if field.null else field.get_default())
        if value is None or (isinstance(value, Value) and value.value is None):
            continue  # NULL: the column's own default
        if not hasattr(value, "resolve_expression"):
            value = Value(value, output_field=field)
        columns.append(connection.ops.quote_name(field.column))
        select[f"c{len(columns)}"] = value
    # Annotations only, added in column order: the SELECT lists them in that order.
    sql, params = source.order_by().annotate(**select).values_list(*select).query.sql_with_params()
    suffix = " ON CONFLICT DO NOTHING" if on_conflict_ignore else ""
    returns = returning and connection.features.can_return_rows_from_bulk_insert
    if returns:
        suffix += " RETURNING " + ", ".join(map(connection.ops.quote_name, returning))
    insert = f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({', '.join(columns)}) {sql}{suffix}"
    with connection.cursor() as cursor:
        cursor.execute(wrap.format(insert=insert) if wrap else insert, params)
        return [tuple(row) for row in cursor.fetchall()] if returns else None


def _wakeup_online(*, rollout: Rollout, serials: list[str]) -> None:
    from ..tasks import wakeup_devices

    if not rollout.receiver.wakeup_url or not serials:
        return
    step = settings.WAKEUP_BATCH_SIZE
    for i in range(0, len(serials), step):
        transaction.on_commit(partial(wakeup_devices.delay, rollout.receiver_id, serials[i:i + step]))


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
    return dict(jobs.order_by().values_list("state").annotate(n=Count("id")).values_list("state", "n"))
