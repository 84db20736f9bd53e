"""The rollouts' job tally (firmware_updates/tally.py): the API's list of rollouts and the
panel's rollout card read it instead of a running rollout's 100,000 jobs, so it must count
every write of a job, whoever makes it, and what they show from it must be what a pass over
the jobs says. (tests/conftest.py also checks the tally against the jobs after every test.)"""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.db.models.signals import post_migrate
from django.utils import timezone

from firmware_updates import services
from firmware_updates.models import TERMINAL_STATES, JobState, JobTally, Rollout, UpdateJob
from firmware_updates.selectors import outcomes_and_waves, progress_and_waves
from firmware_updates.tally import JOB_TALLY
from sites.models import Device
from tests.factories import DeviceFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
S = JobState


@pytest.fixture
def fleet_sites():
    return list(range(1, 13))


def started(fleet, capture, **options) -> Rollout:
    with capture(execute=True):
        rollout, created = services.rollout_start(receiver=fleet.receiver, device_type=fleet.device_type,
                                                  actor=UserFactory(username="maria"), **options)
    assert created
    rollout.refresh_from_db()
    return rollout


def from_jobs(rollout: Rollout) -> tuple[dict[str, int], dict[int, tuple[int, int]]]:
    """What a pass over the rollout's jobs says, job by job in Python: the jobs by state, and
    (succeeded, failed) of each wave as the rollout's conditions count them."""
    by_state: dict[str, int] = {}
    waves: dict[int, tuple[int, int]] = {}
    for job in UpdateJob.objects.filter(rollout=rollout):
        by_state[job.state] = by_state.get(job.state, 0) + 1
        succeeded = job.state == S.SUCCEEDED and job.confirmed_at is not None and not job.timed_out
        failed = job.state == S.FAILED or bool(job.timed_out)
        before = waves.get(job.wave_id, (0, 0))
        waves[job.wave_id] = (before[0] + succeeded, before[1] + failed)
    return by_state, waves


def shown(rollout: Rollout) -> tuple[dict[str, int], dict[int, tuple[int, int]]]:
    """What the API's list shows of the rollout (from the tally)."""
    progress, waves = progress_and_waves([rollout])
    return progress.get(rollout.pk, {}), {w.pk: (w.succeeded, w.failed) for w in waves[rollout.pk]}


def assert_shown_as_counted(rollout: Rollout) -> None:
    by_state, waves = from_jobs(rollout)
    progress, shown_waves = shown(rollout)
    assert progress == by_state
    assert shown_waves == {wave: waves.get(wave, (0, 0)) for wave in shown_waves}
    finished, card_waves = outcomes_and_waves([rollout])
    assert finished.get(rollout.pk, {}) == {state: n for state, n in by_state.items() if state in TERMINAL_STATES}
    assert {w.pk: (w.succeeded, w.failed) for w in card_waves[rollout.pk]} == shown_waves
    assert JOB_TALLY.differences() == {}


