"""Which connection a hot read goes through.

`prepared` (securitycenter/settings.py, PostgreSQL only) is a copy of `default` whose cursors
bind parameters on the server and prepare each statement on a connection's first use, so a
statement composed once per process is also planned once per connection. The reads that use
it: the device protocol's (firmware_updates/ddi/lookup.py) and the device type page's rows
(firmware_updates.selectors.device_type_sites). Everything else reads through `default`.

It is another connection, so it sees only what is committed: `read_connection` gives
`default` while `default` is inside a transaction (its uncommitted writes are only there; a
test's `db` fixture), and when the alias is absent (SQLite, DATABASE_PREPARED_STATEMENTS=0).
"""

from datetime import datetime

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, lookups

PREPARED = "prepared"


def read_connection():
    """The prepared alias's connection, unless `default` is inside a transaction or there is
    no such alias."""
    default = connections[DEFAULT_DB_ALIAS]
    if PREPARED not in settings.DATABASES or (
        default.connection is not None and not default.get_autocommit()
    ):
        return default
    return connections[PREPARED]


def _upper(text):
    return None if text is None else str(text).upper()


def on_connection_created(sender, connection, **kwargs) -> None:
    """Every connection Django opens: SQLite's UPPER for every letter; PostgreSQL's times
    read by a loader in C."""
    if connection.vendor == "sqlite":
        sqlite_functions(connection)
    elif connection.vendor == "postgresql":
        postgresql_time_loader(connection)


def sqlite_functions(connection) -> None:
    """SQLite's UPPER folds ASCII letters alone: "Фьорд" stays "Фьорд". Replaced by Python's,
    which folds every letter as PostgreSQL's does, so the panel's search text
    (sites/search.py: kept upper-cased, compared with the word upper-cased by the same
    function) finds a Russian name in any case there too."""
    connection.connection.create_function("upper", 1, _upper, deterministic=True)


class _FoldedOnSQLite:
    """A case-insensitive lookup (`iexact`, `icontains`, `istartswith`, `iendswith`) that, on
    SQLite, compares `UPPER(column) LIKE UPPER(pattern)` with Python's UPPER
    (`sqlite_functions`), as Django's PostgreSQL backend compares (`UPPER(column::text)`).
    SQLite's own LIKE folds ASCII letters alone, so "фьорд" did not find "Пекарня «Фьорд»"
    in the receiver's sites, the API's `sites/?q=` or the admin's search on the embedded
    default. Other databases compile the lookup as Django does."""

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if self.rhs_is_direct_value():  # an expression's pattern is upper-cased by Django already
            rhs = f"UPPER({rhs})"
        return f"UPPER({lhs}) {self.get_rhs_op(connection, rhs)}", [*lhs_params, *rhs_params]


def fold_case_insensitive_lookups() -> None:
    """Every field's case-insensitive lookups folded on SQLite (`_FoldedOnSQLite`); once, at
    start (core/apps.py)."""
    for lookup in (lookups.IExact, lookups.IContains, lookups.IStartsWith, lookups.IEndsWith):
        Field.register_lookup(type(lookup.__name__, (_FoldedOnSQLite, lookup), {}))


def postgresql_time_loader(connection) -> None:
    """Django reads every `timestamptz` through a loader of its own written in Python
    (psycopg's regular expression, then `replace(tzinfo=...)`): 11 µs a value, 3 to 5 ms of
    the device type page's 270 times and of the rollouts API's 700. `datetime.fromisoformat`
    (C) reads PostgreSQL's ISO text in 2.6 µs, to the same value in the same zone: Django
    keeps the session's TimeZone equal to `connection.timezone`, so moving the parsed time
    into that zone is what Django's `replace` does. What it cannot read (infinity, years
    past 9999) goes to Django's loader, which refuses it as before."""
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    zone = connection.timezone
    if zone is None:  # USE_TZ off: Django's loader makes naive times; left to it
        return

    class TimestamptzLoader(BaseTzLoader):
        timezone = zone  # Django's cursor() compares it with the connection's

        def load(self, data):
            try:
                return datetime.fromisoformat(bytes(data).decode()).astimezone(zone)
            except ValueError:
                return super().load(data)

    connection.connection.adapters.register_loader("timestamptz", TimestamptzLoader)
