"""A site's address (the panel's search finds it), and Device.last_outcome filled from the jobs:
the state of each device's newest finished job (one statement). On PostgreSQL, trigram indexes
for the panel's search (firmware_updates.selectors.site_search_q): a word in the names,
addresses or serials of 100,000 sites is found through an index, not by reading them all
(bench `find`, docs/benchmarks.md). They need the pg_trgm extension, trusted since
PostgreSQL 13 (a database owner may create it); without it the search still works, slower,
and the migration says so.

The states are written out rather than imported: a migration must keep meaning what it meant
when it was written, whatever firmware_updates.models says later.
"""

import logging

from django.db import DatabaseError, migrations, models, transaction
from django.db.models import Exists, OuterRef, Subquery

log = logging.getLogger(__name__)
# Over what Django's icontains compares: UPPER(column::text) LIKE UPPER(pattern).
TRIGRAM_INDEXES = [("site_name_trgm", "sites_site", "name"), ("site_address_trgm", "sites_site", "address"),
                   ("device_serial_trgm", "sites_device", "serial")]

FINISHED_STATES = ["cancelled", "failed", "succeeded"]


def fill(apps, schema_editor):
    Device = apps.get_model("sites", "Device")
    UpdateJob = apps.get_model("firmware_updates", "UpdateJob")
    finished = UpdateJob.objects.filter(device=OuterRef("pk"), state__in=FINISHED_STATES)
    Device.objects.filter(Exists(finished)).update(
        last_outcome=Subquery(finished.order_by("-created_at", "-pk").values("state")[:1]))


def trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        log.warning("pg_trgm could not be created (%s): the panel's search works without its indexes, "
                    "slower on large fleets; create the extension and run this migration again", exc)
        return
    for name, table, column in TRIGRAM_INDEXES:
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" '
                              f'USING gin (UPPER("{column}"::text) gin_trgm_ops)')


def trigram_indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, _, _ in TRIGRAM_INDEXES:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):

    dependencies = [
        ("firmware_updates", "0005_heartbeat"),
        ("sites", "0005_device_serial_rule"),
    ]

    operations = [
        migrations.AddField(
            model_name="device",
            name="last_outcome",
            field=models.CharField(blank=True, editable=False, max_length=16),
        ),
        migrations.AddField(
            model_name="site",
            name="address",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(trigram_indexes, trigram_indexes_drop),
    ]
