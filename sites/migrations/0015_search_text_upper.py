"""The panel's search text kept upper-cased (sites/search.py, `SearchContains`): the search
compares each row as stored rather than upper-casing every candidate's text, and the trigram
index is over the column itself.

The triggers that keep the text are dropped first (an older trigger would write the text back
as it was); `sites.search.install` makes this version's after this migrate, and its repair
finds nothing left to write. Written out rather than imported, as 0012 is.
"""

import logging

from django.db import DatabaseError, migrations, transaction

log = logging.getLogger(__name__)

TRIGGERS = (("sites_device", "sites_device_search_text"), ("sites_device", "sites_device_search_text_insert"),
            ("sites_site", "sites_site_search_text"))


def upper(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    for table, name in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgresql else ""))
    schema_editor.execute("UPDATE sites_device SET search_text = UPPER(search_text) "
                          "WHERE search_text <> UPPER(search_text)")
    if postgresql:
        schema_editor.execute('DROP INDEX IF EXISTS "device_search_trgm"')
        _trigram_index(schema_editor, 'gin ("search_text" gin_trgm_ops)')


def lower_back(apps, schema_editor):
    """Back to 0014's index (the text itself is made again by that version's repair)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('DROP INDEX IF EXISTS "device_search_trgm"')
        _trigram_index(schema_editor, 'gin (UPPER("search_text") gin_trgm_ops)')


def _trigram_index(schema_editor, method: str) -> None:
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        log.warning("pg_trgm could not be created (%s): the panel's search works without its index, "
                    "slower on large fleets; create the extension and run this migration again", exc)
        return
    schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "device_search_trgm" ON "sites_device" USING {method}')


class Migration(migrations.Migration):

    dependencies = [
        ('sites', '0014_device_site_copy'),
    ]

    operations = [
        migrations.RunPython(upper, lower_back),
    ]
