"""The words the panel's search reads, on the device's row (sites/search.py): serial, site name
and address. Filled here, kept by triggers that `sites.search.install` makes after every
migrate. On PostgreSQL, a trigram index over it (as sites/migrations/0009's over the sites'
names and addresses: without pg_trgm the search works, slower, and the migration says so).

The text's SQL is written out rather than imported: a migration must keep meaning what it
meant when it was written, whatever sites/search.py says later.
"""

import logging

from django.db import DatabaseError, migrations, models, transaction

log = logging.getLogger(__name__)

FILL = ("UPDATE sites_device SET search_text = sites_device.serial || COALESCE((SELECT ' ' || s.name || ' ' || "
        "s.address FROM sites_site s WHERE s.id = sites_device.site_id), '')")


def fill(apps, schema_editor):
    schema_editor.execute(FILL)


def trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        log.warning("pg_trgm could not be created (%s): the panel's search works without its index, "
                    "slower on large fleets; create the extension and run this migration again", exc)
        return
    schema_editor.execute('CREATE INDEX IF NOT EXISTS "device_search_trgm" ON "sites_device" '
                          'USING gin (UPPER("search_text") gin_trgm_ops)')


def trigram_index_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('DROP INDEX IF EXISTS "device_search_trgm"')


class Migration(migrations.Migration):

    dependencies = [
        ('sites', '0011_device_tally'),
    ]

    operations = [
        migrations.AddField(
            model_name='device',
            name='search_text',
            field=models.TextField(blank=True, default='', editable=False, verbose_name='search text'),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(trigram_index, trigram_index_drop),
    ]
