"""The device tally's `last_seen` becomes the day of the last contact (sites/tally.py), no
longer only "seen or never": the statistics then read directly only the panels gone quiet on
the offline threshold's day, not every panel quiet for a month.

Its rows are counted differently, so they go, with the triggers that wrote them the old way;
`sites.tally.install_on_migrate` makes both again after this migrate (an empty tally is rewritten from
the devices without a word: a new install's). Backwards the same: the older code's install
counts afresh.
"""

from django.db import migrations

TRIGGERS = ("sites_device_tally_insert", "sites_device_tally_update", "sites_device_tally_delete")


def tally_empty(apps, schema_editor):
    on = " ON sites_device" if schema_editor.connection.vendor == "postgresql" else ""
    for name in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}{on}")
    schema_editor.execute("DELETE FROM sites_devicetally")


class Migration(migrations.Migration):

    dependencies = [
        ('sites', '0012_device_search_text'),
    ]

    operations = [
        migrations.RunPython(tally_empty, tally_empty),
    ]
