"""Writes on sites and devices: creation by operators, registration and reports by devices."""

import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.audit import ADDITION, operator_action_record
from core.tokens import token_digest, token_generate
from receivers.models import Receiver

from .last_seen import last_seen_record
from .models import Channel, Device, DeviceType, Site
from .serials import serial_problem
from .versions import VERSION_RE, version_validate

PARTITION_RE = re.compile(r"^\s*(\d{1,3})\s*:\s*(armed|disarmed)\s*$")
MAX_PARTITIONS = 64
KNOWN_CHANNELS = frozenset(Channel.values)


@transaction.atomic
def site_create(
    *,
    receiver: Receiver,
    number: int,
    name: str = "",
    serial: str,
    device_type: DeviceType,
    hardware_revision: str = "",
    firmware_version: str = "",
    channels: list[str] | None = None,
    partitions: list[dict] | None = None,
    actor=None,
) -> tuple[Site, str]:
    """Create a site with its panel; returns the site and the panel's TargetToken (shown once)."""
    if (problem := serial_problem(serial)) is not None:
        raise ValidationError({"serial": problem})
    if firmware_version:
        version_validate(firmware_version)
    channels = channels_validate(channels or [])
    if Site.objects.filter(receiver=receiver, number=number).exists():
        raise ValidationError({"number": f"Site {number} already exists on receiver {receiver.code}."})
    if Device.objects.filter(serial=serial).exists():
        raise ValidationError({"serial": f"A device with serial {serial} is already registered."})
    site = Site.objects.create(receiver=receiver, number=number, name=name)
    token = token_generate()
    Device.objects.create(
        site=site,
        receiver=receiver,
        serial=serial,
        device_type=device_type,
        hardware_revision=hardware_revision,
        firmware_version=firmware_version,
        channels=channels,
        partitions=partitions or [],
        token_hash=token_digest(token),
    )
    operator_action_record(actor=actor, obj=site, message=f"Created with panel {serial}.", flag=ADDITION)
    return site, token


def device_token_rotate(*, device: Device, actor=None) -> str:
    """Issue a new TargetToken for the panel; the old one stops working at once."""
    token = token_generate()
    Device.objects.filter(pk=device.pk).update(token_hash=token_digest(token))
    device.token_hash = token_digest(token)
    operator_action_record(actor=actor, obj=device, message="Target token rotated.")
    return token


@transaction.atomic
def device_type_create(*, code: str, name: str, actor=None) -> DeviceType:
    """Register a model of panel; its code is the board name its SWUpdate archives carry."""
    device_type = DeviceType(code=code, name=name)
    device_type.full_clean()
    device_type.save()
    operator_action_record(actor=actor, obj=device_type, message="Created.", flag=ADDITION)
    return device_type


def device_register_via_gateway(*, receiver: Receiver, serial: str) -> Device:
    """A gateway polled for a controller we do not know: register it (hawkBit does the same).

    Hundreds of panels may do this in the same second, so the insert races are settled by
    the unique serial: the loser reads the winner's row. A serial the rule refuses
    (sites/serials.py) is a ValidationError and registers nothing.
    """
    if (problem := serial_problem(serial)) is not None:
        raise ValidationError({"serial": problem})
    try:
        with transaction.atomic():
            return Device.objects.create(receiver=receiver, serial=serial)
    except IntegrityError:
        device = Device.objects.get(serial=serial)
        if device.receiver_id != receiver.pk:
            raise Device.DoesNotExist(f"Controller {serial} belongs to another receiver.") from None
        return device


def device_touch(*, device: Device, now=None) -> None:
    """Record that the panel was heard from, at most once per DEVICE_LAST_SEEN_RESOLUTION.

    A panel that keeps polling has its time written in bulk within DEVICE_SEEN_FLUSH_INTERVAL
    (`sites.last_seen`), off the request. Written at once: a first contact, and a panel
    that every reader counts as offline (so it turns online when it polls, not a flush
    later); also with an interval of 0.
    """
    now = now or timezone.now()
    if device.last_seen and now - device.last_seen < settings.DEVICE_LAST_SEEN_RESOLUTION:
        return
    # The statistics and the wake-up count a device offline from `offline_after` on (the panel
    # adds a grace): the earliest any reader does, so no reader sees a returning panel late.
    if (
        settings.DEVICE_SEEN_FLUSH_INTERVAL
        and device.last_seen
        and now - device.last_seen < device.receiver.offline_after
    ):
        last_seen_record(device_id=device.pk, seen=now)
    else:
        Device.objects.filter(Q(last_seen__isnull=True) | Q(last_seen__lt=now), pk=device.pk).update(last_seen=now)
    device.last_seen = now


