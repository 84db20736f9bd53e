"""Quotas (DEVELOPERS.md "Quotas"): each is a setting, tested at its boundary with the setting
shrunk. The device protocol's (status entries, attributes) are in tests/ddi/test_quotas.py,
the upload's over the API in tests/api/test_releases.py; here the services and the jobs a
device keeps, which are pruned rather than refused."""

import hashlib
import io

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import QuotaExceeded
from firmware_updates import services
from firmware_updates.errors import ReleaseOverQuota, ReleaseRejected
from firmware_updates.models import JobState, Release, Rollout, UpdateJob, UpdateJobEvent
from securitycenter import settings as project_settings
from tests.consistency import assert_active_jobs_recorded
from tests.factories import UpdateJobFactory, UserFactory

from .api.conftest import swu_archive

pytestmark = pytest.mark.django_db
S = JobState


@pytest.fixture
def fleet_sites():
    return [1204, 1205, 1206]


def finished(device, release, count, state=S.FAILED, **fields):
    """`count` finished jobs of `device`, oldest first, each with a line on its timeline."""
    jobs = [UpdateJobFactory(device=device, release=release, state=state, **fields) for _ in range(count)]
    for job in jobs:
        services.job_event_record(job=job, actor=services.ACTOR_DEVICE, kind="report", details={"n": job.pk})
    return jobs


def jobs_of(device) -> list[int]:
    return list(UpdateJob.objects.filter(device=device).order_by("pk").values_list("pk", flat=True))


def queue(receiver, number, user):
    return services.update_job_create(receiver=receiver, site_number=number, actor=user)


# --- jobs kept per device (DEVICE_MAX_JOBS): the oldest finished ones pruned ----------------


def test_queueing_at_the_job_quota_keeps_everything_and_one_more_prunes_the_oldest(fleet, settings):
    settings.DEVICE_MAX_JOBS = 3
    receiver, _, release, (device, neighbour, _) = fleet
    user = UserFactory()
    old = [job.pk for job in finished(device, release, 2)]
    theirs = [job.pk for job in finished(neighbour, release, 5)]

    first = queue(receiver, 1204, user)  # 2 finished + the new one: exactly the quota
    assert jobs_of(device) == [*old, first.pk]

    services.update_job_cancel(job=first, actor=user)
    second = queue(receiver, 1204, user)  # one more: the oldest finished job goes
    assert jobs_of(device) == [old[1], first.pk, second.pk]
    assert not UpdateJobEvent.objects.filter(job_id=old[0]).exists()
    assert UpdateJobEvent.objects.filter(job_id=old[1]).exists()
    assert jobs_of(neighbour) == theirs  # another device's history is its own
    assert_active_jobs_recorded()


def test_pruning_takes_as_many_queries_for_many_old_jobs_as_for_one(fleet, settings):
    settings.DEVICE_MAX_JOBS = 2
    receiver, _, release, (device, chatty, quiet) = fleet
    user = UserFactory()
    finished(device, release, 2)  # one to prune
    finished(chatty, release, 30)  # 29 to prune
    finished(quiet, release, 1)  # none

    counts = []
    for number in (1204, 1205):
        with CaptureQueriesContext(connection) as queries:
            queue(receiver, number, user)
        counts.append(len(queries))
    with CaptureQueriesContext(connection) as queries:
        queue(receiver, 1206, user)

    assert counts[0] == counts[1]
    assert len(queries) < counts[0]  # nothing to prune: one read
    assert [len(jobs_of(d)) for d in (device, chatty, quiet)] == [2, 2, 2]


def test_jobs_of_an_open_rollout_are_kept_past_the_quota(fleet, settings):
    settings.DEVICE_MAX_JOBS = 1
    receiver, nord, release, (device, _, _) = fleet
    rollout = Rollout.objects.create(receiver=receiver, device_type=nord, release=release, state=Rollout.State.PAUSED)
    in_rollout = finished(device, release, 1, rollout=rollout)[0]
    plain = finished(device, release, 1)[0]

    job = queue(receiver, 1204, UserFactory())

    assert jobs_of(device) == [in_rollout.pk, job.pk]
    assert not UpdateJob.objects.filter(pk=plain.pk).exists()


def test_a_rollout_prunes_each_devices_oldest_jobs_in_its_batch(fleet, settings, eager_celery,
                                                                  django_capture_on_commit_callbacks):
    settings.DEVICE_MAX_JOBS = 2
    receiver, nord, release, devices = fleet
    before = {device.pk: [job.pk for job in finished(device, release, 3)] for device in devices}

    with django_capture_on_commit_callbacks(execute=True):
        rollout, _ = services.rollout_start(receiver=receiver, device_type=nord, actor=UserFactory(),
                                            waves=[100])
    for device in devices:
        new = UpdateJob.objects.get(device=device, rollout=rollout)
        assert jobs_of(device) == [before[device.pk][-1], new.pk]
    assert_active_jobs_recorded()


# --- archives: size and storage --------------------------------------------------------------


def archive_bytes() -> bytes:
    return swu_archive(version="5.50").getvalue()  # 5.40 is the fleet's


def test_an_archive_streamed_past_the_size_quota_is_refused_naming_it(fleet, settings):
    data = archive_bytes()
    settings.FIRMWARE_MAX_ARCHIVE_SIZE = len(data) - 1
    with pytest.raises(ReleaseOverQuota) as refused:
        services.release_create(archive=io.BytesIO(data))  # no `size`: only reading finds out
    assert refused.value.status == 413 and refused.value.quota == "FIRMWARE_MAX_ARCHIVE_SIZE"
    assert isinstance(refused.value, ReleaseRejected)  # the panel and the admin show it as such
    assert Release.objects.count() == 1

    settings.FIRMWARE_MAX_ARCHIVE_SIZE = len(data)
    assert services.release_create(archive=io.BytesIO(data)).size == len(data)


def test_the_storage_quota_counts_every_stored_archive(fleet, settings):
    data = archive_bytes()
    used = fleet.release.size
    settings.FIRMWARE_MAX_ARCHIVE_STORAGE = used + len(data) - 1
    with pytest.raises(ReleaseOverQuota, match="FIRMWARE_MAX_ARCHIVE_STORAGE") as refused:
        services.release_create(archive=io.BytesIO(data))  # refused under the lock, once read
    assert refused.value.status == 413
    assert list(Release.objects.values_list("pk", flat=True)) == [fleet.release.pk]
    assert not list(settings.MEDIA_ROOT.rglob(f"{hashlib.sha256(data).hexdigest()}*"))

    settings.FIRMWARE_MAX_ARCHIVE_STORAGE = used + len(data)
    assert services.release_create(archive=io.BytesIO(data)).version == "5.50"


def test_quota_errors_name_their_setting():
    error = QuotaExceeded("Too many.", quota="DEVICE_MAX_ATTRIBUTES")
    assert (error.status, error.quota, str(error)) == (429, "DEVICE_MAX_ATTRIBUTES", "Too many.")


def test_a_quota_below_one_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("DEVICE_MAX_JOBS", "0")
    with pytest.raises(ImproperlyConfigured, match="DEVICE_MAX_JOBS is a quota"):
        project_settings._quota("DEVICE_MAX_JOBS", 100)
    monkeypatch.setenv("DEVICE_MAX_JOBS", "1")
    assert project_settings._quota("DEVICE_MAX_JOBS", 100) == 1
