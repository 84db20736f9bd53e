"""The receiver's "Site software update" statistics (seed: Information about Sites on Receiver)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from firmware_updates.models import JobState
from firmware_updates.selectors import Badge, device_type_sites, receiver_firmware_stats
from tests.factories import (
    DeviceFactory,
    DeviceTypeFactory,
    ReceiverFactory,
    ReleaseFactory,
    SiteFactory,
    UpdateJobFactory,
)

pytestmark = pytest.mark.django_db


def seed_example(receiver):
    """20 Nord GSM panels, current 5.40: 10 current, 10 old of which 4 updating and 6 not planned."""
    nord = DeviceTypeFactory(code="nord-gsm", name="Nord GSM")
    ReleaseFactory(device_type=nord, version="5.30", is_current=False)
    current = ReleaseFactory(device_type=nord, version="5.40", is_current=True)
    devices = []
    for i in range(20):
        site = SiteFactory(receiver=receiver, number=100 + i)
        version = "5.40" if i < 10 else "5.30"
        devices.append(DeviceFactory(site=site, device_type=nord, firmware_version=version,
                                     last_seen=timezone.now()))
    for device in devices[10:14]:
        UpdateJobFactory(device=device, release=current, state=JobState.DOWNLOADING)
    UpdateJobFactory(device=devices[14], release=current, state=JobState.FAILED)
    return nord, devices


def test_seed_example_twenty_nord_gsm_panels():
    receiver = ReceiverFactory()
    nord, _ = seed_example(receiver)
    [row] = receiver_firmware_stats(receiver=receiver)
    assert row.device_type == nord
    assert row.current_version == "5.40"
    assert (row.total, row.current, row.outdated, row.not_planned, row.updating) == (20, 10, 10, 6, 4)


def test_versions_compare_numerically_not_as_strings():
    receiver = ReceiverFactory()
    nord = DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    ReleaseFactory(device_type=nord, version="5.8", is_current=False)
    from firmware_updates.models import Release

    assert [r.version for r in Release.objects.filter(device_type=nord)] == ["5.40", "5.8"]
    DeviceFactory(site__receiver=receiver, device_type=nord, firmware_version="5.4")
    [row] = receiver_firmware_stats(receiver=receiver)
    assert row.current == 0 and row.not_planned == 1


def test_red_counts_split_not_eligible_and_offline():
    receiver = ReceiverFactory(poll_sleep=timedelta(minutes=5))
    nord = DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40", hardware_revisions=["2.1"])
    now = timezone.now()
    DeviceFactory(site__receiver=receiver, device_type=nord, channels=["gsm_voice"], last_seen=now)
    DeviceFactory(site__receiver=receiver, device_type=nord, hardware_revision="1.0", last_seen=now)
    DeviceFactory(site__receiver=receiver, device_type=nord, last_seen=now - timedelta(hours=2))
    DeviceFactory(site__receiver=receiver, device_type=nord, last_seen=now)
    [row] = receiver_firmware_stats(receiver=receiver)
    assert (row.not_planned, row.not_eligible, row.offline) == (4, 2, 1)


def test_statistics_take_constant_queries_whatever_the_fleet_size(django_assert_max_num_queries):
    receiver = ReceiverFactory()
    seed_example(receiver)
    other = DeviceTypeFactory(code="nord-lan", name="Nord LAN")
    ReleaseFactory(device_type=other, version="2.0")
    for _ in range(30):
        DeviceFactory(site__receiver=receiver, device_type=other, firmware_version="1.9")
    # The current releases, the tally, the panels offline or at a site forbidding updates, the
    # device types (sites/tally.py).
    with django_assert_max_num_queries(4):
        rows = receiver_firmware_stats(receiver=receiver)
    assert [r.device_type.code for r in rows] == ["nord-gsm", "nord-lan"]


def test_device_type_page_filters_by_badge():
    receiver = ReceiverFactory()
    nord, devices = seed_example(receiver)
    by_badge = {b: device_type_sites(receiver=receiver, device_type=nord, badge=b).count()
                for b in (Badge.GREEN, Badge.YELLOW, Badge.RED)}
    assert by_badge == {"green": 10, "yellow": 4, "red": 6}
    failed = device_type_sites(receiver=receiver, device_type=nord, site_number="114").get()
    (row,) = device_type_sites(receiver=receiver, device_type=nord, ids=[failed.pk])
    assert row.badge == Badge.RED and row.last_job_state == JobState.FAILED
