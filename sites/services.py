"""Writes on sites and devices: creation by operators, registration and reports by devices."""

import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext as _

from core import audit_words, events
from core.audit import (
    ADDITION,
    changed_fields,
    changes_message,
    fields_update,
    operator_action_record,
)
from core.errors import QuotaExceeded
from core.events import EventType
from core.tokens import token_digest, token_generate, token_rotate
from core.versions import is_version
from receivers.models import Receiver

from .last_seen import last_seen_record
from .models import Battery, Channel, Device, DeviceType, Power, RemoteUpdate, Site
from .serials import serial_problem
from .versions import version_validate

PARTITION_RE = re.compile(r"^\s*(\d{1,3})\s*:\s*(armed|disarmed)\s*$")
MAX_PARTITIONS = 64
# A configData attribute's name and value, at most (hawkBit: 128 and 128; a value here may
# list 64 partitions). With DEVICE_MAX_ATTRIBUTES they bound what a panel stores about itself.
ATTRIBUTE_NAME_MAX = 128
ATTRIBUTE_VALUE_MAX = 1024
KNOWN_CHANNELS = frozenset(Channel.values)
HARDWARE_REVISION_MAX = Device._meta.get_field("hardware_revision").max_length
SITE_FIELDS = ("receiver", "number", "name", "address", "remote_update")
# What operators may change of a panel; the rest is its own report (configData) or derived.
DEVICE_FIELDS = ("site", "serial", "device_type", "hardware_revision", "firmware_version", "channels", "partitions",
                 "settings_digest")


@transaction.atomic
def site_create(
    *,
    receiver: Receiver,
    number: int,
    name: str = "",
    address: str = "",
    serial: str,
    device_type: DeviceType,
    hardware_revision: str = "",
    firmware_version: str = "",
    channels: list[str] | None = None,
    partitions: list[dict] | None = None,
    remote_update: str = RemoteUpdate.ALLOWED,
    actor=None,
) -> tuple[Site, str]:
    """Create a site with its panel; returns the site and the panel's TargetToken (shown once).

    A panel a receiver's gateway registered (on no site yet) is adopted: attached to the new
    site, with what the operator gives; what the panel itself reported (version, board) is
    kept where the operator gives nothing. A serial already on a site is refused.
    """
    with transaction.atomic():
        site_fields_validate(receiver=receiver, number=number, remote_update=remote_update)
        adopted = Device.objects.select_for_update().filter(serial=serial, site__isnull=True).first()
        if adopted is not None and adopted.receiver_id != receiver.pk:
            raise ValidationError({"serial": [
                gettext("Panel {serial} registered through receiver {receiver}'s gateway: create its site on that "
                        "receiver.").format(serial=serial, receiver=adopted.receiver.code)]})
        panel = device_fields_validate(
            device=adopted, serial=serial, hardware_revision=hardware_revision, firmware_version=firmware_version,
            channels=channels or [], partitions=partitions or [],
        )
        site = Site.objects.create(receiver=receiver, number=number, name=name, address=address,
                                   remote_update=remote_update)
        token = token_generate()
        if adopted is None:
            Device.objects.create(site=site, receiver=receiver, device_type=device_type,
                                  token_hash=token_digest(token), **panel)
            message = audit_words.CREATED_WITH_PANEL.format(serial=serial)
        else:
            for field, value in panel.items():
                if value or field not in ("hardware_revision", "firmware_version", "channels", "partitions"):
                    setattr(adopted, field, value)
            adopted.site, adopted.device_type, adopted.token_hash = site, device_type, token_digest(token)
            adopted.save()
            message = audit_words.CREATED_WITH_GATEWAY_PANEL.format(serial=serial)
        if remote_update != RemoteUpdate.ALLOWED:
            message += audit_words.REMOTE_UPDATE_GIVEN.format(remote_update=remote_update)
        operator_action_record(actor=actor, obj=site, message=message, flag=ADDITION)
    return site, token


def site_fields_validate(*, site: Site | None = None, **fields) -> None:
    """The rule for a site's fields as operators give them (site_create, site_update, the admin).

    `site`: the site being changed, as stored. Raises ValidationError naming the field.
    """
    receiver = fields.get("receiver", site.receiver if site else None)
    number = fields.get("number", site.number if site else None)
    if {"receiver", "number"} & set(fields):
        clash = Site.objects.filter(receiver=receiver, number=number)
        if clash.exclude(pk=site.pk).exists() if site else clash.exists():
            raise ValidationError({"number": gettext("Site {number} already exists on receiver {receiver}.").format(
                number=number, receiver=receiver.code)})
    if "remote_update" in fields and fields["remote_update"] not in RemoteUpdate.values:
        raise ValidationError({"remote_update": _("Give remote update as %(choices)s.") % {
            "choices": ", ".join(RemoteUpdate.values)}})
    if site is not None and "receiver" in fields and receiver.pk != site.receiver_id:
        if Device.objects.filter(site=site, active_job__isnull=False).exists():
            raise ValidationError({"receiver": _move_refusal(site_number=site.number)})