def device_is_online(*, device: Device, receiver: Receiver, now=None) -> bool:
    now = now or timezone.now()
    return bool(device.last_seen) and now - device.last_seen <= receiver.offline_after + timedelta(seconds=30)


def channels_validate(channels) -> list[str]:
    if isinstance(channels, str):
        channels = [c for c in (part.strip() for part in channels.split(",")) if c]
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise ValidationError({"channels": "Give channels as a list such as [\"gprs\", \"ethernet\"]."})
    unknown = sorted(set(channels) - KNOWN_CHANNELS)
    if unknown:
        raise ValidationError(
            {"channels": f"Unknown channel {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_CHANNELS))}."}
        )
    return sorted(set(channels))


def partitions_parse(value: str) -> list[dict]:
    """"1:armed,2:disarmed" -> [{"number": 1, "armed": True}, {"number": 2, "armed": False}]."""
    result = {}
    for item in (part for part in value.split(",") if part.strip()):
        match = PARTITION_RE.match(item)
        if not match:
            raise ValidationError({"partitions": f"Cannot read partition {item.strip()!r}: use 1:armed,2:disarmed."})
        result[int(match[1])] = match[2] == "armed"
        if len(result) > MAX_PARTITIONS:
            raise ValidationError({"partitions": f"More than {MAX_PARTITIONS} partitions."})
    return [{"number": n, "armed": armed} for n, armed in sorted(result.items())]


def attributes_parse(data: dict) -> dict:
    """Read the DDI configData attributes we use (DESIGN.md 4); others are kept as they are.

    Returns the device fields to change. Raises ValidationError naming the attribute.
    """
    fields = {}
    if (version := data.get("sw_version")) is not None:
        if not isinstance(version, str) or not VERSION_RE.match(version):
            raise ValidationError({"sw_version": f"{version!r} is not a firmware version such as 5.40."})
        fields["firmware_version"] = version
    if (revision := data.get("hw_revision")) is not None:
        if not isinstance(revision, str) or not 0 < len(revision) <= 32:
            raise ValidationError({"hw_revision": "Give the board revision as a short text such as 2.1."})
        fields["hardware_revision"] = revision
    if (channels := data.get("channels")) is not None:
        if not isinstance(channels, str):
            raise ValidationError({"channels": "Give channels as a comma list: gprs,ethernet."})
        fields["channels"] = channels_validate(channels)
    if (partitions := data.get("partitions")) is not None:
        if not isinstance(partitions, str):
            raise ValidationError({"partitions": "Give partitions as 1:armed,2:disarmed."})
        fields["partitions"] = partitions_parse(partitions)
    if (digest := data.get("settings_digest")) is not None:
        if not isinstance(digest, str) or len(digest) > 128:
            raise ValidationError({"settings_digest": "Give the settings digest as text of at most 128 characters."})
        fields["settings_digest"] = digest
    type_code = data.get("device_type", data.get("hw_boardname"))
    if type_code is not None:
        if not isinstance(type_code, str) or len(type_code) > 64:
            raise ValidationError({"device_type": "Give the device type code as text."})
        fields["device_type_code"] = type_code
    if (number := data.get("site_number")) is not None:
        try:
            fields["site_number"] = int(number)
        except (TypeError, ValueError):
            raise ValidationError({"site_number": "Give the site number as digits."}) from None
        if not 0 < fields["site_number"] < 2**31:
            raise ValidationError({"site_number": "Site numbers are positive."})
    return fields


@transaction.atomic
def device_apply_attributes(*, device: Device, data: dict, mode: str = "merge") -> Device:
    """Store what the panel reported about itself (DDI configData).

    The caller (firmware_updates) confirms jobs afterwards; this only records facts.
    """
    fields = attributes_parse(data)
    if mode == "replace":
        attributes = dict(data)
    elif mode == "remove":
        attributes = {k: v for k, v in (device.attributes or {}).items() if k not in data}
    else:
        attributes = {**(device.attributes or {}), **data}
    type_code = fields.pop("device_type_code", None)
    if type_code and (device.device_type is None or device.device_type.code != type_code):
        # A panel may tell its type only if we did not know it; a different type is kept as an attribute.
        if device.device_type is None:
            device.device_type = DeviceType.objects.filter(code=type_code).first()
    site_number = fields.pop("site_number", None)
    if site_number is not None and device.site_id is None:
        site, _ = Site.objects.get_or_create(receiver_id=device.receiver_id, number=site_number)
        if not hasattr(site, "device") or site.device is None:
            device.site = site
    for name, value in fields.items():
        setattr(device, name, value)
    device.attributes = attributes
    device.attributes_at = timezone.now()
    device.save()
    return device
