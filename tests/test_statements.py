"""A statement the ORM composed once (core/statements.py) answers each call with its own
values, what the queryset itself answers: the same rows, the same objects with their
`select_related` objects, the same conversions."""

import pytest
from django.db.models import BigIntegerField, Count
from django.utils import timezone

from core.statements import Bound, Statement
from firmware_updates.models import JobState, Release, UpdateJob
from firmware_updates.selectors import awaiting_approval_count, latest_rollout, not_returned_panels
from firmware_updates.services import rollout_run, rollout_start
from sites.models import Device
from tests.factories import DeviceFactory, DeviceTypeFactory, ReceiverFactory, ReleaseFactory

pytestmark = pytest.mark.django_db

BY_TYPE = Statement(lambda: Release.objects.filter(device_type_id=Bound("device_type", BigIntegerField()))
                    .select_related("device_type").order_by("version"))
SEEN_BY_RECEIVER = Statement(lambda: Device.objects.filter(receiver_id=Bound("receiver", BigIntegerField()))
                             .order_by("serial").values_list("serial", "last_seen", "channels"))
COUNTED = Statement(lambda: Device.objects.filter(receiver_id=Bound("receiver", BigIntegerField()))
                    .order_by().values("firmware_version").annotate(n=Count("pk"))
                    .values_list("firmware_version", "n"))


def test_each_call_answers_for_its_own_values_as_the_queryset_does():
    nord, other = DeviceTypeFactory(code="nord"), DeviceTypeFactory(code="other")
    ReleaseFactory(device_type=nord, version="5.40")
    ReleaseFactory(device_type=nord, version="5.30", is_current=False)
    ReleaseFactory(device_type=other, version="1.0")
    for device_type in (nord, other, nord):
        found = BY_TYPE.objects(device_type=device_type.pk)
        expected = list(Release.objects.filter(device_type=device_type).select_related("device_type").order_by("version"))
        assert [(r.pk, r.version, r.hardware_revisions, r.created_at) for r in found] == [
            (r.pk, r.version, r.hardware_revisions, r.created_at) for r in expected]
        # The related object came with the row, as select_related's does: no query for it.
        assert {r.device_type.code for r in found} == {device_type.code}
    assert BY_TYPE.objects(device_type=0) == []


def test_rows_are_converted_as_values_list_converts_them(django_assert_num_queries):
    north, south = ReceiverFactory(code="north"), ReceiverFactory(code="south")
    seen = timezone.now()
    DeviceFactory(site__receiver=north, serial="N-2", last_seen=seen, channels=["gprs", "ethernet"])
    DeviceFactory(site__receiver=north, serial="N-1", last_seen=None, channels=[])
    DeviceFactory(site__receiver=south, serial="S-1", last_seen=seen, channels=["sms"])
    for receiver in (north, south):
        expected = list(Device.objects.filter(receiver=receiver).order_by("serial")
                        .values_list("serial", "last_seen", "channels"))
        with django_assert_num_queries(1):
            assert SEEN_BY_RECEIVER.rows(receiver=receiver.pk) == expected
    assert sorted(COUNTED.rows(receiver=north.pk)) == sorted(
        Device.objects.filter(receiver=north).values("firmware_version").annotate(n=Count("pk"))
        .values_list("firmware_version", "n").order_by())


def test_the_device_type_pages_reads_through_statements():
    receiver, nord = ReceiverFactory(code="north"), DeviceTypeFactory(code="nord")
    release = ReleaseFactory(device_type=nord, version="5.40", is_current=True)
    assert latest_rollout(receiver=receiver, device_type=nord) is None
    away = timezone.now() - timezone.timedelta(minutes=30)
    for number in range(1, 4):
        DeviceFactory(site__receiver=receiver, site__number=number, device_type=nord, firmware_version="5.30",
                      not_returned_since=away if number != 2 else None)
    first, _ = rollout_start(receiver=receiver, device_type=nord, actor=None)
    shown = latest_rollout(receiver=receiver, device_type=nord)
    assert (shown.pk, shown.release.version, shown.receiver, shown.device_type) == (first.pk, "5.40", receiver, nord)
    assert shown.release == release
    assert [p["site_number"] for p in not_returned_panels(receiver=receiver, device_type=nord)] == [1, 3]
    UpdateJob.objects.filter(device__site__number=3).update(state=JobState.AWAITING_APPROVAL)
    held = UpdateJob.objects.filter(state=JobState.AWAITING_APPROVAL).count()
    assert awaiting_approval_count(receiver=receiver, device_type=nord) == held
    assert awaiting_approval_count(receiver=ReceiverFactory(code="south"), device_type=nord) == 0


def test_the_rollout_cards_counts_are_the_pages_of_rollouts_counts():
    from firmware_updates.selectors import outcomes_and_waves, rollout_outcomes_and_waves

    receiver, nord = ReceiverFactory(code="north"), DeviceTypeFactory(code="nord")
    ReleaseFactory(device_type=nord, version="5.40", is_current=True)
    for number in range(1, 7):
        DeviceFactory(site__receiver=receiver, site__number=number, device_type=nord, firmware_version="5.30")
    rollout, _ = rollout_start(receiver=receiver, device_type=nord, actor=None, wave_counts=[2, 6])
    rollout_run(rollout_id=rollout.pk)  # the canary wave: two jobs
    jobs = list(UpdateJob.objects.filter(rollout=rollout).order_by("pk"))
    UpdateJob.objects.filter(pk=jobs[0].pk).update(state=JobState.FAILED)
    UpdateJob.objects.filter(pk=jobs[1].pk).update(state=JobState.SUCCEEDED, confirmed_at=timezone.now())
    finished, waves = rollout_outcomes_and_waves(rollout)
    by_page, waves_by_page = outcomes_and_waves([rollout])
    assert finished == by_page[rollout.pk] == {JobState.FAILED: 1, JobState.SUCCEEDED: 1}
    assert [(w.number, w.succeeded, w.failed) for w in waves] == [
        (w.number, w.succeeded, w.failed) for w in waves_by_page[rollout.pk]]
    assert (waves[0].succeeded, waves[0].failed) == (1, 1)
