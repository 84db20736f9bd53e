"""Rollout events for the Security Center: webhooks configured per receiver.

Each event is POSTed as JSON to every active webhook of the rollout's receiver by a Celery
task (after the commit that decided it), retried with back-off while the endpoint fails.
The body is signed: `X-Signature-SHA256: sha256=<hex HMAC-SHA256 of the body under the
webhook's secret>`, so the console can check it came from us (docs/webhooks.md).

Events: wave.started, rollout.paused (with the reason), rollout.resumed, rollout.completed,
rollout.stopped, job.failed.
"""

import hashlib
import hmac
import json
import logging

from django.conf import settings
from django.utils import timezone

from core.http import PostFailed, post_json
from core.outages import enqueue_after_commit

from ..models import Rollout, Webhook

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Signature-SHA256"


class WebhookFailed(PostFailed):
    """The endpoint did not answer 2xx; the task retries with back-off."""


def rollout_notify(*, rollout: Rollout, event: str, **data) -> int:
    """Send `event` about `rollout` to its receiver's webhooks once this transaction commits
    (one query for the webhooks); returns how many will be sent."""
    return rollout_notify_many(rollout=rollout, events=[(event, data)])


def rollout_notify_many(*, rollout: Rollout, events: list[tuple[str, dict]]) -> int:
    """`rollout_notify` for several events at once, still one query for the webhooks."""
    hooks = list(Webhook.objects.filter(receiver_id=rollout.receiver_id, is_active=True).values_list("pk", flat=True))
    if not hooks or not events:
        return 0
    from ..tasks import webhook_deliver

    about = {"id": rollout.pk, "receiver": rollout.receiver.code, "device_type": rollout.device_type.code,
             "release": rollout.release.version, "state": rollout.state}
    for event, data in events:
        body = json.dumps({"event": event, "at": timezone.now().isoformat(), "rollout": about, **data},
                          sort_keys=True)
        for pk in hooks:
            # Not re-sent by reconciliation: a lost event is only logged.
            enqueue_after_commit(webhook_deliver, pk, body, if_lost="the webhook event is lost")
    return len(hooks) * len(events)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_send(*, webhook: Webhook, body: str) -> int:
    """POST one event; returns the status. Network I/O: runs outside any transaction."""
    data = body.encode()
    try:
        status = post_json(webhook.url, data, timeout=settings.WEBHOOK_TIMEOUT,
                           headers={SIGNATURE_HEADER: signature(webhook.secret, data)})
    except PostFailed as exc:
        raise WebhookFailed(str(exc)) from None
    log.info("webhook %s: %s delivered", webhook.pk, json.loads(body).get("event"))
    return status
