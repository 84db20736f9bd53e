"""The fleet's tally (sites/tally.py): the statistics read it instead of every device, so it
must count every write, whoever makes it, and the statistics from it must be what a pass over
the devices says."""

import logging
import random
import threading
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection, connections
from django.db.models import BooleanField, ExpressionWrapper, F, Q
from django.db.models.signals import post_migrate
from django.utils import timezone

from firmware_updates import selectors
from firmware_updates.badges import badge_expression
from firmware_updates.eligibility import verdict_expression
from firmware_updates.models import JobState
from firmware_updates.selectors import (
    current_releases,
    fleet_counts,
    group_counts,
    receiver_firmware_stats,
)
from sites import tally
from sites.models import Device, DeviceTally, RemoteUpdate, Site
from sites.services import offline_since
from tests.factories import (
    DeviceFactory,
    DeviceTypeFactory,
    ReceiverFactory,
    ReleaseFactory,
    SiteFactory,
    UpdateJobFactory,
)

pytestmark = pytest.mark.django_db


def mixed_fleet(receiver, *, size=80, seed=7):
    """Two types; every reason of the red among them: offline and never seen, forbidding and
    approving sites, no IP channel, unsupported boards, newer versions, failed and cancelled
    last updates, updating, current; and a panel without a site."""
    rng = random.Random(seed)
    gsm = DeviceTypeFactory(code="nord-gsm", name="Nord GSM")
    lan = DeviceTypeFactory(code="nord-lan", name="Nord LAN")
    releases = {gsm: ReleaseFactory(device_type=gsm, version="5.40"), lan: ReleaseFactory(device_type=lan, version="2.0")}
    now = timezone.now()
    for i in range(size):
        device_type = rng.choice([gsm, lan])
        site = SiteFactory(receiver=receiver, number=5000 + i,
                           remote_update=rng.choice([RemoteUpdate.ALLOWED] * 6 + [RemoteUpdate.FORBIDDEN, RemoteUpdate.APPROVAL]))
        device = DeviceFactory(
            site=site, device_type=device_type,
            firmware_version=rng.choice(["5.30", "5.40", "5.50", "1.9", "2.0"]),
            hardware_revision=rng.choice(["2.1", "2.2", "9.9"]),
            channels=rng.choice([["gprs"], ["ethernet", "gprs"], ["gsm_voice"]]),
            last_seen=rng.choice([now, now - timedelta(minutes=1), now - timedelta(days=30), None]))
        outcome = rng.randrange(6)
        if outcome == 0:
            UpdateJobFactory(device=device, release=releases[device_type], state=JobState.DOWNLOADING)
        elif outcome in (1, 2):
            UpdateJobFactory(device=device, release=releases[device_type],
                             state=JobState.FAILED if outcome == 1 else JobState.CANCELLED)
    DeviceFactory(site=None, receiver=receiver, device_type=gsm, firmware_version="5.30", last_seen=now)
    return gsm, lan


def normal(rows):
    """Sorted, the flags (at a site, the condition) as booleans: SQLite gives 0 and 1."""
    return sorted((*row[:4], *(bool(flag) for flag in row[4:-1]), row[-1]) for row in rows)


def counted_directly(receiver, device_type=None, condition=None):
    """The same groups as `fleet_counts`, by one pass over the devices (the way the statistics
    counted before the tally)."""
    releases = current_releases()
    devices = Device.objects.filter(receiver=receiver, device_type__isnull=False)
    if device_type is not None:
        devices = devices.filter(device_type=device_type)
        releases = {device_type.pk: releases[device_type.pk]}
    keys = [F("device_type_id"),
            verdict_expression(releases, offline_since=offline_since(receiver), one_type=device_type is not None),
            F("firmware_version"), F("hardware_revision"),
            ExpressionWrapper(Q(site__isnull=False), output_field=BooleanField())]
    if condition is not None:
        devices = devices.alias(badge=badge_expression(current_version=releases[device_type.pk].version))
        keys.append(ExpressionWrapper(condition, output_field=BooleanField()))
    return normal(group_counts(devices, *keys))


def from_tally(receiver, device_type=None, condition=None):
    releases = current_releases()
    if device_type is not None:
        releases = {device_type.pk: releases[device_type.pk]}
    rows = fleet_counts(receiver=receiver, device_type=device_type, releases=releases,
                        keys=[F("firmware_version"), F("hardware_revision"),
                              ExpressionWrapper(Q(site__isnull=False), output_field=BooleanField())],
                        condition=condition)
    return normal(rows)


