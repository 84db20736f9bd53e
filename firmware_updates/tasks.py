"""Celery tasks: take ids, load, call one service. Safe to run twice (acks_late)."""

from celery import shared_task

from core import events, signin
from core.http import PostFailed
from receivers.models import Receiver
from sites import tally

from . import services
from .tally import JOB_TALLY


@shared_task(acks_late=True)
def rollout_run(rollout_id: int) -> None:
    services.rollout_run(rollout_id=rollout_id)


def retried_post(*, backoff_max: int, retries: int):
    """A task that POSTs to someone else's endpoint: retried with jittered exponential
    back-off from 5 s while the endpoint fails (core.http.PostFailed)."""
    return shared_task(acks_late=True, autoretry_for=(PostFailed,), retry_backoff=5,
                       retry_backoff_max=backoff_max, retry_jitter=True, max_retries=retries)


@retried_post(backoff_max=600, retries=8)
def wakeup_devices(receiver_id: int, serials: list[str]) -> int:
    receiver = Receiver.objects.filter(pk=receiver_id).first()
    if receiver is None:
        return 0
    return services.wakeup_send(receiver=receiver, serials=serials)


@shared_task(acks_late=True)
def events_publish() -> int:
    return services.events_publish()


@shared_task(acks_late=True)
def webhook_deliver(webhook_id: int) -> int:
    # Its own back-off and retries (the webhook's row says when), not Celery's: a retry lost
    # with the broker is sent again by beat's reconciliation.
    return services.webhook_deliver(webhook_id=webhook_id)


@shared_task(acks_late=True)
def events_prune() -> int:
    return events.events_prune()


@shared_task(acks_late=True)
def signin_failures_prune() -> int:
    return signin.signin_failures_prune()


@shared_task(acks_late=True)
def sessions_clear() -> None:
    signin.sessions_clear()


@shared_task(acks_late=True)
def reconcile() -> dict:
    return services.reconcile()


@shared_task(acks_late=True)
def active_job_repair() -> int:
    return services.device_active_job_repair()


@shared_task(acks_late=True)
def device_tally_fold() -> int:
    return tally.fold()


@shared_task(acks_late=True)
def device_tally_check() -> int:
    return tally.check()


@shared_task(acks_late=True)
def job_tally_fold() -> int:
    return JOB_TALLY.fold()


@shared_task(acks_late=True)
def job_tally_check() -> int:
    return JOB_TALLY.check()
