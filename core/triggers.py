"""The triggers the project keeps in the database (the tallies, core/tally.py; the
search text, sites/search.py), made afresh after every migrate: SQLite drops a table's
triggers when a migration rebuilds the table, and a newer version's replace an older's."""

from django.db import connection, transaction


def remake(triggers, statements) -> None:
    """Drop `triggers` ((table, name) pairs) and run `statements`, which make them again, in
    one transaction: no write is missed between the drop and the create."""
    postgresql = connection.vendor == "postgresql"
    with transaction.atomic(), connection.cursor() as cursor:
        for table, name in triggers:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgresql else ""))
        for sql in statements:
            cursor.execute(sql)