def _remote_update_event(*, stored: Site, changes: dict, actor) -> None:
    """The alarm centre's event for a change of the site's consent (who changed it, from what
    to what), in the transaction of the change; named by the site's receiver and number after
    the change (a PATCH may move it too)."""
    user = getattr(actor, "user", actor)
    data = {"from": stored.remote_update, "to": changes["remote_update"],
            "by": user.get_username() if user is not None and user.is_authenticated else "system"}
    events.record(EventType.SITE_REMOTE_UPDATE_CHANGED, receiver=changes.get("receiver", stored.receiver).code,
                  site_number=changes.get("number", stored.number), data=data)


def _move_refusal(*, site_number: int | None = None, serial: str = "") -> str:
    # A panel's update is its receiver's: the job was queued there (its rollout, its wake-ups),
    # and the panel's DDI URLs carry the receiver's code, which must be the device's receiver
    # (firmware_updates/ddi/auth.py). Moved mid-update, the panel's next request for its
    # download is refused and the job stalls on a receiver the panel no longer belongs to.
    # So a move waits until no job is active: it ends, or the operator cancels it.
    if site_number is not None:
        return gettext("Site {number}'s panel is being updated: wait for the update to end, or cancel it, before "
                       "moving the site to another receiver.").format(number=site_number)
    return gettext("Panel {serial} is being updated: wait for the update to end, or cancel it, before moving it to "
                   "another receiver.").format(serial=serial)


@transaction.atomic
def site_update(*, site: Site, actor=None, **changes) -> Site:
    """Change a site's receiver, number, name, address or consent to remote updates; moved to another
    receiver, its panel goes along.

    The panel's receiver is a copy of its site's (fleet statistics and wake-ups go by it), so
    both are written here, in one transaction. Refused while the panel is being updated
    (`_move_refusal`). A change of `remote_update` is also an event for the alarm centre
    (`site.remote_update_changed`), written in this transaction. It decides what is queued
    from now on (firmware_updates: forbidden is never queued, approval waits for an approver);
    an update already queued goes on until someone cancels it. Raises ValidationError naming
    the field.
    """
    current = Site.objects.select_for_update().select_related("receiver").get(pk=site.pk)
    changes = changed_fields(current, changes, SITE_FIELDS)
    site_fields_validate(site=current, **changes)
    words = []
    if "receiver" in changes:
        device = Device.objects.filter(site=current).first()
        # Asked again by the write itself: a job queued since the check above keeps the panel,
        # and so the site, where they are.
        if device and not Device.objects.filter(pk=device.pk, active_job__isnull=True).update(
            receiver=changes["receiver"]
        ):
            raise ValidationError({"receiver": _move_refusal(site_number=current.number)})
        moved = {"from_receiver": current.receiver, "to_receiver": changes["receiver"]}
        words.append(audit_words.MOVED_WITH_PANEL.format(**moved, serial=device.serial) if device
                     else audit_words.MOVED.format(**moved))
    if "number" in changes:
        words.append(audit_words.NUMBER_CHANGED.format(from_number=current.number, to_number=changes["number"]))
    if "name" in changes:
        words.append(audit_words.NAME_CHANGED)
    if "remote_update" in changes:
        words.append(audit_words.REMOTE_UPDATE_CHANGED.format(from_value=current.remote_update,
                                                              to_value=changes["remote_update"]))
        _remote_update_event(stored=current, changes=changes, actor=actor)
    if "address" in changes:
        words.append(audit_words.ADDRESS_CHANGED)
    if changes:
        Site.objects.filter(pk=site.pk).update(**changes)
        operator_action_record(actor=actor, obj=site, message=audit_words.site_change_message(words))
    for name, value in changes.items():
        setattr(site, name, value)
    return site


