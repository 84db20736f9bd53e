"""The device protocol's hot reads, each one statement composed once per process.

Every panel polls every few minutes and fetches its archive in many ranges, so these are the
most frequent reads of the product (benches `ddi_poll`, `ddi_download`). Through the ORM, a
poll took two queries and building their SQL cost far more CPU than running them (more than
half of a poll's time; a download spent half its time on the release query). Here each
statement is composed once per process from the models' own metadata
(tables, columns, field converters), so a column a colleague adds is read too, and rows
become model instances through `Model.from_db` with the fields' converters, exactly as the
ORM builds them.

On PostgreSQL the statements are also prepared, once per connection: planning the device
statement cost the database more than running it (bench `ddi_poll`: database CPU per poll
0.43 -> 0.18 ms, polls 0.66x -> 0.84x the bare view's). They run on the database alias
`prepared` (`securitycenter/settings.py`): the same database as `default`, with Django's
documented psycopg options `server_side_binding` (its cursors bind parameters on the server,
which psycopg can prepare; Django's default client-side binding never is) and
`prepare_threshold` 0 (psycopg prepares a statement on its first execution on a connection).
Only these reads and the device type page's rows use that alias (core/db.py); the rest of
the product keeps `default`. Why an alias:
binding is chosen per connection (Django's `cursor_factory`), not per statement, and making
it the default's would change every query of the product. The price: a web thread may hold
two connections to PostgreSQL (README.md).

Another connection sees only what is committed. The callers read at the start of a device
request, in autocommit, before that request writes anything (`auth.authenticate`, then
`views._downloadable_release` after at most `device_touch`, which commits), so nothing is
missed. A lookup called while `default` is inside a transaction (`atomic`, a test's `db`
fixture) reads through `default` instead, and so sees that transaction's writes; so does
every lookup when the alias is absent (SQLite, `DATABASE_PREPARED_STATEMENTS=0`):
`core.db.read_connection`. Instances
are built as `default`'s, as the ORM would have read them: their saves and related reads go
through `default`, as before.

- `device_by_token_digest`: the device behind a TargetToken, its receiver and its newest job;
- `release_by_pk`: a release (what an artifact download serves);
- `delta_by_pk`: a release's delta (what it serves instead to a job sent the delta).
"""

import weakref

from django.db import DEFAULT_DB_ALIAS

from core.db import read_connection
from receivers.models import Receiver
from sites.models import Device

from ..models import Release, ReleaseDelta, UpdateJob

# What a poll (views.poll, payloads.controller_base) and an artifact download (views.artifact,
# services.job_download_progress) read of the newest job; the rest of the row is deferred, as
# `.only()` would.
JOB_FIELDS = ("id", "device_id", "release_id", "state", "state_before_cancel", "confirmed_at",
              "finished_at", "bytes_downloaded", "bytes_total", "delta_id")


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


def _delta_sql(conn, q, parts) -> str:
    return f"FROM {q(ReleaseDelta._meta.db_table)} dl WHERE dl.{q('id')} = %s"


STATEMENTS = {
    # Not the search's words (sites/search.py): no poll reads them, and a row is ~60 bytes less.
    "device": (lambda: [(Device, "d", [f for f in _fields(Device) if f.attname != "search_text"]),
                        (Receiver, "r", _fields(Receiver)),
                        (UpdateJob, "j", _fields(UpdateJob, JOB_FIELDS))], _device_sql),
    "release": (lambda: [(Release, "rel", _fields(Release))], _release_sql),
    "delta": (lambda: [(ReleaseDelta, "dl", _fields(ReleaseDelta))], _delta_sql),
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
        with conn.cursor() as cursor:
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
        return None if row is None else next(self.apply([row], self.converters))

    def instance(self, row, index: int):
        model, names, start, end = self.slices[index]
        # As read by `default` (the same database), so saves and related reads go there.
        return model.from_db(DEFAULT_DB_ALIAS, names, row[start:end])


# Per connection (each thread has its own, and converters are bound to it), per statement.
_statements: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _statement(conn, name: str) -> _Statement:
    mine = _statements.setdefault(conn, {})
    if name not in mine:
        mine[name] = _Statement(conn, name)
    return mine[name]


def device_by_token_digest(digest: str) -> tuple[Device, UpdateJob | None] | None:
    """(device with its receiver, its newest job or None) for a TargetToken digest, or None."""
    conn = read_connection()
    statement = _statement(conn, "device")
    row = statement.row(conn, [digest])
    if row is None:
        return None
    device = statement.instance(row, 0)
    device.receiver = statement.instance(row, 1)
    job = statement.instance(row, 2) if row[statement.slices[2][2]] is not None else None
    if job is not None:
        job.device = device
    return device, job


def release_by_pk(pk: int) -> Release | None:
    conn = read_connection()
    statement = _statement(conn, "release")
    row = statement.row(conn, [pk])
    return None if row is None else statement.instance(row, 0)


def delta_by_pk(pk: int) -> ReleaseDelta | None:
    conn = read_connection()
    statement = _statement(conn, "delta")
    row = statement.row(conn, [pk])
    return None if row is None else statement.instance(row, 0)
