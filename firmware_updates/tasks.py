"""Celery tasks: take ids, load, call one service. Safe to run twice (acks_late)."""

from celery import shared_task

from core.http import PostFailed
from receivers.models import Receiver

from . import services
from .models import Webhook


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


@retried_post(backoff_max=900, retries=12)
def webhook_deliver(webhook_id: int, body: str) -> int:
    webhook = Webhook.objects.filter(pk=webhook_id, is_active=True).first()
    if webhook is None:
        return 0
    return services.webhook_send(webhook=webhook, body=body)


@shared_task(acks_late=True)
def reconcile() -> dict:
    return services.reconcile()


@shared_task(acks_late=True)
def active_job_repair() -> int:
    return services.device_active_job_repair()
