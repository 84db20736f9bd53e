# A rollout's jobs by state in one index (which also serves the rollout foreign key).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('firmware_updates', '0002_rollout_heartbeat'),
    ]

    operations = [
        migrations.AlterField(
            model_name='updatejob',
            name='rollout',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='jobs', to='firmware_updates.rollout'),
        ),
        migrations.AddIndex(
            model_name='updatejob',
            index=models.Index(fields=['rollout', 'state'], name='update_job_rollout_state_idx'),
        ),
    ]
