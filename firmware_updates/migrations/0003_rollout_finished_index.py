# A partial index of each rollout's finished jobs (the panel counts them on each refresh).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('firmware_updates', '0002_rollout_heartbeat'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='updatejob',
            index=models.Index(condition=models.Q(('state__in', ['cancelled', 'failed', 'succeeded'])), fields=['rollout', 'state'], name='update_job_rollout_done_idx'),
        ),
    ]
