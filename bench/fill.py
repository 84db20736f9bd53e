"""Fast fleet filling: COPY on PostgreSQL, executemany in big transactions on SQLite.

Going through the ORM (`bulk_create`) builds a model instance per row and, on SQLite, cuts
inserts into 999-parameter statements: minutes for a million devices. Here rows are plain
tuples with the primary keys assigned by us (so devices can point at their sites without
reading ids back), and the sequences are moved past them afterwards.

Every column of the model is written: those the caller gives per row, and the field's
default for the rest, so a column a colleague adds with a default needs no change here.
"""

import json
import time
from collections.abc import Iterable, Sequence
from itertools import islice

from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone

CHUNK = 100_000  # rows per executemany / per SQLite transaction


def db_value(field: models.Field, value):
    """A Python value as the database driver takes it (JSON as text, datetimes per backend)."""
    if value is None:
        return None
    if isinstance(field, models.JSONField):
        return json.dumps(value)
    return field.get_db_prep_save(value, connection)


def column_value(model: type[models.Model], attname: str, value):
    """`db_value` by attribute name, for constants the caller prepares once."""
    return db_value(_field(model, attname), value)


def _field(model, attname):
    return next(f for f in model._meta.concrete_fields if f.attname == attname)


def _default(field: models.Field, now):
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return db_value(field, now)
    if field.has_default():
        return db_value(field, field.get_default())
    return None if field.null else db_value(field, field.get_default())


def next_id(model: type[models.Model]) -> int:
    top = model.objects.order_by("-pk").values_list("pk", flat=True).first()
    return (top or 0) + 1


def bulk_insert(model: type[models.Model], attnames: Sequence[str], rows: Iterable[tuple]) -> int:
    """Insert `rows` (values for `attnames`, ready for the driver); returns the row count."""
    now = timezone.now()
    given = set(attnames)
    rest = [f for f in model._meta.concrete_fields if f.attname not in given]
    columns = [_field(model, a).column for a in attnames] + [f.column for f in rest]
    tail = tuple(_default(f, now) for f in rest)
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    table = connection.ops.quote_name(model._meta.db_table)
    count = 0
    rows = iter(rows)
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + tail)
                    count += 1
    else:
        sql = f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(['%s'] * len(columns))})"
        while chunk := [row + tail for row in islice(rows, CHUNK)]:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, chunk)
            count += len(chunk)
    return count


def sequences_reset(*model_list: type[models.Model]) -> None:
    """Move the id sequences past the ids we assigned (no-op on SQLite, which uses max(id))."""
    statements = connection.ops.sequence_reset_sql(no_style(), list(model_list))
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def analyze(*model_list: type[models.Model]) -> None:
    """After a bulk load, what production's background gives it within a minute: the tallies'
    appended rows folded (core/tally.py; beat folds every RECONCILE_INTERVAL), and on
    PostgreSQL vacuum and fresh planner statistics (autovacuum). SQLite: no ANALYZE, as Django
    never runs it there either."""
    from firmware_updates.tally import JOB_TALLY
    from sites.tally import DEVICE_TALLY

    for tally in (DEVICE_TALLY, JOB_TALLY):
        tally.fold()
    if connection.vendor != "postgresql":
        return
    model_list = (*model_list, DEVICE_TALLY.model, JOB_TALLY.model)
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in model_list)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {tables}")


def delete_where(model: type[models.Model], where: str, params: Sequence) -> None:
    """A raw DELETE: fleets of a million rows go without the ORM's collector."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)} WHERE {where}", params)


def active_jobs_forget(receiver_id: int) -> None:
    """NULL `Device.active_job` on a receiver's devices, before its jobs go by `delete_where`
    (they would point at jobs that are gone otherwise)."""
    from sites.models import Device

    table, column = Device._meta.db_table, Device._meta.get_field("active_job").column
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {q(table)} SET {q(column)} = NULL WHERE receiver_id = %s AND {q(column)} IS NOT NULL",
                       [receiver_id])


class Stopwatch:
    def __init__(self):
        self.start = time.monotonic()

    def __str__(self):
        return f"{time.monotonic() - self.start:.1f} s"
