"""`Device.last_seen` off the request path: a poll records "device X seen at T" in memory, and a
thread of the same process writes what gathered in bulk every DEVICE_SEEN_FLUSH_INTERVAL.

Why: panels poll every few minutes, so with a resolution of 30 s every poll used to write its
panel's `last_seen` — an UPDATE and a commit per poll, which cost the poll half of its
throughput (bench `ddi_poll`: commits queue on SQLite's single writer and on PostgreSQL's
WAL flush). Here a poll only stores a time in a dict; one statement per FLUSH_BATCH devices
writes them, however many polls came in.

What holds (DEVICE_SEEN_FLUSH_INTERVAL = I seconds, per process):
- a poll never waits on the database for `last_seen`: a dict insert under a lock;
- a time recorded is written at most I seconds later (the first time recorded after a flush
  sets the next flush's deadline), and at process exit (`atexit`: gunicorn stopping or
  recycling a worker, runserver reloading, Ctrl-C);
- a process killed outright (SIGKILL, the OOM killer) loses what it held, at most I seconds
  of times; those panels record again at their next poll (the stored time is older than the
  resolution, so nothing skips it);
- `last_seen` never moves backwards, though several processes may hold times of one device;
- a batch the database refuses because of one row is split until that row is found; the
  other devices' times are written. A database that cannot be reached, or a lock that times
  out, keeps the whole batch for the next flush.

Memory is bounded by the fleet: one entry per device, not per poll. Each process has its own
buffer and thread, started by its first record (so after gunicorn's fork, never in the
master); a forked child starts empty. The Celery worker records nothing: no task marks a
device seen. Whether a time goes here or straight to the database is
`sites.services.device_touch`'s decision.
"""

import atexit
import logging
import os
import threading
import time
from datetime import datetime

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connections,
    transaction,
)

from .models import Device

log = logging.getLogger(__name__)

# Devices per statement. Bounds how long a flush holds SQLite's write lock (other writers
# wait meanwhile) and how many times one failure sends back for the next flush.
FLUSH_BATCH = 2000


class _Buffer:
    def __init__(self):
        self._flushing = threading.Lock()  # one flush at a time (the thread, atexit, a caller)
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._pending: dict[int, datetime] = {}
        self._deadline: float | None = None  # monotonic time of the next flush; None: nothing pending
        self._generation = 0  # bumped by discard(): a failed older batch is not put back
        self._thread: threading.Thread | None = None

    def after_fork_in_child(self) -> None:
        # The parent's pending times are the parent's to write; its locks and thread are gone.
        self._flushing = threading.Lock()
        self._reset()

    def record(self, device_id: int, seen: datetime) -> None:
        with self._cond:
            self._merge_locked([(device_id, seen)])
            if self._thread is None:
                self._start()

    def _merge_locked(self, items) -> None:
        """Keep the latest time of each device and arm the next flush (caller holds _cond)."""
        for device_id, seen in items:
            known = self._pending.get(device_id)
            if known is None or seen > known:
                self._pending[device_id] = seen
        if self._deadline is None:
            self._deadline = time.monotonic() + settings.DEVICE_SEEN_FLUSH_INTERVAL
            self._cond.notify()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="last-seen-flusher", daemon=True)
        self._thread.start()
        _register_atexit()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    # A discard() or a new deadline notifies: look again.
                    self._cond.wait(left)
                    continue
            try:
                self.flush()
            except Exception:  # never let the thread die: later polls still need it
                log.exception("last_seen flush failed")
            finally:
                # This thread's own connection: closed, so no idle session stays open per
                # process (poolers, max_connections) and a test database can be dropped.
                connections[DEFAULT_DB_ALIAS].close()

    def flush(self) -> int:
        """Write every pending time now; returns how many devices' rows changed."""
        with self._flushing:
            with self._cond:
                batch, self._pending, self._deadline = self._pending, {}, None
                generation = self._generation
            # In id order, as other bulk writers of devices lock them: no deadlock between us.
            items = sorted(batch.items())
            written = 0
            for start in range(0, len(items), FLUSH_BATCH):
                try:
                    written += _write_isolating(items[start:start + FLUSH_BATCH])
                except (OperationalError, InterfaceError) as exc:
                    # Not a row's fault (connection lost, lock or statement timeout, deadlock):
                    # everything not written yet waits for the next flush.
                    log.warning("last_seen of %d devices kept for the next flush: %s", len(items) - start, exc)
                    self._put_back(items[start:], generation)
                    break
            return written

    def _put_back(self, items, generation: int) -> None:
        with self._cond:
            if generation != self._generation:
                return
            self._merge_locked(items)

    def discard(self) -> None:
        with self._cond:
            self._pending, self._deadline = {}, None
            self._generation += 1
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)


