"""The wake-up push: ask a receiver to tell its online panels to poll now (DESIGN.md 7)."""

import json
import logging

from django.conf import settings
from django.utils import timezone

from core.http import PostFailed, post_json
from receivers.models import Receiver
from sites.models import Device

from ..models import JobState, UpdateJob

log = logging.getLogger(__name__)


class WakeupFailed(PostFailed):
    """The receiver did not answer 2xx; the task retries with back-off."""


def online_serials(*, receiver: Receiver, serials: list[str]) -> list[str]:
    """The subset of `serials` heard from recently enough to be reachable (one query)."""
    since = timezone.now() - receiver.offline_after
    return list(
        Device.objects.filter(receiver=receiver, serial__in=serials, last_seen__gte=since).values_list(
            "serial", flat=True
        )
    )


def wakeup_send(*, receiver: Receiver, serials: list[str]) -> int:
    """POST the poll-now command for the online panels among `serials`; returns how many.

    Runs outside any transaction: this is network I/O to the receiver.
    """
    if not receiver.wakeup_url:
        return 0
    targets = online_serials(receiver=receiver, serials=serials)
    if not targets:
        return 0
    body = json.dumps({"receiver": receiver.code, "command": "poll-now", "serials": targets}).encode()
    try:
        post_json(receiver.wakeup_url, body, timeout=settings.WAKEUP_TIMEOUT)
    except PostFailed as exc:
        raise WakeupFailed(f"receiver {receiver.code}: {exc}") from None
    UpdateJob.objects.filter(device__receiver=receiver, device__serial__in=targets, state=JobState.QUEUED).update(
        wakeup_sent_at=timezone.now()
    )
    log.info("woke %d panels on %s", len(targets), receiver.code)
    return len(targets)
