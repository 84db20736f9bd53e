"""The rollouts' job tally (firmware_updates/tally.py). Created empty: its triggers are made,
and its rows counted from the jobs, by the install after this migrate. The rollout card's
partial index goes: the card reads the tally."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('firmware_updates', '0012_job_rollout_count_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='JobTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('rollout_id', models.BigIntegerField(null=True)),
                ('wave_id', models.BigIntegerField(null=True)),
                ('state', models.CharField(max_length=24)),
                ('confirmed_at', models.DateTimeField(null=True)),
                ('timed_out', models.CharField(max_length=32)),
                ('n', models.IntegerField()),
            ],
            options={
                'verbose_name': 'job tally',
            },
        ),
        migrations.RemoveIndex(
            model_name='updatejob',
            name='update_job_rollout_settled_idx',
        ),
        migrations.AddIndex(
            model_name='jobtally',
            index=models.Index(fields=['rollout_id'], name='job_tally_rollout_idx'),
        ),
    ]
