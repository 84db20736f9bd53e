"""A site's address (the panel's search finds it), and Device.last_outcome filled from the jobs:
the state of each device's newest finished job (one statement).

The states are written out rather than imported: a migration must keep meaning what it meant
when it was written, whatever firmware_updates.models says later.
"""

from django.db import migrations, models
from django.db.models import Exists, OuterRef, Subquery

FINISHED_STATES = ["cancelled", "failed", "succeeded"]


def fill(apps, schema_editor):
    Device = apps.get_model("sites", "Device")
    UpdateJob = apps.get_model("firmware_updates", "UpdateJob")
    finished = UpdateJob.objects.filter(device=OuterRef("pk"), state__in=FINISHED_STATES)
    Device.objects.filter(Exists(finished)).update(
        last_outcome=Subquery(finished.order_by("-created_at", "-pk").values("state")[:1]))


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
    ]