def test_a_rollout_is_shown_as_its_jobs_count_through_its_life(fleet, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    rollout = started(fleet, capture, waves=[25, 100], success_threshold_percent=50)
    assert shown(rollout)[0] == {S.QUEUED: 3}  # the canary wave: 3 of 12
    assert_shown_as_counted(rollout)
    canary = list(UpdateJob.objects.filter(rollout=rollout).order_by("pk"))
    with capture(execute=True):
        services.job_transition(job_id=canary[0].pk, to_state=S.DOWNLOADING, actor=services.ACTOR_DEVICE)
        services.job_transition(job_id=canary[1].pk, to_state=S.FAILED, actor=services.ACTOR_DEVICE,
                                reason="signature")
    assert_shown_as_counted(rollout)
    for job in canary[2:]:  # updated, the new version not yet reported: not a success yet
        with capture(execute=True):
            services.job_transition(job_id=job.pk, to_state=S.SUCCEEDED, actor=services.ACTOR_DEVICE)
    assert_shown_as_counted(rollout)
    with capture(execute=True):  # confirmed the day after
        UpdateJob.objects.filter(pk=canary[2].pk).update(confirmed_at=timezone.now() + timedelta(days=1))
        services.job_transition(job_id=canary[0].pk, to_state=S.SUCCEEDED, actor=services.ACTOR_DEVICE,
                                confirmed_at=timezone.now())
    assert shown(rollout)[1][canary[0].wave_id] == (2, 1)
    assert_shown_as_counted(rollout)
    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.RUNNING  # 2 of 3 succeeded: the second wave queued
    assert UpdateJob.objects.filter(rollout=rollout).count() == 12
    assert_shown_as_counted(rollout)


def test_every_way_of_writing_jobs_is_counted(fleet, django_capture_on_commit_callbacks):
    rollout = started(fleet, django_capture_on_commit_callbacks, waves=[100])
    jobs = UpdateJob.objects.filter(rollout=rollout)
    jobs.filter(pk__in=list(jobs.values_list("pk", flat=True)[:4])).update(
        state=S.CANCELLED, timed_out="stalled_download")  # a bulk UPDATE
    assert_shown_as_counted(rollout)
    with connection.cursor() as cursor:  # raw SQL, no model involved
        cursor.execute(f"UPDATE {UpdateJob._meta.db_table} SET state = %s, confirmed_at = %s "
                       "WHERE rollout_id = %s AND state = %s",
                       [S.SUCCEEDED, datetime(2026, 12, 6, 23, 59, 59, tzinfo=UTC), rollout.pk, S.QUEUED])
    assert_shown_as_counted(rollout)
    Device.objects.filter(pk=jobs.first().device_id).delete()  # its jobs go with it
    assert_shown_as_counted(rollout)
    sites = fleet.device_type.devices.count()
    assert sum(shown(rollout)[0].values()) == sites == 11
    later = DeviceFactory(site__receiver=fleet.receiver, site__number=99, device_type=fleet.device_type)
    UpdateJob.objects.bulk_create([UpdateJob(device=later, release=rollout.release, rollout=rollout,
                                             wave=rollout.waves.first(), state=S.FAILED)])
    assert_shown_as_counted(rollout)
    rollout_id = rollout.pk
    Rollout.objects.filter(pk=rollout_id).delete()  # its jobs stay, no longer its
    assert JobTally.objects.filter(rollout_id=rollout_id).exclude(n=0).exists() == (connection.vendor == "postgresql")
    assert not progress_and_waves([rollout])[0]
    assert JOB_TALLY.differences() == {}


def test_a_tally_gone_wrong_is_found_and_rewritten(fleet, django_capture_on_commit_callbacks, caplog):
    rollout = started(fleet, django_capture_on_commit_callbacks, waves=[100])
    right = shown(rollout)
    JobTally.objects.create(rollout_id=rollout.pk, wave_id=None, state=S.FAILED, confirmed_at=None, timed_out="", n=5)
    assert shown(rollout)[0][S.FAILED] == 5
    with caplog.at_level(logging.ERROR, logger="core.tally"):
        assert JOB_TALLY.check() == 1
    assert "the job tally differed from the update jobs in 1 groups" in caplog.text
    assert shown(rollout) == right
    assert JOB_TALLY.check() == 0


def test_the_triggers_come_back_with_every_migrate(fleet, django_capture_on_commit_callbacks):
    rollout = started(fleet, django_capture_on_commit_callbacks, waves=[100])
    with connection.cursor() as cursor:
        for name in JOB_TALLY.trigger_names:
            cursor.execute(f"DROP TRIGGER {name}"
                           + (f" ON {UpdateJob._meta.db_table}" if connection.vendor == "postgresql" else ""))
    UpdateJob.objects.filter(rollout=rollout).update(state=S.DOWNLOADING)
    assert JOB_TALLY.differences() != {}
    config = apps.get_app_config("firmware_updates")
    post_migrate.send(sender=config, app_config=config, verbosity=0, interactive=False, using="default", plan=[],
                      apps=apps)
    assert_shown_as_counted(rollout)
    UpdateJob.objects.filter(rollout=rollout).update(state=S.INSTALLING)
    assert shown(rollout)[0] == {S.INSTALLING: 12}


def test_folding_keeps_every_count(fleet, django_capture_on_commit_callbacks):
    rollout = started(fleet, django_capture_on_commit_callbacks, waves=[100])
    jobs = UpdateJob.objects.filter(rollout=rollout)
    for state in (S.DOWNLOADING, S.QUEUED, S.DOWNLOADING, S.INSTALLING):  # each statement appends on PostgreSQL
        jobs.update(state=state)
    rows = JobTally.objects.count()
    removed = JOB_TALLY.fold()
    assert JobTally.objects.count() == rows - removed
    assert not JobTally.objects.filter(n=0).exists()
    assert_shown_as_counted(rollout)
    if connection.vendor == "postgresql":
        assert removed > 0
