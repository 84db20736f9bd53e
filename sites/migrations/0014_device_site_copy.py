"""The site's number and name on the panel's row (sites/search.py): what the device type
page's list sorts by, without joining the sites. Filled here; the triggers `sites.search.install`
makes after every migrate keep them. The SQL is written out rather than imported: a migration
must keep meaning what it meant when it was written.
"""

from django.db import migrations, models

FILL = ("UPDATE sites_device SET site_number = (SELECT s.number FROM sites_site s WHERE s.id = sites_device.site_id), "
        "site_name = COALESCE((SELECT s.name FROM sites_site s WHERE s.id = sites_device.site_id), '') "
        "WHERE site_id IS NOT NULL")


def fill(apps, schema_editor):
    schema_editor.execute(FILL)


class Migration(migrations.Migration):

    dependencies = [
        ('firmware_updates', '0012_job_rollout_count_indexes'),
        ('receivers', '0003_operator_words'),
        ('sites', '0013_tally_seen_day'),
    ]

    operations = [
        migrations.AddField(
            model_name='device',
            name='site_name',
            field=models.CharField(blank=True, default='', editable=False, max_length=200, verbose_name='site name'),
        ),
        migrations.AddField(
            model_name='device',
            name='site_number',
            field=models.PositiveIntegerField(blank=True, editable=False, null=True, verbose_name='site number'),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name='device',
            index=models.Index(fields=['receiver', 'device_type', 'site_number'], name='device_site_number_idx'),
        ),
        migrations.AddIndex(
            model_name='device',
            index=models.Index(fields=['receiver', 'device_type', 'site_name', 'site_number'], name='device_site_name_idx'),
        ),
    ]
