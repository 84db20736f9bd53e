"""The alarm centre's events (docs/security-center.md): written here, read by the feed and the
webhooks.

- `record` / `record_bulk` write events in the caller's transaction (one INSERT, or one per
  batch of `BATCH` for a fleet): the event commits with the change it reports or not at all.
- `events_sequence` gives committed events their feed position (the feed's `id`). Why not
  the primary key: on PostgreSQL two transactions take ids 9 and 10 from the sequence, 10
  commits first, a console polling `after=8` reads 10 and then asks `after=10`, and 9, once
  committed, is never seen. So positions are handed out after commit by one sequencer at a
  time (an advisory lock on PostgreSQL; SQLite's writers take turns anyway), in one
  statement per batch: every event a reader can see in the feed committed before the
  positions above it were given, and positions never go back (retention keeps the newest
  event, so `MAX(position)` never falls). Writers are never serialised: the lock is taken
  only by the sequencer, which the feed, the webhook delivery and beat's reconciliation run.
- Subscribers (`subscribe`) are called once after each commit that recorded events: the
  update app sends its webhook delivery task from there (core imports no app).
"""

from collections.abc import Callable, Iterable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, TextChoices, Value
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .bulk import delete_in_batches, insert_select
from .models import Event

__all__ = ["BATCH", "EventType", "build", "events_prune", "events_sequence", "record", "record_bulk", "record_select",
           "subscribe", "types_validate"]

BATCH = 2000
SEQUENCE_BATCH = 10_000
# Any constant shared by every sequencer: pg_advisory_xact_lock's key ("evts").
SEQUENCE_LOCK = 0x65767473


class EventType(TextChoices):
    """The event types the feed and the webhooks carry (docs/security-center.md)."""

    JOB_QUEUED = "job.queued", _("Update queued")
    JOB_INSTALL_STARTED = "job.install_started", _("Install started")
    JOB_SUCCEEDED = "job.succeeded", _("Update succeeded")
    JOB_FAILED = "job.failed", _("Update failed")
    JOB_CANCELLED = "job.cancelled", _("Update cancelled")
    JOB_TIMED_OUT = "job.timed_out", _("Update timed out")
    DEVICE_NOT_RETURNED = "device.not_returned", _("Panel did not come back after the update")
    DEVICE_RETURNED = "device.returned", _("Panel came back")
    SITE_REMOTE_UPDATE_CHANGED = "site.remote_update_changed", _("Site's remote update consent changed")
    WAVE_STARTED = "wave.started", _("Rollout wave started")
    ROLLOUT_PAUSED = "rollout.paused", _("Rollout paused")
    ROLLOUT_RESUMED = "rollout.resumed", _("Rollout resumed")
    ROLLOUT_STOPPED = "rollout.stopped", _("Rollout stopped")
    ROLLOUT_COMPLETED = "rollout.completed", _("Rollout completed")


def types_validate(value) -> None:
    """A list of event types (a webhook's choice): each one known."""
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValidationError(_('Give the event types as a list, e.g. ["job.failed", "device.not_returned"].'))
    if unknown := [t for t in value if t not in EventType.values]:
        raise ValidationError(_("Unknown event type %(types)s; known: %(known)s.") % {
            "types": ", ".join(unknown), "known": ", ".join(EventType.values)})


def build(type: str, *, receiver: str | None = None, site_number=None, serial: str | None = None,
          job: int | None = None, rollout: int | None = None, data: dict | None = None, at=None) -> Event:
    """An unsaved event, for `record_bulk`."""
    return Event(type=type, at=at or timezone.now(), receiver=receiver or "", site_number=site_number,
                 serial=serial or "", job=job, rollout=rollout, data=data or {})


def record(type: str, *, receiver: str | None = None, site_number=None, serial: str | None = None,
           job: int | None = None, rollout: int | None = None, data: dict | None = None) -> Event:
    """Write one event in the caller's transaction (at once in autocommit)."""
    event = build(type, receiver=receiver, site_number=site_number, serial=serial, job=job, rollout=rollout,
                  data=data)
    event.save(force_insert=True)
    _announce_after_commit()
    return event


def record_bulk(events: Iterable[Event]) -> int:
    """Write events made by `build` in the caller's transaction: one INSERT per `BATCH`."""
    events = list(events)
    if events:
        Event.objects.bulk_create(events, batch_size=BATCH)
        _announce_after_commit()
    return len(events)


def record_select(type: str, source, *, receiver, site_number=None, serial=None, job=None, rollout=None,
                  data: dict | None = None, at=None) -> None:
    """One event per row of `source` (a queryset), built by the database in one statement
    (INSERT ... SELECT) in the caller's transaction: for a fleet's jobs, whose receiver, site
    and serial are joined rather than read into Python. The keywords are expressions over
    `source` (`F("device__serial")`) or constants; `data` is the same for every row."""
    values = {"type": type, "at": at or timezone.now(), "receiver": receiver, "site_number": site_number,
              "serial": serial, "job": job, "rollout": rollout,
              "data": Value(data or {}, output_field=Event._meta.get_field("data"))}
    insert_select(Event, source, {name: value for name, value in values.items() if value is not None})
    _announce_after_commit()


# --- After commit: the subscribers ----------------------------------------------------------

_subscribers: list[Callable[[], None]] = []


def subscribe(callback: Callable[[], None]) -> None:
    """Call `callback()` once after each commit that recorded events (from an AppConfig.ready)."""
    if callback not in _subscribers:
        _subscribers.append(callback)


def _announce() -> None:
    for callback in list(_subscribers):
        callback()


def _announce_after_commit() -> None:
    # Once per transaction (and savepoint) however many events it records: look for our own
    # callback among those waiting for this commit, registered at the same savepoint (Django
    # keeps (savepoint ids, func, robust); a savepoint rolled back drops its own).
    conn = transaction.get_connection()
    if conn.in_atomic_block:
        here = set(conn.savepoint_ids)
        if any(entry[1] is _announce and entry[0] == here for entry in conn.run_on_commit):
            return
    transaction.on_commit(_announce)


# --- The feed's positions -------------------------------------------------------------------

def events_sequence(*, batch: int = SEQUENCE_BATCH) -> int:
    """Give every committed event without a position the next positions, in `id` order; returns
    how many. One statement per `batch` events, under the sequencer's lock (module docstring)."""
    table = connection.ops.quote_name(Event._meta.db_table)
    total = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCE_LOCK])
                # The subquery's MAX is read once (uncorrelated); the unique index on position
                # would refuse a second sequencer's duplicate if the lock were ever skipped.
                cursor.execute(
                    f"UPDATE {table} SET position = numbered.position FROM ("
                    f" SELECT id, (SELECT COALESCE(MAX(position), 0) FROM {table})"
                    f"   + ROW_NUMBER() OVER (ORDER BY id) AS position"
                    f" FROM {table} WHERE position IS NULL ORDER BY id LIMIT %s"
                    f") AS numbered WHERE {table}.id = numbered.id",
                    [batch],
                )
                done = cursor.rowcount
        total += done
        if done < batch:
            return total


def events_prune(*, now=None) -> int:
    """Delete events older than EVENT_RETENTION_DAYS, in the feed's order. The newest event is
    always kept, so a position is never handed out twice (`events_sequence` counts from the
    highest). Returns how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENT_RETENTION_DAYS)
    newest = Event.objects.aggregate(newest=Max("position"))["newest"]
    if newest is None:
        return 0
    return delete_in_batches(Event.objects.filter(at__lt=cutoff, position__lt=newest).order_by("position"),
                             batch=BATCH)