def device_fields_validate(*, device: Device | None = None, **fields) -> dict:
    """The rule for a panel's fields as operators give them (API, admin, site_create, device_update).

    Checks the fields given and returns them normalised (channels and partitions sorted).
    `device`: the panel being changed, as stored. Raises ValidationError naming each field.
    """
    errors = {}
    checks = {"firmware_version": _firmware_version_checked, "hardware_revision": _hardware_revision_checked,
              "channels": channels_validate, "partitions": partitions_validate}
    for name, check in checks.items():
        if name in fields:
            try:
                fields[name] = check(fields[name])
            except ValidationError as exc:
                errors[name] = exc.messages
    others = Device.objects.exclude(pk=device.pk) if device else Device.objects.all()
    if "serial" in fields and (problem := serial_problem(fields["serial"])) is not None:
        errors["serial"] = [problem]
    elif "serial" in fields and others.filter(serial=fields["serial"]).exists():
        errors["serial"] = [gettext("A device with serial {serial} is already registered.").format(serial=fields["serial"])]
    if (site := fields.get("site")) is not None:
        if others.filter(site=site).exists():
            errors["site"] = [gettext("{site} already has a panel.").format(site=site)]
        elif device and device.active_job_id and site.receiver_id != device.receiver_id:
            errors["site"] = [_move_refusal(serial=device.serial)]
    if errors:
        raise ValidationError(errors)
    return fields


def _firmware_version_checked(value: str) -> str:
    if value:  # unknown until the panel reports it
        version_validate(value)
    return value


def _hardware_revision_checked(value: str) -> str:
    if len(value) > HARDWARE_REVISION_MAX:
        raise ValidationError(gettext("Give the board revision as a short text such as 2.1 (at most {n} characters).")
                              .format(n=HARDWARE_REVISION_MAX))
    return value


@transaction.atomic
def device_update(*, device: Device, actor=None, **changes) -> Device:
    """Change what operators may of a panel (DEVICE_FIELDS); given a site on another receiver,
    the panel moves to it (refused while it is being updated, `_move_refusal`).

    Writes only the columns that change (and their derived ones): never one written meanwhile
    by someone else (its receiver by site_update, `active_job` by the job services). Raises
    ValidationError naming the field.
    """
    current = Device.objects.select_for_update().get(pk=device.pk)
    changes = device_fields_validate(device=current, **changed_fields(current, changes, DEVICE_FIELDS))
    if changes.get("site") is not None:
        changes["receiver"] = changes["site"].receiver
    for name, value in changes.items():
        setattr(current, name, value)
        setattr(device, name, value)
    if changes:
        current.save(update_fields=[*changes, "firmware_version_key", "has_ip_channel"])
        device.refresh_derived()
        names = [name for name in changes if name != "receiver"]
        operator_action_record(actor=actor, obj=device, message=changes_message(Device, names))
    return device


@transaction.atomic
def device_token_rotate(*, device: Device, actor=None) -> str:
    """Issue a new TargetToken for the panel; the old one stops working at once."""
    return token_rotate(device, field="token_hash", message=audit_words.TARGET_TOKEN_ROTATED, actor=actor)


@transaction.atomic
def device_type_create(*, code: str, name: str, expected_offline_seconds: int | None = None,
                       actor=None) -> DeviceType:
    """Register a model of panel; its code is the board name its SWUpdate archives carry."""
    device_type = DeviceType(code=code, name=name)
    if expected_offline_seconds is not None:
        device_type.expected_offline_seconds = expected_offline_seconds
    device_type.full_clean()
    device_type.save()
    operator_action_record(actor=actor, obj=device_type, message=audit_words.CREATED, flag=ADDITION)
    return device_type


DEVICE_TYPE_FIELDS = ("name", "expected_offline_seconds")


@transaction.atomic
def device_type_update(*, device_type: DeviceType, actor=None, **changes) -> DeviceType:
    """Rename a device type or change its expected offline window (the seconds a panel of the
    type stays off the line to install). Its code stays: it is the board name its releases'
    archives carry. Raises ValidationError naming the field. A window changed applies to the
    installs that start from now on."""
    fields_update(device_type, actor=actor, changes=changes, allowed=DEVICE_TYPE_FIELDS, clean=True)
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
    # The wake-up counts a device offline from `offline_after` on (the displays add a grace,
    # ONLINE_GRACE): the earliest any reader does, so no reader sees a returning panel late.
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
    return seen_recently(last_seen=device.last_seen, receiver=receiver, now=now)


# Past `offline_after`, what every display allows before it calls a panel offline: its last
# poll may still sit in a web process's buffer (DEVICE_SEEN_FLUSH_INTERVAL), and a download
# between two polls takes a while on GPRS.
ONLINE_GRACE = timedelta(seconds=30)


