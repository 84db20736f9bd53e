"""Queue, cancel, device reports and reconciliation through the services every entry point uses."""

from datetime import timedelta

import pytest
from django.utils import timezone

from firmware_updates import services
from firmware_updates.errors import UpdateNotAllowed
from firmware_updates.models import JobState, UpdateJob
from firmware_updates.selectors import receiver_firmware_stats
from tests.consistency import assert_active_jobs_recorded, assert_last_outcomes_recorded
from tests.factories import (
    DeviceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
S = JobState


@pytest.fixture
def fleet_sites():
    """`fleet` without panels: each test adds its own."""
    return []


def queue(receiver, number, user=None):
    return services.update_job_create(receiver=receiver, site_number=number, actor=user or UserFactory())


def feedback(job, execution, finished="none", details=()):
    return services.job_apply_feedback(job=job, execution=execution, finished=finished, progress=None,
                                       details=list(details))


@pytest.mark.parametrize(
    ("device_kwargs", "code", "words"),
    [
        ({"channels": ["gsm_voice", "sms"]}, "no_ip_channel", "Site 1204 has no GPRS or Ethernet channel."),
        ({"hardware_revision": "1.0"}, "hardware_not_supported", "Hardware revision 1.0 of Site 1204"),
        ({"firmware_version": "5.40"}, "already_current", "Site 1204 already runs 5.40."),
        ({"firmware_version": "5.50"}, "would_downgrade", "Site 1204 runs 5.50, newer than 5.40: that would downgrade it."),
    ],
)
def test_queue_refusals_name_the_reason(fleet, device_kwargs, code, words):
    receiver, nord, _, _ = fleet
    DeviceFactory(site__receiver=receiver, site__number=1204, device_type=nord, **device_kwargs)
    with pytest.raises(UpdateNotAllowed) as refused:
        queue(receiver, 1204)
    assert refused.value.code == code
    assert words in refused.value.reason
    assert not UpdateJob.objects.exists()


def test_second_queue_request_is_refused_as_already_updating(fleet):
    receiver, nord, _, _ = fleet
    DeviceFactory(site__receiver=receiver, site__number=7, device_type=nord)
    job = queue(receiver, 7)
    assert job.state == S.QUEUED and job.events.get().actor_label.startswith("operator")
    with pytest.raises(UpdateNotAllowed, match="already being updated"):
        queue(receiver, 7)


def test_unknown_site_is_refused(fleet):
    receiver, _, _, _ = fleet
    with pytest.raises(UpdateNotAllowed, match="Site 99 does not exist on receiver north"):
        queue(receiver, 99)


def test_cancel_while_queued_cancels_at_once(fleet):
    receiver, nord, _, _ = fleet
    DeviceFactory(site__receiver=receiver, site__number=1, device_type=nord)
    job = services.update_job_cancel(job=queue(receiver, 1), actor=UserFactory(username="anna"))
    assert job.state == S.CANCELLED
    assert [(e.actor_label, e.to_state) for e in job.events.all()][-1] == ("anna", S.CANCELLED)


def test_cancel_during_download_waits_for_the_device(fleet):
    receiver, nord, _, _ = fleet
    DeviceFactory(site__receiver=receiver, site__number=1, device_type=nord)
    job = feedback(queue(receiver, 1), "download")
    assert job.state == S.DOWNLOADING
    job = services.update_job_cancel(job=job, actor=None)
    assert job.state == S.CANCELLING and job.state_before_cancel == S.DOWNLOADING
    job = services.job_apply_cancel_feedback(job=job, execution="closed", finished="success", details=[])
    assert job.state == S.CANCELLED


def test_cancel_is_refused_once_download_completed(fleet):
    receiver, nord, _, _ = fleet
    DeviceFactory(site__receiver=receiver, site__number=1, device_type=nord)
    job = feedback(queue(receiver, 1), "downloaded")
    with pytest.raises(UpdateNotAllowed, match="already downloaded") as refused:
        services.update_job_cancel(job=job, actor=None)
    assert refused.value.code == "already_downloaded"


def test_device_refusing_cancel_returns_job_to_where_it_was(fleet):
    receiver, nord, _, _ = fleet
    DeviceFactory(site__receiver=receiver, site__number=1, device_type=nord)
    job = services.update_job_cancel(job=feedback(queue(receiver, 1), "download"), actor=None)
    # The device finished the download before it saw the cancel.
    job = feedback(job, "downloaded")
    assert job.state == S.CANCELLING
    job = services.job_apply_cancel_feedback(job=job, execution="rejected", finished="none", details=["done"])
    assert job.state == S.DOWNLOADED


def test_duplicate_and_late_feedback_never_move_backwards(fleet):
    receiver, nord, _, _ = fleet
    DeviceFactory(site__receiver=receiver, site__number=1, device_type=nord)
    job = queue(receiver, 1)
    for execution in ("download", "downloaded", "scheduled", "download", "downloaded", "scheduled"):
        job = feedback(job, execution)
    assert job.state == S.READY
    transitions = [e.to_state for e in job.events.filter(kind="transition")]
    assert transitions == [S.QUEUED, S.DOWNLOADING, S.DOWNLOADED, S.READY]


def test_feedback_for_finished_action_is_gone(fleet):
    receiver, nord, _, _ = fleet
    DeviceFactory(site__receiver=receiver, site__number=1, device_type=nord)
    job = feedback(queue(receiver, 1), "closed", "failure", ["sha256 mismatch of fw.bin"])
    assert job.state == S.FAILED and job.reason == "sha256 mismatch of fw.bin"
    with pytest.raises(services.ActionGone):
        feedback(job, "closed", "success")


def test_success_turns_green_only_when_device_reports_the_version(fleet):
    receiver, nord, _, _ = fleet
    device = DeviceFactory(site__receiver=receiver, site__number=1, device_type=nord, settings_digest="abc")
    job = feedback(feedback(queue(receiver, 1), "scheduled"), "proceeding")
    assert job.state == S.INSTALLING and job.snapshot["settings_digest"] == "abc"
    job = feedback(job, "closed", "success")
    assert job.state == S.SUCCEEDED and job.confirmed_at is None
    services.device_report_attributes(device=device, data={"sw_version": "5.40", "partitions": "1:armed,2:armed",
                                                           "settings_digest": "abc"})
    job.refresh_from_db()
    assert job.confirmed_at is not None
    assert job.warnings == ["Partition 2 was disarmed before the update and is armed after it."]


def test_reconcile_fails_installs_that_never_came_back_and_flags_unconfirmed(fleet, settings):
    receiver, nord, _, _ = fleet
    DeviceFactory(site__receiver=receiver, site__number=1, device_type=nord)
    DeviceFactory(site__receiver=receiver, site__number=2, device_type=nord)
    stuck = feedback(feedback(queue(receiver, 1), "scheduled"), "proceeding")
    unconfirmed = feedback(queue(receiver, 2), "closed", "success")
    later = timezone.now() + settings.UPDATE_INSTALL_TIMEOUT + timedelta(minutes=20)
    found = services.reconcile(now=later)
    assert found["install_timeout"] == 1 and found["version_unconfirmed"] == 1
    stuck.refresh_from_db()
    assert stuck.state == S.FAILED and "did not come back" in stuck.reason
    assert unconfirmed.events.filter(kind="version_unconfirmed").count() == 1
    assert services.reconcile(now=later)["version_unconfirmed"] == 0  # flagged once
    assert_active_jobs_recorded()
    assert_last_outcomes_recorded()  # the bulk transition wrote how site 1's update ended


def test_rollout_queues_each_eligible_site_once_and_counts_skips(
    fleet, settings, eager_celery, django_capture_on_commit_callbacks
):
    receiver, nord, _, _ = fleet
    settings.ROLLOUT_BATCH_SIZE = 3
    for n in range(5):
        DeviceFactory(site__receiver=receiver, site__number=n, device_type=nord)
    DeviceFactory(site__receiver=receiver, site__number=10, device_type=nord, channels=["sms"])
    DeviceFactory(site__receiver=receiver, site__number=11, device_type=nord, firmware_version="5.40")
    DeviceFactory(site__receiver=receiver, site__number=12, device_type=nord, firmware_version="6.0")
    queue(receiver, 4)
    with django_capture_on_commit_callbacks(execute=True):
        rollout, created = services.rollout_start(receiver=receiver, device_type=nord, actor=UserFactory(),
                                                  waves=[100])
    rollout.refresh_from_db()
    # One wave of every site: all queued; the rollout runs until their updates finish.
    assert created and rollout.state == "running" and rollout.eligible == 4
    assert rollout.queued == 4
    assert rollout.skipped == {"no_ip_channel": 1, "already_current": 1, "would_downgrade": 1,
                               "already_updating": 1}
    assert UpdateJob.objects.filter(state=S.QUEUED).count() == 5
    # Re-running a finished or interrupted rollout queues nobody twice.
    rollout.cursor = -1
    rollout.save()
    rollout.waves.update(queueing_done=False)
    services.rollout_run(rollout_id=rollout.pk)
    assert UpdateJob.objects.filter(state=S.QUEUED).count() == 5
    assert_active_jobs_recorded()


def test_the_red_breakdown_follows_how_each_sites_last_update_ended(fleet):
    """A red site counts as "last update failed" or "cancelled" from the moment its job ends,
    read from the device's own column (no job is read by the statistics), and again as "not
    queued" only if nothing of it ever ended."""
    receiver, nord, _, _ = fleet
    for number in (1, 2, 3):
        DeviceFactory(site__receiver=receiver, site__number=number, device_type=nord, last_seen=timezone.now())

    def breakdown():
        (row,) = receiver_firmware_stats(receiver=receiver)
        return row.red_reasons

    assert breakdown() == {"not_queued": 3}
    feedback(queue(receiver, 1), "closed", "failure", ["Flash write error"])
    services.update_job_cancel(job=queue(receiver, 2), actor=UserFactory())
    assert breakdown() == {"failed": 1, "cancelled": 1, "not_queued": 1}
    job = queue(receiver, 1)  # queued again: yellow, out of the red
    assert breakdown() == {"cancelled": 1, "not_queued": 1}
    services.update_job_cancel(job=job, actor=UserFactory())
    assert breakdown() == {"cancelled": 2, "not_queued": 1}  # the newest ending counts
    assert_last_outcomes_recorded()
