"""Beat schedules, installed by the project itself after every migrate."""

from django.conf import settings

RECONCILE_TASK = "firmware_updates.tasks.reconcile"


def install(**_kwargs) -> None:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every, _ = IntervalSchedule.objects.get_or_create(
        every=settings.RECONCILE_INTERVAL, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.update_or_create(
        name="Reconcile firmware update jobs",
        defaults={"task": RECONCILE_TASK, "interval": every, "enabled": True},
    )


def install_on_migrate(sender, **kwargs) -> None:
    install()
