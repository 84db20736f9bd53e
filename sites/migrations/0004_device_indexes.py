# Device indexes: no LIKE-pattern twins of the unique serial and token_hash, no receiver_id
# index of its own (device_fleet_idx starts with it). Fewer indexes for each device update.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('receivers', '0001_initial'),
        ('sites', '0003_device_active_job_fill'),
    ]

    operations = [
        migrations.AlterField(
            model_name='device',
            name='receiver',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='devices', to='receivers.receiver'),
        ),
        migrations.AlterField(
            model_name='device',
            name='serial',
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name='device',
            name='token_hash',
            field=models.CharField(blank=True, editable=False, max_length=64, null=True),
        ),
        migrations.AddConstraint(
            model_name='device',
            constraint=models.UniqueConstraint(fields=('serial',), name='device_serial_unique'),
        ),
        migrations.AddConstraint(
            model_name='device',
            constraint=models.UniqueConstraint(fields=('token_hash',), name='device_token_hash_unique'),
        ),
    ]
