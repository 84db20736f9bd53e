"""The Celery app. Tasks live in each app's `tasks.py`; schedules are installed by
`firmware_updates` (see `firmware_updates.schedules`)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securitycenter.settings")

app = Celery("securitycenter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
