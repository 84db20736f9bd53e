"""The alarm centre's events on their way out: rollout events written, and every event of a
receiver delivered to its webhooks (docs/webhooks.md, docs/security-center.md).

Events are rows of one table (core.models.Event), written in the transaction of the change
they report; the feed (`GET /api/v1/events/`) and the webhooks both read it. For the
webhooks the table is an outbox:

- after each commit that recorded events, `events_publish` runs on the worker: it gives the
  new events their feed positions and sends `webhook_deliver` for each active webhook with
  events past its cursor (`Webhook.delivered_through`);
- `webhook_deliver` POSTs them one by one, in the feed's order, signed
  (`X-Signature-SHA256: sha256=<hex HMAC-SHA256 of the body under the webhook's secret>`),
  advancing the cursor after each 2xx. A failure waits (5 s, 10 s, 20 s, ... at most 15 min,
  jittered) and tries the same event again; after WEBHOOK_MAX_TRIES tries it is given up
  with a warning and the next one goes. One delivery per webhook at a time (a lease taken by
  compare-and-swap), so the order holds with several workers;
- beat's reconciliation runs `events_publish` too: a task the broker lost (down when the
  event committed) or a retry it lost is sent again within RECONCILE_INTERVAL, so an event
  is never lost with the broker, only late.
"""

import hashlib
import hmac
import json
import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from core import events
from core.http import PostFailed, post_json
from core.models import Event
from core.outages import enqueue_after_commit

from ..models import Rollout, Webhook

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Signature-SHA256"
# Events one delivery task sends before it hands over to a new one (other webhooks' tasks get
# their turn on a busy worker).
DELIVERY_BATCH = 100
BACKOFF_FIRST, BACKOFF_MAX = 5, 900


class WebhookFailed(PostFailed):
    """The endpoint did not answer 2xx; the event is tried again after a back-off."""


def rollout_notify(*, rollout: Rollout, event: str, **data) -> None:
    """Record the rollout event `event` in the caller's transaction (the rollout's own decision).

    Its data says what the rollout was at that moment (device type, release, state), besides
    the event's own fields (`wave`, `reason`, `paused_by`, ...).
    """
    events.record(event, receiver=rollout.receiver.code, rollout=rollout.pk, data={
        "device_type": rollout.device_type.code, "release": rollout.release.version, "state": rollout.state,
        **data})


# --- The outbox -------------------------------------------------------------------------------

def events_committed() -> None:
    """core.events' subscriber (apps.py): events were committed; publish them if anyone listens."""
    from ..tasks import events_publish

    if Webhook.objects.filter(is_active=True).exists():
        enqueue_after_commit(events_publish, if_lost="beat's reconciliation publishes them")


def _pending(webhook_filter=None):
    """Active webhooks with events past their cursor (one query, whatever their number)."""
    receiver_events = Event.objects.filter(receiver=OuterRef("receiver__code"), position__isnull=False)
    pending = (Q(delivered_through__isnull=False)
               & Q(Exists(receiver_events.filter(position__gt=OuterRef("delivered_through"))))
               | Q(delivered_through__isnull=True) & Q(Exists(receiver_events.filter(at__gte=OuterRef("created_at")))))
    return Webhook.objects.filter(is_active=True).filter(webhook_filter or Q()).filter(pending)