def test_statistics_from_the_tally_are_those_of_a_pass_over_every_device():
    receiver = ReceiverFactory()
    gsm, lan = mixed_fleet(receiver)
    assert tally.differences() == {}
    assert from_tally(receiver) == counted_directly(receiver)
    assert from_tally(receiver, gsm) == counted_directly(receiver, gsm)
    condition = Q(badge="red") & Q(hardware_revision="2.1")
    assert from_tally(receiver, lan, condition) == counted_directly(receiver, lan, condition)
    # The clock moves a panel offline, a site forbids updates: no write to the tally, and the
    # statistics follow all the same.
    Device.objects.filter(receiver=receiver, last_seen__isnull=False).update(last_seen=timezone.now() - timedelta(days=1))
    Site.objects.filter(receiver=receiver, number__lt=5020).update(remote_update=RemoteUpdate.FORBIDDEN)
    assert from_tally(receiver, gsm) == counted_directly(receiver, gsm)
    offline = next(r for r in receiver_firmware_stats(receiver=receiver, device_type=gsm))
    assert offline.red_reasons.get("offline", 0) > 0


def test_statistics_follow_the_clock_with_their_statements_compiled_once(monkeypatch):
    """fleet_counts compiles its two statements once per receiver, type and releases
    (selectors._STATEMENTS) and binds the receiver's offline_since at each execution: as the
    clock moves, panels fall offline without a write anywhere, and the same statements count
    them so."""
    receiver = ReceiverFactory()
    gsm, _ = mixed_fleet(receiver)
    before = from_tally(receiver, gsm)
    assert before == counted_directly(receiver, gsm)
    compiled = len(selectors._STATEMENTS)
    later = timezone.now() + timedelta(days=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    after = from_tally(receiver, gsm)
    assert len(selectors._STATEMENTS) == compiled  # the same statements, executed again
    assert after == counted_directly(receiver, gsm) != before
    assert {verdict for _, verdict, *_ in after} & {"offline"}
    assert not {verdict for _, verdict, *_ in after} & {"failed", "cancelled", "not_queued"}


def test_a_panel_gone_quiet_is_offline_at_every_moment_across_midnight(monkeypatch):
    """The tally keeps the UTC day of each panel's last contact (tally.seen_day): a panel quiet
    since before the offline threshold's day is offline from the tally alone, one seen that
    day is read directly. At every moment around a midnight, and the threshold crossing
    it, the counts are those of a pass over the devices."""
    receiver = ReceiverFactory()
    gsm, _ = mixed_fleet(receiver, size=40)
    midnight = tally.seen_day(timezone.now()) + timedelta(days=1)
    lag = timezone.now() - offline_since(receiver)  # how long a panel stays online unheard
    seen = [midnight + offset for offset in (
        -timedelta(days=3), -timedelta(days=1, minutes=1), -lag - timedelta(seconds=1), -lag, -timedelta(hours=1),
        -timedelta(seconds=1), timedelta(0), timedelta(seconds=1), lag, timedelta(hours=5))]
    for i, moment in enumerate(seen):  # panels a rollout would queue but for being offline
        DeviceFactory(site=SiteFactory(receiver=receiver, number=7000 + i), device_type=gsm, firmware_version="5.30",
                      hardware_revision="2.1", channels=["gprs"], last_seen=moment)
    assert tally.differences() == {}
    for clock in (midnight - lag - timedelta(hours=2), midnight - timedelta(seconds=1), midnight + timedelta(seconds=1),
                  midnight + lag - timedelta(seconds=1), midnight + lag, midnight + lag + timedelta(seconds=1),
                  midnight + lag + timedelta(hours=6), midnight + timedelta(days=2)):
        monkeypatch.setattr(timezone, "now", lambda clock=clock: clock)
        assert from_tally(receiver, gsm) == counted_directly(receiver, gsm), clock
        assert from_tally(receiver) == counted_directly(receiver), clock


def test_every_way_of_writing_devices_is_counted():
    receiver = ReceiverFactory()
    gsm, lan = mixed_fleet(receiver, size=30)
    other = ReceiverFactory()
    Device.objects.filter(receiver=receiver, firmware_version="5.30").update(firmware_version="5.40",
                                                                             firmware_version_key="000005.000040")
    device = Device.objects.filter(receiver=receiver, site__isnull=False).first()
    device.hardware_revision, device.channels = "2.2", ["gsm_voice"]
    device.save()
    with connection.cursor() as cursor:  # not through Django at all
        cursor.execute(f"UPDATE {Device._meta.db_table} SET last_outcome = 'failed' WHERE device_type_id = %s",
                       [lan.pk])
    Device.objects.bulk_create([Device(receiver=other, serial=f"BULK{i:04d}", device_type=gsm, firmware_version="5.30")
                                for i in range(5)])
    Device.objects.filter(serial__startswith="BULK").update(receiver=receiver)  # moved to another receiver
    Device.objects.filter(site__isnull=True).delete()
    site = SiteFactory(receiver=receiver, number=9000)
    Device.objects.filter(serial="BULK0000").update(site=site)
    assert tally.differences() == {}
    assert from_tally(receiver) == counted_directly(receiver)
    assert from_tally(other) == []


def test_a_tally_gone_wrong_is_found_and_rewritten(caplog):
    receiver = ReceiverFactory()
    gsm, _ = mixed_fleet(receiver, size=10)
    right = receiver_firmware_stats(receiver=receiver, device_type=gsm)
    DeviceTally.objects.create(receiver_id=receiver.pk, device_type_id=gsm.pk, site=1, firmware_version="5.30",
                               firmware_version_key="000005.000030", hardware_revision="2.1", has_ip_channel=True,
                               active_job=None, last_outcome="", n=7)
    assert receiver_firmware_stats(receiver=receiver, device_type=gsm)[0].total == right[0].total + 7
    with caplog.at_level(logging.ERROR, logger="core.tally"):
        assert tally.check() == 1
    assert "the device tally differed from the panels in 1 groups" in caplog.text
    assert receiver_firmware_stats(receiver=receiver, device_type=gsm) == right
    assert tally.check() == 0


def test_the_triggers_come_back_with_every_migrate():
    """SQLite drops a table's triggers when a migration rebuilds the table: the install after
    every migrate makes them again and counts what was written meanwhile."""
    receiver = ReceiverFactory()
    gsm, _ = mixed_fleet(receiver, size=10)
    with connection.cursor() as cursor:
        for name in tally.TRIGGER_NAMES:
            cursor.execute(f"DROP TRIGGER {name}" + (f" ON {Device._meta.db_table}" if connection.vendor == "postgresql" else ""))
    DeviceFactory(site__receiver=receiver, device_type=gsm)
    assert tally.differences() != {}
    sites = apps.get_app_config("sites")
    post_migrate.send(sender=sites, app_config=sites, verbosity=0, interactive=False, using="default", plan=[],
                      apps=apps)
    assert tally.differences() == {}
    DeviceFactory(site__receiver=receiver, device_type=gsm)
    assert tally.differences() == {}


def test_folding_keeps_every_count():
    receiver = ReceiverFactory()
    gsm, _ = mixed_fleet(receiver, size=20)
    for _ in range(5):  # to and fro: on PostgreSQL each statement appends its changes
        Device.objects.filter(receiver=receiver).update(last_outcome="failed")
        Device.objects.filter(receiver=receiver).update(last_outcome="")
    rows = DeviceTally.objects.count()
    removed = tally.fold()
    assert DeviceTally.objects.count() == rows - removed
    assert not DeviceTally.objects.filter(n=0).exists()
    assert from_tally(receiver) == counted_directly(receiver)
    assert tally.differences() == {}
    if connection.vendor == "postgresql":
        assert removed > 0 and DeviceTally.objects.count() == len(tally.DEVICE_TALLY.rows_counted())


@pytest.mark.django_db(transaction=True)
def test_writers_and_folds_at_once_lose_no_count():
    """Panels' reports, a rollout's batches and beat's fold all at once: every change counted
    once (PostgreSQL: the triggers append without locking; the fold sums what it deletes)."""
    receiver = ReceiverFactory()
    mixed_fleet(receiver, size=40)
    ids = list(Device.objects.filter(receiver=receiver).values_list("pk", flat=True))
    errors = []

    def writer(seed):
        rng = random.Random(seed)
        try:
            for _ in range(30):
                chosen = rng.sample(ids, 5)
                Device.objects.filter(pk__in=chosen).update(
                    last_outcome=rng.choice(["", "failed", "cancelled"]), hardware_revision=rng.choice(["2.1", "2.2"]))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    def folder():
        try:
            for _ in range(15):
                tally.fold()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(3)] + [threading.Thread(target=folder)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert tally.differences() == {}
    assert from_tally(receiver) == counted_directly(receiver)