def _write_isolating(chunk: list[tuple[int, datetime]]) -> int:
    """Write `chunk`; if the database refuses it for a row (a constraint, a trigger), write the
    halves separately, down to that one row, which is logged and dropped."""
    try:
        return _write(chunk)
    except (OperationalError, InterfaceError):
        raise
    except DatabaseError as exc:
        if len(chunk) == 1:
            log.error("last_seen of device %s not written: %s", chunk[0][0], exc)
            return 0
        middle = len(chunk) // 2
        return _write_isolating(chunk[:middle]) + _write_isolating(chunk[middle:])


def _write(chunk: list[tuple[int, datetime]]) -> int:
    """One statement for the whole chunk; a row only moves forward in time. A device deleted
    meanwhile matches no row."""
    conn = connections[DEFAULT_DB_ALIAS]
    q = conn.ops.quote_name
    table, pk = q(Device._meta.db_table), q(Device._meta.pk.column)
    column = q(Device._meta.get_field("last_seen").column)
    if conn.vendor == "postgresql":
        # Two arrays, so the SQL text is the same for any number of devices.
        sql = (f"UPDATE {table} AS d SET {column} = v.seen "
               f"FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, seen) "
               f"WHERE d.{pk} = v.id AND (d.{column} IS NULL OR d.{column} < v.seen)")
        with conn.cursor() as cursor:
            cursor.execute(sql, [[device_id for device_id, _ in chunk], [seen for _, seen in chunk]])
            return cursor.rowcount
    # SQLite runs in this process: a prepared statement per row costs no round trip; what costs
    # is the commit, and there is one per chunk.
    adapt = conn.ops.adapt_datetimefield_value
    sql = f"UPDATE {table} SET {column} = %s WHERE {pk} = %s AND ({column} IS NULL OR {column} < %s)"
    rows = [(adapt(seen), device_id, adapt(seen)) for device_id, seen in chunk]
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        cursor.executemany(sql, rows)
        return cursor.rowcount


_buffer = _Buffer()
os.register_at_fork(after_in_child=_buffer.after_fork_in_child)
_atexit_registered = False


def _at_exit() -> None:
    # Also when nothing is pending: flush() waits for the thread's flush in flight, which the
    # interpreter would otherwise cut short (the thread is a daemon).
    try:
        if written := _buffer.flush():
            log.info("last_seen: %d devices written at exit", written)
    except Exception:
        log.exception("last_seen flush at exit failed")
    finally:
        connections[DEFAULT_DB_ALIAS].close()


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_at_exit)
        _atexit_registered = True


def last_seen_record(*, device_id: int, seen: datetime) -> None:
    """Remember that the device was heard from at `seen`; written within the flush interval."""
    _buffer.record(device_id, seen)


def last_seen_flush() -> int:
    """Write what this process holds now (the thread and process exit do it by themselves);
    returns how many devices' rows changed."""
    return _buffer.flush()


def last_seen_pending() -> int:
    """How many devices' times this process holds, not yet written."""
    return _buffer.pending()


def last_seen_discard() -> None:
    """Forget what this process holds (tests: a test's panels must not write into the next
    test's database)."""
    _buffer.discard()
