"""Beat schedules, installed by the project itself after every migrate."""

from django.conf import settings

RECONCILE_TASK = "firmware_updates.tasks.reconcile"
ACTIVE_JOB_REPAIR_TASK = "firmware_updates.tasks.active_job_repair"
EVENTS_PRUNE_TASK = "firmware_updates.tasks.events_prune"
SIGNIN_FAILURES_PRUNE_TASK = "firmware_updates.tasks.signin_failures_prune"
SESSIONS_CLEAR_TASK = "firmware_updates.tasks.sessions_clear"
TALLY_FOLD_TASK = "firmware_updates.tasks.device_tally_fold"
TALLY_CHECK_TASK = "firmware_updates.tasks.device_tally_check"
JOB_TALLY_FOLD_TASK = "firmware_updates.tasks.job_tally_fold"
JOB_TALLY_CHECK_TASK = "firmware_updates.tasks.job_tally_check"


def install(**_kwargs) -> None:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    for name, task, seconds in [
        ("Reconcile firmware update jobs", RECONCILE_TASK, settings.RECONCILE_INTERVAL),
        ("Repair Device.active_job from the jobs", ACTIVE_JOB_REPAIR_TASK, settings.ACTIVE_JOB_REPAIR_INTERVAL),
        ("Delete events older than EVENT_RETENTION_DAYS", EVENTS_PRUNE_TASK, settings.EVENT_PRUNE_INTERVAL),
        ("Delete failed sign-ins older than SIGNIN_FAILURE_RETENTION_DAYS", SIGNIN_FAILURES_PRUNE_TASK,
         settings.HOUSEKEEPING_INTERVAL),
        ("Delete expired sessions", SESSIONS_CLEAR_TASK, settings.HOUSEKEEPING_INTERVAL),
        # The fleet's tally (sites/tally.py): its appended rows summed; its counts checked.
        ("Fold the fleet's device tally", TALLY_FOLD_TASK, settings.RECONCILE_INTERVAL),
        ("Check the fleet's device tally against the devices", TALLY_CHECK_TASK, settings.ACTIVE_JOB_REPAIR_INTERVAL),
        # The rollouts' job tally (firmware_updates/tally.py), the same.
        ("Fold the rollouts' job tally", JOB_TALLY_FOLD_TASK, settings.RECONCILE_INTERVAL),
        ("Check the rollouts' job tally against the jobs", JOB_TALLY_CHECK_TASK, settings.ACTIVE_JOB_REPAIR_INTERVAL),
    ]:
        every, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "interval": every, "enabled": True})


def install_on_migrate(sender, **kwargs) -> None:
    install()
