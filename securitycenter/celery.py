"""The Celery app. Tasks live in each app's `tasks.py`; schedules are installed by
`firmware_updates` (see `firmware_updates.schedules`)."""

import os
import warnings

from celery import Celery
from celery.exceptions import CPendingDeprecationWarning

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securitycenter.settings")

# Said at every broker connection loss, whatever the setting: ours is explicit
# (CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS in settings).
warnings.filterwarnings("ignore", message=r"\s*In Celery 5\.1 we introduced an optional breaking change",
                        category=CPendingDeprecationWarning)

app = Celery("securitycenter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
