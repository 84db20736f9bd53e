# Device.active_job: the device's active update job, kept by the job services.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('firmware_updates', '0002_rollout_heartbeat'),
        ('sites', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='device',
            name='active_job',
            field=models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='firmware_updates.updatejob', db_constraint=False),
        ),
    ]