def events_publish(*, now=None) -> int:
    """Give committed events their feed positions, then send a delivery for each webhook that
    has events to deliver and is neither delivering nor waiting to try again; returns how many."""
    from ..tasks import webhook_deliver

    now = now or timezone.now()
    events.events_sequence()
    due = list(_pending(Q(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
                        & Q(Q(retry_at__isnull=True) | Q(retry_at__lte=now))).values_list("pk", flat=True))
    for pk in due:
        enqueue_after_commit(webhook_deliver, pk, if_lost="beat's reconciliation sends it again")
    return len(due)


def _lease_length() -> timedelta:
    # Longer than one POST may take (urllib's timeout is per socket operation).
    return timedelta(seconds=3 * settings.WEBHOOK_TIMEOUT + 30)


def _next_events(webhook: Webhook, limit: int) -> list[Event]:
    qs = Event.objects.filter(receiver=webhook.receiver.code, position__isnull=False)
    if webhook.delivered_through is None:
        qs = qs.filter(at__gte=webhook.created_at)
    else:
        qs = qs.filter(position__gt=webhook.delivered_through)
    return list(qs.order_by("position")[:limit])


def webhook_deliver(*, webhook_id: int, now=None) -> int:
    """Deliver the webhook's next events in order (at most DELIVERY_BATCH, then hand over to a
    new task); returns how many were delivered. Network I/O: outside any transaction."""
    from ..tasks import webhook_deliver as task

    now = now or timezone.now()
    lease = now + _lease_length()
    claimed = (Webhook.objects.filter(pk=webhook_id, is_active=True)
               .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
               .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
               .update(lease_until=lease))
    if not claimed:
        return 0  # another delivery holds it, it waits to try again, or it is gone
    webhook = Webhook.objects.select_related("receiver").get(pk=webhook_id)
    ours = Webhook.objects.filter(pk=webhook_id, lease_until=lease)
    batch = _next_events(webhook, DELIVERY_BATCH)
    rollouts = _rollouts_about({e.rollout for e in batch if e.rollout and not e.type.startswith(ROLLOUT_TYPES)})
    delivered = 0
    for event in batch:
        if webhook.types and event.type not in webhook.types:
            ours.update(delivered_through=event.position)
            continue
        body = json.dumps(webhook_body(event, rollouts), sort_keys=True)
        try:
            webhook_send(webhook=webhook, body=body)
        except WebhookFailed as exc:
            _failed(webhook, ours, event, str(exc), task)
            return delivered
        delivered += 1
        # The lease goes on with each event: the next POST may take WEBHOOK_TIMEOUT again.
        new_lease = timezone.now() + _lease_length()
        if not ours.update(delivered_through=event.position, failures=0, retry_at=None, last_error="",
                           lease_until=new_lease):
            return delivered  # the lease was lost (a worker stalled past it): the other one goes on
        ours = Webhook.objects.filter(pk=webhook_id, lease_until=new_lease)
    ours.update(lease_until=None)
    if len(batch) == DELIVERY_BATCH:
        enqueue_after_commit(task, webhook_id, if_lost="beat's reconciliation sends it again")
    return delivered


def _failed(webhook: Webhook, ours, event: Event, error: str, task) -> None:
    failures = webhook.failures + 1
    if failures >= settings.WEBHOOK_MAX_TRIES:
        log.warning("webhook %s: event %s (%s) given up after %d tries: %s", webhook.pk, event.position,
                    event.type, failures, error)
        ours.update(delivered_through=event.position, failures=0, retry_at=None, last_error=error[:300],
                    lease_until=None)
        enqueue_after_commit(task, webhook.pk, if_lost="beat's reconciliation sends it again")
        return
    delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (failures - 1))
    delay = random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not a secret
    log.info("webhook %s: event %s failed (try %d), again in %.0f s: %s", webhook.pk, event.position, failures,
             delay, error)
    ours.update(failures=failures, retry_at=timezone.now() + timedelta(seconds=delay), last_error=error[:300],
                lease_until=None)
    enqueue_after_commit(task, webhook.pk, countdown=delay, if_lost="beat's reconciliation sends it again")


ROLLOUT_TYPES = ("rollout.", "wave.")


def _rollouts_about(ids) -> dict[int, dict]:
    """What the webhooks say of the rollouts of job events: one query for a batch."""
    return {r.pk: {"id": r.pk, "receiver": r.receiver.code, "device_type": r.device_type.code,
                   "release": r.release.version, "state": r.state}
            for r in Rollout.objects.filter(pk__in=ids).select_related("receiver", "device_type", "release")}


def webhook_body(event: Event, rollouts: dict[int, dict]) -> dict:
    """An event as the webhooks POST it: the feed's event (`id`, `type`, `at`, `receiver`,
    `site_number`, `serial`, `job`, `data`) plus, as before the feed existed, `event` (the
    type), `rollout` as an object (`id`, `receiver`, `device_type`, `release`, `state`) and
    the fields of `data` at the top level (docs/webhooks.md)."""
    data = event.data or {}
    rollout = None
    if event.rollout is not None:
        if event.type.startswith(ROLLOUT_TYPES):
            rollout = {"id": event.rollout, "receiver": event.receiver, "device_type": data.get("device_type"),
                       "release": data.get("release"), "state": data.get("state")}
        else:
            rollout = rollouts.get(event.rollout, {"id": event.rollout})
    body = {name: value for name, value in data.items()
            if name not in ("device_type", "release", "state") or not event.type.startswith(ROLLOUT_TYPES)}
    body.update({"id": event.position, "type": event.type, "event": event.type, "at": event.at.isoformat(),
                 "receiver": event.receiver, "site_number": event.site_number, "serial": event.serial or None,
                 "job": event.job, "rollout": rollout, "data": data})
    return body


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
    log.info("webhook %s: %s delivered", webhook.pk, json.loads(body).get("type"))
    return status
