"""Safe fleet rollouts: waves, the automatic halt, the operator's controls, late joiners.

Driven through the services as the panel, the API and the DDI path call them; devices'
reports are played by `job_transition`, the one function every report goes through.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from firmware_updates import services
from firmware_updates.errors import UpdateNotAllowed
from firmware_updates.models import JobState, Rollout, RolloutWave, UpdateJob
from firmware_updates.services.rollouts import plan_waves
from tests.factories import (
    DeviceFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
S = JobState
R = Rollout.State


@pytest.fixture
def fleet_sites():
    """tests/conftest.py's `fleet` (receiver north, Nord GSM 5.40 current) with no panel: each
    test places its own (`sites`)."""
    return []


def sites(receiver, nord, count, start=1):
    return [DeviceFactory(site__receiver=receiver, site__number=n, device_type=nord)
            for n in range(start, start + count)]


def start(fleet, capture, **options):
    receiver, nord = fleet.receiver, fleet.device_type
    with capture(execute=True):
        rollout, created = services.rollout_start(receiver=receiver, device_type=nord,
                                                  actor=UserFactory(username="maria"), **options)
    assert created
    rollout.refresh_from_db()
    return rollout


def report(capture, jobs, to_state, **fields):
    """Devices report `to_state` for each of `jobs`; decisions run after each commit."""
    for job in jobs:
        if to_state == S.SUCCEEDED:
            fields.setdefault("confirmed_at", timezone.now())
        with capture(execute=True):
            services.job_transition(job_id=job.pk, to_state=to_state, actor=services.ACTOR_DEVICE, **fields)


def wave_jobs(rollout, number):
    return list(UpdateJob.objects.filter(rollout=rollout, wave__number=number).order_by("pk"))


def events(rollout):
    return list(rollout.events.values_list("kind", "actor_label"))


@pytest.mark.parametrize(("eligible", "options", "plan"), [
    (5, {}, [1, None]),
    (100, {}, [1, 10, None]),
    (10_000, {}, [20, 1000, None]),  # the canary is at most 20 sites
    (1, {}, [None]),
    (200, {"percents": [5, 50, 100]}, [10, 100, None]),
    (200, {"counts": [3, 30]}, [3, 30, None]),
])
def test_waves_are_planned_from_the_eligible_sites(eligible, options, plan):
    assert plan_waves(eligible=eligible, **options) == plan


def test_the_canary_is_spread_over_the_receiver_not_the_first_site_numbers(fleet, django_capture_on_commit_callbacks):
    receiver, nord = fleet.receiver, fleet.device_type
    sites(receiver, nord, 400)
    rollout = start(fleet, django_capture_on_commit_callbacks, wave_counts=[10])
    numbers = sorted(job.device.site.number for job in wave_jobs(rollout, 1))
    assert len(numbers) == 10 and rollout.queued == 10
    assert numbers != list(range(1, 11))
    assert numbers[0] < 100 and numbers[-1] > 300, numbers  # from across the receiver


def test_the_next_wave_starts_by_itself_once_the_canary_succeeded_and_the_rollout_completes(
        fleet, django_capture_on_commit_callbacks):
    receiver, nord = fleet.receiver, fleet.device_type
    sites(receiver, nord, 30)
    rollout = start(fleet, django_capture_on_commit_callbacks, wave_counts=[2, 10])
    assert (rollout.state, rollout.current_wave, rollout.queued) == (R.RUNNING, 1, 2)
    assert [w.size for w in rollout.waves.all()] == [2, 8, 20]

    report(django_capture_on_commit_callbacks, wave_jobs(rollout, 1), S.SUCCEEDED)
    rollout.refresh_from_db()
    assert (rollout.state, rollout.current_wave, rollout.queued) == (R.RUNNING, 2, 10)
    assert rollout.waves.get(number=1).state == RolloutWave.State.SUCCEEDED

    report(django_capture_on_commit_callbacks, wave_jobs(rollout, 2), S.SUCCEEDED)
    report(django_capture_on_commit_callbacks, wave_jobs(rollout, 3), S.SUCCEEDED)
    rollout.refresh_from_db()
    assert (rollout.state, rollout.queued) == (R.COMPLETED, 30)
    assert rollout.finished_at is not None
    assert [kind for kind, _ in events(rollout)] == ["started", "wave_started", "wave_started", "wave_started",
                                                     "completed"]
    assert events(rollout)[0] == ("started", "maria")


def test_a_failing_wave_pauses_the_rollout_with_its_reason_and_nothing_more_is_queued(
        fleet, django_capture_on_commit_callbacks):
    receiver, nord = fleet.receiver, fleet.device_type
    sites(receiver, nord, 60)
    rollout = start(fleet, django_capture_on_commit_callbacks, wave_counts=[2, 20])
    report(django_capture_on_commit_callbacks, wave_jobs(rollout, 1), S.SUCCEEDED)
    second = wave_jobs(rollout, 2)
    assert len(second) == 18
    # 4 succeed, then the failures: the 5th finished job is the first failure (1 of 5 > 10 %).
    report(django_capture_on_commit_callbacks, second[:4], S.SUCCEEDED)
    report(django_capture_on_commit_callbacks, second[4:5], S.FAILED, reason="Update Failed.")
    rollout.refresh_from_db()
    assert rollout.state == R.PAUSED
    assert rollout.paused_reason == "Wave 2: 1 of 5 finished updates failed or timed out (more than 10 %)."
    assert rollout.waves.get(number=2).state == RolloutWave.State.FAILED
    # Jobs under way go on; no site of wave 3 is queued while paused.
    report(django_capture_on_commit_callbacks, second[5:], S.SUCCEEDED)
    rollout.refresh_from_db()
    assert rollout.queued == 20 and not UpdateJob.objects.filter(rollout=rollout, wave__number=3).exists()
    assert ("halted", "system") in events(rollout)

    with django_capture_on_commit_callbacks(execute=True):
        services.rollout_resume(rollout=rollout, actor=UserFactory(username="ivan"))
    rollout.refresh_from_db()
    assert rollout.state == R.RUNNING and rollout.current_wave == 3 and rollout.queued == 60
    assert ("resumed", "ivan") in events(rollout)


def test_a_canary_that_fails_alone_pauses_the_rollout(fleet, django_capture_on_commit_callbacks):
    receiver, nord = fleet.receiver, fleet.device_type
    sites(receiver, nord, 10)
    rollout = start(fleet, django_capture_on_commit_callbacks)  # default: a canary of 1 site
    (canary,) = wave_jobs(rollout, 1)
    report(django_capture_on_commit_callbacks, [canary], S.FAILED, reason="No suitable .swu image found")
    rollout.refresh_from_db()
    assert rollout.state == R.PAUSED
    assert rollout.paused_reason == "Wave 1 ended with 0 of 1 updates confirmed (90 % required)."
    assert rollout.queued == 1


def test_timeouts_count_as_failures(fleet, django_capture_on_commit_callbacks):
    receiver, nord = fleet.receiver, fleet.device_type
    sites(receiver, nord, 20)
    rollout = start(fleet, django_capture_on_commit_callbacks, wave_counts=[5], error_threshold_min=1)
    jobs = wave_jobs(rollout, 1)
    report(django_capture_on_commit_callbacks, jobs[:1], S.DOWNLOADING)
    old = timezone.now() - timedelta(days=2)
    UpdateJob.objects.filter(pk=jobs[0].pk).update(progress_at=old, state_changed_at=old)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reconcile()["stalled_download"] == 1
    rollout.refresh_from_db()
    assert rollout.state == R.PAUSED
    assert rollout.paused_reason == "Wave 1: 1 of 1 finished updates failed or timed out (more than 10 %)."


def test_approval_after_each_wave(fleet, django_capture_on_commit_callbacks):
    receiver, nord = fleet.receiver, fleet.device_type
    sites(receiver, nord, 10)
    rollout = start(fleet, django_capture_on_commit_callbacks, wave_counts=[2], approve_each_wave=True)
    report(django_capture_on_commit_callbacks, wave_jobs(rollout, 1), S.SUCCEEDED)
    rollout.refresh_from_db()
    assert rollout.state == R.PAUSED and rollout.queued == 2
    assert rollout.paused_reason == "Wave 1 succeeded (2 of 2 confirmed); resume to start wave 2."
    with django_capture_on_commit_callbacks(execute=True):
        services.rollout_resume(rollout=rollout, actor=UserFactory())
    rollout.refresh_from_db()
    assert (rollout.state, rollout.current_wave, rollout.queued) == (R.RUNNING, 2, 10)


def test_pause_holds_the_next_wave_and_advance_starts_it_now(fleet, django_capture_on_commit_callbacks):
    receiver, nord = fleet.receiver, fleet.device_type
    sites(receiver, nord, 10)
    rollout = start(fleet, django_capture_on_commit_callbacks, wave_counts=[2, 5])
    rollout = services.rollout_pause(rollout=rollout, actor=UserFactory(username="olga"))
    assert rollout.state == R.PAUSED and rollout.paused_reason == "Paused by olga."
    report(django_capture_on_commit_callbacks, wave_jobs(rollout, 1), S.SUCCEEDED)
    rollout.refresh_from_db()
    assert rollout.current_wave == 1 and rollout.queued == 2  # paused: nothing new
    with django_capture_on_commit_callbacks(execute=True):
        services.rollout_advance(rollout=rollout, actor=UserFactory(username="olga"))
    rollout.refresh_from_db()
    assert (rollout.state, rollout.current_wave, rollout.queued) == (R.RUNNING, 2, 5)
    with pytest.raises(UpdateNotAllowed, match="not paused"):
        services.rollout_resume(rollout=rollout, actor=None)


def test_stop_cancels_what_is_still_cancellable_and_the_rest_finishes(fleet, django_capture_on_commit_callbacks):
    receiver, nord = fleet.receiver, fleet.device_type
    sites(receiver, nord, 10)
    rollout = start(fleet, django_capture_on_commit_callbacks, waves=[100])
    jobs = wave_jobs(rollout, 1)
    report(django_capture_on_commit_callbacks, jobs[:2], S.DOWNLOADING)
    report(django_capture_on_commit_callbacks, jobs[2:3], S.DOWNLOADED)
    rollout = services.rollout_stop(rollout=rollout, actor=UserFactory(username="olga"))
    states = dict(UpdateJob.objects.filter(rollout=rollout).values_list("pk", "state"))
    assert [states[j.pk] for j in jobs[:3]] == [S.CANCELLING, S.CANCELLING, S.DOWNLOADED]
    assert {states[j.pk] for j in jobs[3:]} == {S.CANCELLED}
    assert rollout.state == R.STOPPED and ("stopped", "olga") in events(rollout)
    for job in jobs[3:]:
        job.device.refresh_from_db()
        assert job.device.active_job_id is None
    with pytest.raises(UpdateNotAllowed, match="already ended"):
        services.rollout_stop(rollout=rollout, actor=None)
    with pytest.raises(UpdateNotAllowed, match="not paused"):
        services.rollout_resume(rollout=rollout, actor=None)


def test_retry_failed_sites_is_a_new_rollout_of_only_them(fleet, django_capture_on_commit_callbacks):
    receiver, nord = fleet.receiver, fleet.device_type
    sites(receiver, nord, 6)
    rollout = start(fleet, django_capture_on_commit_callbacks, waves=[100], error_threshold_percent=None)
    jobs = wave_jobs(rollout, 1)
    report(django_capture_on_commit_callbacks, jobs[:4], S.SUCCEEDED)
    report(django_capture_on_commit_callbacks, jobs[4:], S.FAILED, reason="Update Failed.")
    rollout.refresh_from_db()
    assert rollout.state == R.PAUSED  # 4 of 6 < 90 %
    with pytest.raises(UpdateNotAllowed, match="still paused"):
        services.rollout_retry_failed(rollout=rollout, actor=None)
    services.rollout_stop(rollout=rollout, actor=None)
    with django_capture_on_commit_callbacks(execute=True):
        retry = services.rollout_retry_failed(rollout=rollout, actor=UserFactory())
    retry.refresh_from_db()
    assert retry.retry_of == rollout and retry.eligible == 2 and retry.total == 2
    retried = set(UpdateJob.objects.filter(rollout=retry).values_list("device_id", flat=True))
    assert retried <= {j.device_id for j in jobs[4:]} and retried


def test_a_rollout_with_nothing_to_queue_is_refused(fleet):
    receiver, nord = fleet.receiver, fleet.device_type
    DeviceFactory(site__receiver=receiver, device_type=nord, firmware_version="5.40")
    DeviceFactory(site__receiver=receiver, device_type=nord, channels=["sms"])
    with pytest.raises(UpdateNotAllowed) as refused:
        services.rollout_start(receiver=receiver, device_type=nord, actor=None)
    assert refused.value.code == "nothing_to_queue"
    assert str(refused.value) == ("No Nord GSM site on receiver Receiver north can be queued "
                                  "(1 already current; 1 no GPRS or Ethernet channel).")
    assert not Rollout.objects.exists()


def test_a_site_that_becomes_eligible_joins_the_running_wave(fleet, django_capture_on_commit_callbacks):
    receiver, nord = fleet.receiver, fleet.device_type
    sites(receiver, nord, 4)
    late = DeviceFactory(site__receiver=receiver, site__number=99, device_type=nord, channels=["sms"])
    rollout = start(fleet, django_capture_on_commit_callbacks, waves=[100])
    assert rollout.queued == 4 and rollout.skipped == {"no_ip_channel": 1}
    late.channels = ["sms", "gprs"]
    late.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reconcile()["late_joiners"] == 1
    rollout.refresh_from_db()
    assert (rollout.queued, rollout.joined_late) == (5, 1)
    assert UpdateJob.objects.get(device=late).wave.number == 1


def test_a_site_the_rollout_queued_is_never_queued_again_by_it_whatever_became_of_its_job(
        fleet, django_capture_on_commit_callbacks):
    """Late joiners are sites that became eligible after the fan-out passed them, not sites
    whose job failed or an operator cancelled: those wait for retry-failed (the operator's
    decision), the cancel stands, and each site counts once in its wave."""
    receiver, nord = fleet.receiver, fleet.device_type
    sites(receiver, nord, 6)
    rollout = start(fleet, django_capture_on_commit_callbacks, waves=[100])
    jobs = wave_jobs(rollout, 1)
    report(django_capture_on_commit_callbacks, jobs[:1], S.FAILED, reason="Update Failed.")
    services.update_job_cancel(job=jobs[1], actor=UserFactory())
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reconcile()["late_joiners"] == 0
    rollout.refresh_from_db()
    assert rollout.queued == 6 == UpdateJob.objects.filter(rollout=rollout).count()
    assert rollout.waves.get(number=1).queued == 6


def test_a_success_confirmed_by_a_later_version_report_decides_the_wave_at_once(
        fleet, django_capture_on_commit_callbacks):
    """suricatta's order: closed + success first, the new version in configData after. The
    wave counts confirmed jobs only, so the confirmation itself starts the next wave; beat's
    next pass is not needed."""
    receiver, nord = fleet.receiver, fleet.device_type
    sites(receiver, nord, 10)
    rollout = start(fleet, django_capture_on_commit_callbacks, wave_counts=[2])
    for job in wave_jobs(rollout, 1):
        with django_capture_on_commit_callbacks(execute=True):
            services.job_apply_feedback(job=job, execution="closed", finished="success", progress=None, details=[])
    rollout.refresh_from_db()
    assert rollout.current_wave == 1  # succeeded, not confirmed yet
    for job in wave_jobs(rollout, 1):
        with django_capture_on_commit_callbacks(execute=True):
            services.device_report_attributes(device=job.device, data={"sw_version": "5.40"})
    rollout.refresh_from_db()
    assert (rollout.state, rollout.current_wave, rollout.queued) == (R.RUNNING, 2, 10)
    assert rollout.waves.get(number=1).state == RolloutWave.State.SUCCEEDED
