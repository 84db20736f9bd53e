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

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

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


def sqlite_functions(sender, connection, **kwargs) -> None:
    """SQLite's UPPER folds ASCII letters alone: "Фьорд" stays "Фьорд". Replaced, on every
    connection Django opens, by Python's, which folds every letter as PostgreSQL's does, so
    the panel's search text (sites/search.py: kept upper-cased, compared with the word
    upper-cased by the same function) finds a Russian name in any case there too."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("upper", 1, _upper, deterministic=True)
