"""The device protocol's hot reads, each one statement composed once per process.

Every panel polls every few minutes and fetches its archive in many ranges, so these are the
most frequent reads of the product (benches `ddi_poll`, `ddi_download`). Through the ORM, a
poll took two queries and building their SQL cost far more CPU than running them (more than
half of a poll's time; a download spent half its time on the release query). Here each
statement is composed once per process from the models' own metadata
(tables, columns, field converters), so a column a colleague adds is read too, and rows
become model instances through `Model.from_db` with the fields' converters, exactly as the
ORM builds them.

On PostgreSQL the statements are also prepared, once per connection (`_cursor`): planning
the device statement cost the database more than running it (bench `ddi_poll`: database CPU
per poll 0.43 -> 0.18 ms, polls 0.66x -> 0.84x the bare view's).

- `device_by_token_digest`: the device behind a TargetToken, its receiver and its newest job;
- `release_by_pk`: a release (what an artifact download serves).
"""

import weakref

from django.db import DEFAULT_DB_ALIAS, connections

from receivers.models import Receiver
from sites.models import Device

from ..models import Release, UpdateJob

# What a poll (views.poll, payloads.controller_base) and an artifact download (views.artifact,
# services.job_download_progress) read of the newest job; the rest of the row is deferred, as
# `.only()` would.
JOB_FIELDS = ("id", "device_id", "release_id", "state", "state_before_cancel", "confirmed_at",
              "finished_at", "bytes_downloaded", "bytes_total")


def _fields(model, attnames=None) -> list:
    # In the model's field order: `Model.from_db` pairs a subset of values with fields so.
    return [f for f in model._meta.concrete_fields if attnames is None or f.attname in attnames]


def _device_sql(conn, q, parts) -> str:
    device, receiver, job = (q(model._meta.db_table) for model, _, _ in parts)
    column = lambda model, name: q(model._meta.get_field(name).column)  # noqa: E731
    joined = (f"FROM {device} d INNER JOIN {receiver} r "
              f"ON r.{q('id')} = d.{column(Device, 'receiver')} ")
    where = f"WHERE d.{column(Device, 'token_hash')} = %s"
    # The newest job by id: at most one job is active, and a new one is only queued once
    # the previous one has finished, so the newest is the active one if there is one.
    if conn.vendor == "postgresql":
        # LATERAL halves PostgreSQL's planning time, which is most of this query's cost.
        return (joined + f"LEFT JOIN LATERAL (SELECT * FROM {job} x WHERE x.{column(UpdateJob, 'device')} = "
                f"d.{q('id')} ORDER BY x.{q('id')} DESC LIMIT 1) j ON TRUE " + where)
    return (joined + f"LEFT OUTER JOIN {job} j ON j.{q('id')} = (SELECT MAX(x.{q('id')}) FROM {job} x "
            f"WHERE x.{column(UpdateJob, 'device')} = d.{q('id')}) " + where)


def _release_sql(conn, q, parts) -> str:
    return f"FROM {q(Release._meta.db_table)} rel WHERE rel.{q('id')} = %s"


STATEMENTS = {
    "device": (lambda: [(Device, "d", _fields(Device)), (Receiver, "r", _fields(Receiver)),
                        (UpdateJob, "j", _fields(UpdateJob, JOB_FIELDS))], _device_sql),
    "release": (lambda: [(Release, "rel", _fields(Release))], _release_sql),
}


class _Statement:
    """One statement's SQL and per-column converters, for one database connection."""

    def __init__(self, conn, name: str):
        q = conn.ops.quote_name
        parts_of, tail = STATEMENTS[name]
        parts = parts_of()
        columns = [f"{alias}.{q(f.column)}" for _model, alias, fields in parts for f in fields]
        self.sql = f"SELECT {', '.join(columns)} {tail(conn, q, parts)}"
        compiler = Device.objects.none().query.get_compiler(connection=conn)
        self.converters = compiler.get_converters(
            [f.get_col(model._meta.db_table) for model, _, fields in parts for f in fields]
        )
        self.apply = compiler.apply_converters
        self.slices, start = [], 0
        for model, _alias, fields in parts:
            self.slices.append((model, [f.attname for f in fields], start, start + len(fields)))
            start += len(fields)

    def row(self, conn, params) -> list | None:
        with _cursor(conn) as cursor:
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
        return None if row is None else next(self.apply([row], self.converters))

    def instance(self, conn, row, index: int):
        model, names, start, end = self.slices[index]
        return model.from_db(conn.alias, names, row[start:end])


def _cursor(conn):
    """A cursor for the hot statements. On PostgreSQL (with DATABASE_PREPARED_STATEMENTS, the
    default) one that binds parameters on the server, so psycopg prepares each statement on a
    connection's first use and later executions skip parsing and planning; everything else
    in the product keeps Django's client-side binding, which psycopg never prepares.
    Through Django's own wrapper, so errors, the query log and execute wrappers work as ever.
    """
    if conn.vendor != "postgresql" or conn.settings_dict["OPTIONS"].get("prepare_threshold") is None:
        return conn.cursor()
    from django.db.backends.postgresql import base

    # As Django's BaseDatabaseWrapper._cursor() and create_cursor(), with another class.
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    with conn.wrap_database_errors:
        conn.validate_thread_sharing()
        cursor = base.ServerBindingCursor(conn.connection)
        tzloader = conn.connection.adapters.get_loader(base.TIMESTAMPTZ_OID, base.Format.TEXT)
        if conn.timezone != tzloader.timezone:
            base.register_tzloader(conn.timezone, cursor)
        return conn.make_debug_cursor(cursor) if conn.queries_logged else conn.make_cursor(cursor)


# Per connection (each thread has its own, and converters are bound to it), per statement.
_statements: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _statement(conn, name: str) -> _Statement:
    mine = _statements.setdefault(conn, {})
    if name not in mine:
        mine[name] = _Statement(conn, name)
    return mine[name]


def device_by_token_digest(digest: str) -> tuple[Device, UpdateJob | None] | None:
    """(device with its receiver, its newest job or None) for a TargetToken digest, or None."""
    conn = connections[DEFAULT_DB_ALIAS]
    statement = _statement(conn, "device")
    row = statement.row(conn, [digest])
    if row is None:
        return None
    device = statement.instance(conn, row, 0)
    device.receiver = statement.instance(conn, row, 1)
    job = statement.instance(conn, row, 2) if row[statement.slices[2][2]] is not None else None
    if job is not None:
        job.device = device
    return device, job


def release_by_pk(pk: int) -> Release | None:
    conn = connections[DEFAULT_DB_ALIAS]
    statement = _statement(conn, "release")
    row = statement.row(conn, [pk])
    return None if row is None else statement.instance(conn, row, 0)
