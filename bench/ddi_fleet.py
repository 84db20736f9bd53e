"""Fleets for the device-protocol benches: devices with known TargetTokens, and a real release.

`bench/fleets.py` fills fleets for the panel and statistics benches; those devices have no
token, and nothing downloads their placeholder archives. Here every device gets a token
derived from its serial (`device_token`), so wrk and fleetsim can speak as any of them, and
the release is a real SWUpdate archive built with `firmware_updates.swu` and taken in by
`release_create` (as an operator's upload is).

Fleets are filled once (bench/fill.py) and reused while their marker name matches; the
benches reset what a run changes (last_seen, jobs, versions) before each run.
"""

import base64
import hashlib
import random
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from core.tokens import token_digest
from firmware_updates.models import Release, Rollout, UpdateJob, UpdateJobEvent
from receivers.models import Receiver
from sites.models import Device, DeviceType, Site
from sites.versions import version_key

from . import fill
from .fleets import fleet_delete

FILL_VERSION = 1
DEVICE_TYPE = ("bench-panel", "Bench panel")
HARDWARE = "2.1"
OLD, NEW = "5.30", "5.40"
PARTITIONS = [{"number": 1, "armed": True}, {"number": 2, "armed": False}]
CHANNELS = ["ethernet", "gprs"]
ARCHIVE_SIZE = 500_000  # the seed: archives of 200 to 500 KB
COLUMNS = ("id", "site_id", "receiver_id", "serial", "device_type_id", "hardware_revision",
           "firmware_version", "firmware_version_key", "channels", "has_ip_channel", "partitions",
           "attributes", "attributes_at", "last_seen", "token_hash")


def device_token(serial: str) -> str:
    """A 43-character token like `token_generate`'s, but reproducible from the serial."""
    digest = hashlib.sha256(f"bench-ddi-token:{serial}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def device_type() -> DeviceType:
    code, name = DEVICE_TYPE
    return DeviceType.objects.get_or_create(code=code, defaults={"name": name})[0]


def serials(receiver: Receiver) -> list[str]:
    return list(Device.objects.filter(receiver=receiver).order_by("pk").values_list("serial", flat=True))


def fleet_ensure(ctx, *, code: str, size: int, version: str) -> Receiver:
    """Receiver `code` with `size` devices of the bench type, board 2.1, IP channels, running
    `version`, having described themselves (no configData asked on a poll)."""
    marker = f"bench ddi fleet {code} {size} {version} v{FILL_VERSION}"
    receiver = Receiver.objects.filter(code=code).first()
    if receiver and receiver.name == marker and Device.objects.filter(receiver=receiver).count() == size:
        ctx.log(f"fleet {code}: reusing {size:,} devices")
        return receiver
    if receiver:
        ctx.log(f"fleet {code}: incomplete or outdated, deleting it")
        fleet_delete(receiver)
    watch = fill.Stopwatch()
    receiver = Receiver.objects.create(code=code, name=f"filling {code}", poll_sleep=timedelta(minutes=5))
    kind = device_type()
    site_id, device_id = fill.next_id(Site), fill.next_id(Device)
    now = timezone.now()
    attributes = {"sw_version": version, "hw_revision": HARDWARE, "device_type": kind.code,
                  "channels": ",".join(CHANNELS), "partitions": "1:armed,2:disarmed"}
    v = fill.column_value
    constant = (kind.pk, HARDWARE, version, version_key(version), v(Device, "channels", CHANNELS), True,
                v(Device, "partitions", PARTITIONS), v(Device, "attributes", attributes),
                v(Device, "attributes_at", now), v(Device, "last_seen", now))
    names = [f"{code}-{i:06d}" for i in range(size)]
    fill.bulk_insert(Site, ("id", "receiver_id", "number"),
                     ((site_id + i, receiver.pk, 1 + i) for i in range(size)))
    fill.bulk_insert(Device, COLUMNS, (
        (device_id + i, site_id + i, receiver.pk, serial) + constant + (token_digest(device_token(serial)),)
        for i, serial in enumerate(names)
    ))
    fill.sequences_reset(Site, Device)
    fill.analyze(Site, Device)
    Receiver.objects.filter(pk=receiver.pk).update(name=marker)
    receiver.refresh_from_db()
    ctx.note(f"filled fleet {code} ({size:,} devices with tokens) in {watch}")
    return receiver


def fleet_reset(receiver: Receiver, *, version: str, seen_ago: timedelta | None) -> None:
    """Back to the state a run starts from: no jobs, `version` running, last seen `seen_ago`
    (None: never, as panels that have not polled since the fleet was filled)."""
    jobs = f"SELECT id FROM {UpdateJob._meta.db_table} WHERE device_id IN " \
           f"(SELECT id FROM {Device._meta.db_table} WHERE receiver_id = %s)"
    with transaction.atomic():
        fill.delete_where(UpdateJobEvent, f"job_id IN ({jobs})", [receiver.pk])
        fill.delete_where(UpdateJob, f"id IN ({jobs})", [receiver.pk])
        fill.delete_where(Rollout, "receiver_id = %s", [receiver.pk])
        Device.objects.filter(receiver=receiver).update(
            firmware_version=version, firmware_version_key=version_key(version), active_job=None,
            last_seen=None if seen_ago is None else timezone.now() - seen_ago,
        )
    fill.analyze(Device, UpdateJob)


def release_ensure(ctx, workdir: Path) -> Release:
    """The current release NEW of the bench type: a real, unsigned .swu of ~500 KB."""
    from firmware_updates import services
    from firmware_updates.swu import build_archive

    kind = device_type()
    release = Release.objects.filter(device_type=kind, version=NEW).first()
    if release is not None and release.archive.storage.exists(release.archive.name):
        return release
    if release is not None:  # the row survived its file (a wiped var/): take it in again
        Release.objects.filter(pk=release.pk).delete()
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{kind.code}-{NEW}.swu"
    image = random.Random(540).randbytes(ARCHIVE_SIZE - 1024)  # cpio headers and manifest: the rest
    with open(path, "wb") as out:
        build_archive(out, device_type=kind.code, version=NEW, hardware_revisions=[HARDWARE, "2.2"],
                      images=[("firmware.bin", image)])
    release = services.release_create_from_path(path=path)
    services.release_mark_current(release=release)
    ctx.log(f"release {kind.code} {NEW}: {release.size:,} bytes")
    return release


def rollout_queue(receiver: Receiver) -> int:
    """Queue every device of the receiver as "Update software at all sites" does."""
    from firmware_updates.services import rollout_run, rollout_start

    from .fleets import bench_user

    rollout, _ = rollout_start(receiver=receiver, device_type=device_type(), actor=bench_user())
    return rollout_run(rollout_id=rollout.pk).queued
