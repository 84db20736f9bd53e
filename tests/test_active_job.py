"""Device.active_job: the device's copy of "which job is active", kept by the job services in
the transactions that queue and finish jobs, repaired by reconciliation if anything drifts."""

import importlib
import logging
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from firmware_updates import services
from firmware_updates.models import JobState, UpdateJob
from firmware_updates.selectors import receiver_firmware_stats
from sites.models import Device
from tests.consistency import assert_active_jobs_recorded
from tests.factories import (
    DeviceFactory,
    UpdateJobFactory,
)

pytestmark = pytest.mark.django_db
S = JobState


@pytest.fixture
def fleet_sites():
    """`fleet` with three panels, on sites 1 to 3."""
    return [1, 2, 3]


def queue(receiver, number):
    return services.update_job_create(receiver=receiver, site_number=number, actor=None)


def feedback(job, execution, finished="none"):
    return services.job_apply_feedback(job=job, execution=execution, finished=finished, progress=None, details=[])


def active_job_of(device) -> int | None:
    return Device.objects.values_list("active_job", flat=True).get(pk=device.pk)


def test_queueing_a_site_points_its_device_at_the_job_and_finishing_clears_it(fleet):
    receiver, _, _, devices = fleet
    job = queue(receiver, 1)
    assert active_job_of(devices[0]) == job.pk
    job = feedback(feedback(job, "download"), "downloaded")
    assert active_job_of(devices[0]) == job.pk  # still active: downloaded
    feedback(job, "closed", "failure")
    assert active_job_of(devices[0]) is None
    assert_active_jobs_recorded()


@pytest.mark.parametrize("ending", ["cancel queued", "cancel acknowledged", "success", "install timeout"])
def test_every_way_a_job_ends_clears_the_device(fleet, ending, settings):
    receiver, _, _, devices = fleet
    job = queue(receiver, 1)
    if ending == "cancel queued":
        job = services.update_job_cancel(job=job, actor=None)
    elif ending == "cancel acknowledged":
        job = services.update_job_cancel(job=feedback(job, "download"), actor=None)
        assert job.state == S.CANCELLING and active_job_of(devices[0]) == job.pk
        job = services.job_apply_cancel_feedback(job=job, execution="closed", finished="success", details=[])
    elif ending == "success":
        job = feedback(feedback(job, "scheduled"), "closed", "success")
    else:
        job = feedback(feedback(job, "scheduled"), "proceeding")
        services.reconcile(now=timezone.now() + settings.UPDATE_INSTALL_TIMEOUT + timedelta(minutes=1))
        job.refresh_from_db()
    assert job.state in (S.CANCELLED, S.SUCCEEDED, S.FAILED)
    assert active_job_of(devices[0]) is None
    assert_active_jobs_recorded()
    assert queue(receiver, 1).pk == active_job_of(devices[0])  # queued again: points at the new job


def test_a_refused_cancel_keeps_the_job_on_the_device(fleet):
    receiver, _, _, devices = fleet
    job = services.update_job_cancel(job=feedback(queue(receiver, 1), "download"), actor=None)
    job = services.job_apply_cancel_feedback(job=job, execution="rejected", finished="none", details=[])
    assert job.state == S.DOWNLOADING and active_job_of(devices[0]) == job.pk


def test_statistics_follow_the_job_from_yellow_back_to_red(fleet):
    receiver, _, _, _ = fleet
    job = queue(receiver, 2)
    [row] = receiver_firmware_stats(receiver=receiver)
    assert (row.updating, row.not_planned) == (1, 2)
    feedback(job, "closed", "failure")
    [row] = receiver_firmware_stats(receiver=receiver)
    assert (row.updating, row.not_planned) == (0, 3)


def test_saving_a_device_read_before_its_job_was_queued_keeps_the_job(fleet):
    receiver, _, _, devices = fleet
    stale = Device.objects.get(pk=devices[0].pk)
    job = queue(receiver, 1)
    stale.firmware_version = "5.31"
    stale.save()  # the admin's or configData's whole-row save
    assert active_job_of(devices[0]) == job.pk
    services.device_report_attributes(device=stale, data={"sw_version": "5.32"})
    assert active_job_of(devices[0]) == job.pk


def test_repair_fixes_drift_and_says_so(fleet, caplog):
    receiver, _, release, devices = fleet
    lost, stale_job, wrong = queue(receiver, 1), queue(receiver, 2), queue(receiver, 3)
    feedback(stale_job, "closed", "failure")
    # Written past the services, as raw SQL or a restored backup would.
    Device.objects.filter(pk=devices[0].pk).update(active_job=None)
    Device.objects.filter(pk=devices[1].pk).update(active_job=stale_job)
    Device.objects.filter(pk=devices[2].pk).update(active_job=lost)
    other = DeviceFactory(site__receiver=receiver, site__number=9)
    UpdateJobFactory(device=other, release=release, state=S.QUEUED)
    Device.objects.filter(pk=other.pk).update(active_job=None)
    gone = DeviceFactory(site__receiver=receiver, site__number=10)
    deleted = UpdateJobFactory(device=gone, release=release, state=S.QUEUED)
    with connection.cursor() as cursor:  # no constraint in the database: the pointer dangles
        cursor.execute(f"DELETE FROM {UpdateJob._meta.db_table} WHERE id = %s", [deleted.pk])
    with caplog.at_level(logging.WARNING, logger="firmware_updates.services.reconcile"):
        assert services.device_active_job_repair() == 5
    assert "Device.active_job was wrong on 5 device(s)" in caplog.text
    assert active_job_of(gone) is None
    assert_active_jobs_recorded()
    assert active_job_of(devices[2]) == wrong.pk
    assert services.device_active_job_repair() == 0


def test_repair_finds_nothing_after_the_services(fleet, eager_celery, settings):
    receiver, nord, _, _ = fleet
    settings.ROLLOUT_BATCH_SIZE = 2
    queue(receiver, 1)
    services.rollout_start(receiver=receiver, device_type=nord, actor=None)
    assert_active_jobs_recorded()
    assert services.device_active_job_repair() == 0


def test_migration_fills_the_column_from_the_active_jobs(fleet):
    receiver, _, release, devices = fleet
    active = UpdateJobFactory(device=devices[0], release=release, state=S.READY)
    UpdateJobFactory(device=devices[1], release=release, state=S.FAILED)
    Device.objects.update(active_job=None)
    migration = importlib.import_module("sites.migrations.0003_device_active_job_fill")
    migration.fill(apps, None)
    assert active_job_of(devices[0]) == active.pk
    assert_active_jobs_recorded()


def test_a_panel_with_an_active_job_can_still_be_deleted(fleet):
    receiver, _, _, devices = fleet
    job = queue(receiver, 1)
    devices[0].delete()
    assert not UpdateJob.objects.filter(pk=job.pk).exists()
    assert_active_jobs_recorded()
