"""Who is calling: a panel with its TargetToken, or a receiver's gateway with its GatewayToken.

Both tokens are stored as SHA-256 digests (core.tokens). A TargetToken is found
by its digest (unique index) and must belong to the controllerId and tenant of the URL; a
GatewayToken may act for any device of its receiver and registers an unknown controller on
its first poll, as hawkBit does.

Every failure is the same 401, so nobody learns whether a serial exists; only an unknown
tenant answers 404 (receiver codes are not secret: they are in every device's URL).
"""

import hmac
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Model

from core.tokens import token_digest
from receivers.models import Receiver
from sites.models import Device
from sites.services import device_register_via_gateway

from .lookup import device_by_token_digest
from .responses import DdiError, bad_request, not_found, unauthorized

MAX_TOKEN_LENGTH = 512
TARGET, GATEWAY = "targettoken", "gatewaytoken"


_NOT_READ = object()


@dataclass(frozen=True)
class Caller:
    device: Device
    receiver: Receiver
    via_gateway: bool
    # The device's newest job (UpdateJob or None), read with the device for a TargetToken;
    # see `latest_job()`.
    job: Model | None | object = _NOT_READ
    # When the panel was heard from before this request (`device_touch` moves last_seen).
    seen_before: datetime | None = field(default=None, init=False)

    def __post_init__(self):
        object.__setattr__(self, "seen_before", self.device.last_seen)

    def latest_job(self, read):
        """The newest job if authentication already read it, else `read(device)`."""
        return read(self.device) if self.job is _NOT_READ else self.job


def _credentials(request) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    # Auth schemes are case-insensitive (RFC 9110 11.1).
    scheme = scheme.lower()
    if (
        scheme not in (TARGET, GATEWAY)
        or not token
        or len(token) > MAX_TOKEN_LENGTH
        or " " in token
    ):
        return "", ""
    return scheme, token


def _refuse(tenant: str) -> DdiError:
    if not Receiver.objects.filter(code=tenant).exists():
        return not_found(f"Unknown tenant {tenant!r}.")
    return unauthorized()


def authenticate(request, *, tenant: str, controller_id: str, register: bool = False) -> Caller:
    """The device the request may act for, or DdiError (401/404, 400 for a bad new serial).

    One query on the happy path with a TargetToken: the device joined with its receiver and
    its newest job (`lookup`); with a GatewayToken, the device joined with its receiver.
    """
    scheme, token = _credentials(request)
    if not scheme:
        raise _refuse(tenant)
    digest = token_digest(token)
    if scheme == TARGET:
        found = device_by_token_digest(digest)
        device, job = found if found is not None else (None, None)
        if (
            device is not None
            and hmac.compare_digest(device.token_hash, digest)
            and device.serial == controller_id
            and device.receiver.code == tenant
        ):
            return Caller(device=device, receiver=device.receiver, via_gateway=False, job=job)
        raise _refuse(tenant)

    device = (
        Device.objects.select_related("receiver")
        .filter(serial=controller_id, receiver__code=tenant)
        .first()
    )
    receiver = (
        device.receiver if device is not None else Receiver.objects.filter(code=tenant).first()
    )
    if receiver is None:
        raise not_found(f"Unknown tenant {tenant!r}.")
    if not receiver.gateway_token_hash or not hmac.compare_digest(
        receiver.gateway_token_hash, digest
    ):
        raise unauthorized()
    if device is None:
        if not register:
            raise unauthorized()
        try:
            device = device_register_via_gateway(receiver=receiver, serial=controller_id)
        except ValidationError as exc:  # the serial rule (sites/serials.py)
            reason = exc.message_dict["serial"][0]
            raise bad_request(f"This controllerId cannot be a serial. {reason}", "ddi.controller_id") from None
        except Device.DoesNotExist:
            # The serial is another receiver's panel: the same answer as a wrong token.
            raise unauthorized() from None
        device.receiver = receiver
    return Caller(device=device, receiver=receiver, via_gateway=True)
