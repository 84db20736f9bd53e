"""Races settled in the database: operator cancel against the device's `downloaded`, two
operators queueing the same site at once, and a device's configData crossing its own
"closed" feedback (lock order job, then device)."""

import threading

import pytest
from django.db import connection

from firmware_updates import services
from firmware_updates.errors import UpdateNotAllowed
from firmware_updates.models import JobState, UpdateJob
from sites.models import Device
from tests.consistency import assert_active_jobs_recorded
from tests.factories import DeviceFactory, DeviceTypeFactory, ReceiverFactory, ReleaseFactory

pytestmark = pytest.mark.django_db(transaction=True)
S = JobState
ROUNDS = 15


def race(*actions):
    """Run the actions in threads released at the same instant; returns their outcomes."""
    barrier = threading.Barrier(len(actions))
    outcomes = [None] * len(actions)

    def run(i, action):
        try:
            barrier.wait()
            outcomes[i] = action()
        except Exception as exc:  # noqa: BLE001 - the outcome is what we assert on
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_cancel_racing_downloaded_has_exactly_one_winner():
    receiver, nord = ReceiverFactory(), DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    winners = {"cancel": 0, "device": 0}
    for number in range(ROUNDS):
        DeviceFactory(site__receiver=receiver, site__number=number, device_type=nord)
        job = services.update_job_create(receiver=receiver, site_number=number, actor=None)
        job = services.job_apply_feedback(job=job, execution="download", finished="none", progress=None, details=[])

        cancel, _ = race(
            lambda job=job: services.update_job_cancel(job=UpdateJob.objects.get(pk=job.pk), actor=None),
            lambda job=job: services.job_apply_feedback(job=UpdateJob.objects.get(pk=job.pk), execution="downloaded",
                                                        finished="none", progress=None, details=[]),
        )
        job.refresh_from_db()
        path = [(e.from_state, e.to_state) for e in job.events.filter(kind="transition").order_by("at", "id")]
        if isinstance(cancel, UpdateNotAllowed):
            # The device won: the download completed first and the cancel was refused.
            assert cancel.code == "already_downloaded"
            assert job.state == S.DOWNLOADED
            assert path[-1] == (S.DOWNLOADING, S.DOWNLOADED)
            winners["device"] += 1
        else:
            # The cancel won: the device is asked to cancel; its `downloaded` is remembered
            # so a refusal returns the job there.
            assert job.state == S.CANCELLING and job.state_before_cancel == S.DOWNLOADED
            assert path[-1] == (S.DOWNLOADING, S.CANCELLING)
            winners["cancel"] += 1
        assert [to for _, to in path].count(S.CANCELLING) + [to for _, to in path].count(S.DOWNLOADED) == 1
    assert sum(winners.values()) == ROUNDS
    assert_active_jobs_recorded()


def test_two_operators_queueing_one_site_create_one_job():
    receiver, nord = ReceiverFactory(), DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    for number in range(ROUNDS):
        DeviceFactory(site__receiver=receiver, site__number=number, device_type=nord)
        outcomes = race(*[lambda number=number: services.update_job_create(
            receiver=receiver, site_number=number, actor=None)] * 3)
        created = [o for o in outcomes if isinstance(o, UpdateJob)]
        refused = [o for o in outcomes if isinstance(o, UpdateNotAllowed)]
        assert len(created) == 1 and len(refused) == 2, outcomes
        assert all(r.code == "already_updating" for r in refused)
    assert UpdateJob.objects.count() == ROUNDS
    assert_active_jobs_recorded()


def test_config_data_crossing_the_closed_feedback_neither_deadlocks_nor_loses_the_confirmation():
    receiver, nord = ReceiverFactory(), DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    for number in range(ROUNDS):
        device = DeviceFactory(site__receiver=receiver, site__number=number, device_type=nord)
        job = services.update_job_create(receiver=receiver, site_number=number, actor=None)
        for execution in ("scheduled", "proceeding"):
            job = services.job_apply_feedback(job=job, execution=execution, finished="none", progress=None,
                                              details=[])
        assert job.state == S.INSTALLING
        # The panel is back on 5.40: it reports its version and closes the action at once.
        closed, reported = race(
            lambda job=job: services.job_apply_feedback(job=UpdateJob.objects.get(pk=job.pk), execution="closed",
                                                        finished="success", progress=None, details=[]),
            lambda device=device: services.device_report_attributes(device=Device.objects.get(pk=device.pk),
                                                                    data={"sw_version": "5.40"}),
        )
        # Either order is right: if the version report lands first, it finishes the job and the
        # late "closed" is told the action is gone (410), as for any finished action.
        assert isinstance(closed, UpdateJob | services.ActionGone), closed
        assert isinstance(reported, Device), reported
        job.refresh_from_db()
        assert job.state == S.SUCCEEDED and job.confirmed_at is not None
        assert job.events.filter(kind="confirmed").count() == 1
    assert_active_jobs_recorded()


def test_two_uploads_racing_for_the_last_archive_storage_store_one(settings):
    import io

    from firmware_updates.errors import ReleaseOverQuota
    from firmware_updates.models import Release

    from .api.conftest import swu_archive

    DeviceTypeFactory(code="nord-gsm")
    archives = [swu_archive(version=v).getvalue() for v in ("5.50", "5.60")]
    settings.FIRMWARE_MAX_ARCHIVE_STORAGE = max(map(len, archives)) + 1  # room for one of them
    outcomes = race(*[lambda data=data: services.release_create(archive=io.BytesIO(data)) for data in archives])

    assert sorted(type(o).__name__ for o in outcomes) == ["Release", "ReleaseOverQuota"]
    assert Release.objects.count() == 1
    refused = next(o for o in outcomes if isinstance(o, ReleaseOverQuota))
    assert refused.quota == "FIRMWARE_MAX_ARCHIVE_STORAGE"
    assert len(list(settings.MEDIA_ROOT.rglob("*.swu"))) == 1  # the refused one's file deleted
