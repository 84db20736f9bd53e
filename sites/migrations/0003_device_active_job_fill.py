"""Fill Device.active_job from the jobs that are active now (one statement).

The states are written out rather than imported: a migration must keep meaning what it meant
when it was written, whatever firmware_updates.models says later.
"""

from django.db import migrations
from django.db.models import Exists, OuterRef, Subquery

ACTIVE_STATES = ["cancelling", "delivered", "downloaded", "downloading", "installing", "queued", "ready"]


def fill(apps, schema_editor):
    Device = apps.get_model("sites", "Device")
    UpdateJob = apps.get_model("firmware_updates", "UpdateJob")
    active = UpdateJob.objects.filter(device=OuterRef("pk"), state__in=ACTIVE_STATES)
    Device.objects.filter(Exists(active)).update(active_job=Subquery(active.values("pk")[:1]))


class Migration(migrations.Migration):
    dependencies = [
        ("sites", "0002_device_active_job"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop, elidable=True)]