def seen_recently(*, last_seen, receiver: Receiver, now=None) -> bool:
    """A panel last seen then is online (30 s of grace past `offline_after`: ONLINE_GRACE)."""
    now = now or timezone.now()
    return bool(last_seen) and now - last_seen <= receiver.offline_after + ONLINE_GRACE


def offline_since(receiver: Receiver, now=None):
    """Panels of `receiver` not seen since then (or never) are offline: the one threshold of
    every display (the statistics, the red breakdown, the rows' connection)."""
    return (now or timezone.now()) - receiver.offline_after - ONLINE_GRACE


def channels_validate(channels) -> list[str]:
    if isinstance(channels, str):
        channels = [c for c in (part.strip() for part in channels.split(",")) if c]
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise ValidationError({"channels": gettext("Give channels as a list such as [\"gprs\", \"ethernet\"].")})
    unknown = sorted(set(channels) - KNOWN_CHANNELS)
    if unknown:
        raise ValidationError(
            {"channels": gettext("Unknown channel {unknown}; known: {known}.").format(
                unknown=", ".join(unknown), known=", ".join(sorted(KNOWN_CHANNELS)))}
        )
    return sorted(set(channels))


def partitions_validate(partitions) -> list[dict]:
    """[{"number": 1, "armed": true}, ...] as operators give it; returned in number order."""
    message = gettext('Give partitions as [{"number": 1, "armed": true}, ...], numbered 1 to 999.')
    if not isinstance(partitions, list):
        raise ValidationError(message)
    result = {}
    for item in partitions:
        if not (isinstance(item, dict) and set(item) == {"number", "armed"} and type(item["number"]) is int
                and 0 < item["number"] < 1000 and isinstance(item["armed"], bool)):
            raise ValidationError(message)
        result[item["number"]] = item["armed"]
    if len(result) > MAX_PARTITIONS:
        raise ValidationError(gettext("More than {n} partitions.").format(n=MAX_PARTITIONS))
    return [{"number": n, "armed": armed} for n, armed in sorted(result.items())]


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
        if not is_version(version):
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
    # Only checked: kept among the attributes, read from there (Device.on_battery, battery_low).
    for name, choices, words in (("power", Power, "mains or battery"), ("battery", Battery, "ok or low")):
        if (value := data.get(name)) is not None and value not in choices.values:
            raise ValidationError({name: _("Give %(name)s as %(words)s, not %(value)r.") % {
                "name": name, "words": words, "value": str(value)[:40]}})
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


def _attributes_check(data: dict) -> None:
    """Names and values of reported attributes: text of bounded length (ValidationError)."""
    for name, value in data.items():
        if not 0 < len(name) <= ATTRIBUTE_NAME_MAX:
            raise ValidationError({"data": f"Attribute names are 1 to {ATTRIBUTE_NAME_MAX} characters; "
                                           f"{name[:40]!r}... is {len(name)}."})
        if not isinstance(value, str) or len(value) > ATTRIBUTE_VALUE_MAX:
            raise ValidationError({name[:40]: f"Attribute values are text of at most {ATTRIBUTE_VALUE_MAX} "
                                              "characters."})


@transaction.atomic
def device_apply_attributes(*, device: Device, data: dict, mode: str = "merge") -> Device:
    """Store what the panel reported about itself (DDI configData).

    The caller (firmware_updates) confirms jobs afterwards; this only records facts. Raises
    ValidationError for a name or value too long, QuotaExceeded (429) when the device would
    keep more than DEVICE_MAX_ATTRIBUTES attributes (hawkBit's maxAttributeEntriesPerTarget):
    `merge` adds up, so without it a panel could grow its row without end. Nothing is stored then.
    """
    fields = attributes_parse(data)
    if mode == "replace":
        attributes = dict(data)
    elif mode == "remove":
        attributes = {k: v for k, v in (device.attributes or {}).items() if k not in data}
    else:
        attributes = {**(device.attributes or {}), **data}
    if mode != "remove":
        _attributes_check(data)
    limit = settings.DEVICE_MAX_ATTRIBUTES
    if len(attributes) > limit:
        raise QuotaExceeded(
            f"The panel would have {len(attributes)} attributes; it may keep {limit} (quota "
            "DEVICE_MAX_ATTRIBUTES). Remove some (mode \"remove\") or send them all with mode "
            "\"replace\".",
            quota="DEVICE_MAX_ATTRIBUTES",
        )
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
