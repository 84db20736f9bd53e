"""Writes on receivers."""

from datetime import time

from django.db import transaction

from core import audit_words
from core.audit import ADDITION, fields_update, operator_action_record
from core.tokens import token_digest, token_generate, token_rotate

from .models import Receiver


@transaction.atomic
def receiver_create(
    *, code: str, name: str, wakeup_url: str = "", poll_sleep=None, time_zone: str | None = None,
    install_window: tuple[time, time] | None = None, actor=None,
) -> tuple[Receiver, str]:
    """Create a receiver; returns it with its gateway token, which is shown only this once.

    `time_zone` (IANA name) defaults to settings.TIME_ZONE; `install_window` is (start, end)
    local times there, or None: panels install as soon as they are ready."""
    receiver = Receiver(code=code, name=name, wakeup_url=wakeup_url)
    if poll_sleep is not None:
        receiver.poll_sleep = poll_sleep
    if time_zone is not None:
        receiver.time_zone = time_zone
    if install_window is not None:
        receiver.install_window_start, receiver.install_window_end = install_window
    token = token_generate()
    receiver.gateway_token_hash = token_digest(token)
    receiver.full_clean()
    receiver.save()
    operator_action_record(actor=actor, obj=receiver, message=audit_words.CREATED, flag=ADDITION)
    return receiver, token


# What operators may change of a receiver. Not its code: it is the DDI tenant in every one of
# its panels' URLs, so a new code would cut them all off.
RECEIVER_FIELDS = ("name", "wakeup_url", "poll_sleep")


@transaction.atomic
def receiver_update(*, receiver: Receiver, actor=None, **changes) -> Receiver:
    """Change a receiver's name, wake-up URL or poll sleep. Raises ValidationError naming the field."""
    fields_update(receiver, actor=actor, changes=changes, allowed=RECEIVER_FIELDS, clean=True)
    return receiver


@transaction.atomic
def receiver_gateway_token_rotate(*, receiver: Receiver, actor=None) -> str:
    """Replace the gateway token; the old one stops working at once."""
    return token_rotate(receiver, field="gateway_token_hash", message=audit_words.GATEWAY_TOKEN_ROTATED, actor=actor)
