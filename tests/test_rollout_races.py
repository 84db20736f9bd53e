"""A rollout's controls racing its panels' reports and each other (issue 9, "Faults to test").

Each round releases the actions in threads at the same instant (`tests.test_races.race`). On
PostgreSQL they run at once and the rollout's row lock decides; on SQLite the database's write
lock queues them in some order. Either way the outcome must be one of the orders the actions
could have come in, never a mix: that is what each test checks, whichever order won.

A wave's fan-out takes a lock per site here (ROLLOUT_BATCH_SIZE 1) and runs in the thread
whose action started the wave (eager Celery), so the controls cut in between its batches.
"""

import pytest

from core.permissions import MANAGERS
from firmware_updates import services
from firmware_updates.errors import UpdateNotAllowed
from firmware_updates.models import JobState, Rollout, RolloutEvent, RolloutWave, UpdateJob
from sites.models import Device
from tests.api.conftest import client_for, operator
from tests.consistency import assert_active_jobs_recorded
from tests.factories import (
    DeviceFactory,
    DeviceTypeFactory,
    ReceiverFactory,
    ReleaseFactory,
    UserFactory,
)
from tests.test_races import race

pytestmark = pytest.mark.django_db(transaction=True)
S, R, W = JobState, Rollout.State, RolloutWave.State
ROUNDS = 10
UNDER_WAY = (S.QUEUED, S.DELIVERED, S.DOWNLOADING)  # what a stop must leave none of
EVENT_OF = {"stop": "stopped", "resume": "resumed", "pause": "paused", "advance": "advanced"}


@pytest.fixture
def nord(settings, eager_celery):
    settings.ROLLOUT_BATCH_SIZE = 1
    nord = DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    return nord


def canary_under_way(nord, *, confirmed=1, success=90) -> tuple[Rollout, list[UpdateJob]]:
    """A rollout of 9 sites in waves of 3 (3, 6, 9) on a receiver of its own. Of the canary,
    `confirmed` jobs are confirmed, the next one is installing and the others downloading.
    Returns the rollout and the canary's jobs in that order."""
    receiver = ReceiverFactory()
    for number in range(9):
        DeviceFactory(site__receiver=receiver, site__number=number, device_type=nord)
    rollout, _ = services.rollout_start(receiver=receiver, device_type=nord, actor=None, wave_counts=[3, 6],
                                        success_threshold_percent=success)
    jobs = list(UpdateJob.objects.filter(rollout=rollout).order_by("pk"))
    assert len(jobs) == 3
    for i, job in enumerate(jobs):
        state = S.INSTALLING if i <= confirmed else S.DOWNLOADING
        services.job_transition(job_id=job.pk, to_state=state, actor=services.ACTOR_DEVICE)
        if i < confirmed:
            back_on_the_new_version(job)()
    return Rollout.objects.get(pk=rollout.pk), jobs


def back_on_the_new_version(job):
    """The panel's configData after its reboot: it runs 5.40, which confirms its job."""
    return lambda: services.device_report_attributes(device=Device.objects.get(pk=job.device_id),
                                                     data={"sw_version": "5.40"})


def downloaded(job):
    return lambda: services.job_apply_feedback(job=UpdateJob.objects.get(pk=job.pk), execution="downloaded",
                                               finished="none", progress=None, details=[])


def control(name: str, rollout: Rollout, user=None, **options):
    function = getattr(services, f"rollout_{name}")
    return lambda: function(rollout=Rollout.objects.get(pk=rollout.pk), actor=user or UserFactory(), **options)


def event_at(rollout, kind):
    return RolloutEvent.objects.get(rollout=rollout, kind=kind).at


def assert_counts_add_up(rollout: Rollout) -> None:
    """One job per site, each counted once by the rollout and once by its wave; beat's pass
    and a re-run of the fan-out (a worker's retry) change nothing."""
    services.reconcile()
    services.rollout_run(rollout_id=rollout.pk)
    rollout.refresh_from_db()
    jobs = UpdateJob.objects.filter(rollout=rollout)
    assert rollout.queued == jobs.count() == jobs.values("device").distinct().count()
    assert sum(rollout.waves.values_list("queued", flat=True)) == rollout.queued
    assert_active_jobs_recorded()


def refused(outcome, code: str) -> bool:
    return isinstance(outcome, UpdateNotAllowed) and outcome.code == code


def test_pause_racing_the_report_that_completes_the_canary(nord):
    """The last canary panel confirms 5.40 (which starts wave 2) while an operator pauses.
    What may not be lost: the pause (the rollout ends paused whichever came first, and no site
    is queued after it, by the wave's fan-out, beat or a retry), the panel's confirmation, and
    the rest of the rollout (resume queues wave 2 whole, once)."""
    orders = set()
    for _ in range(ROUNDS):
        rollout, jobs = canary_under_way(nord, confirmed=2)
        paused, reported = race(control("pause", rollout), back_on_the_new_version(jobs[2]))
        assert isinstance(paused, Rollout) and isinstance(reported, Device), (paused, reported)
        rollout.refresh_from_db()
        assert rollout.state == R.PAUSED and rollout.paused_reason.startswith("Paused by ")
        assert UpdateJob.objects.get(pk=jobs[2].pk).confirmed_at is not None
        pause_at = event_at(rollout, "paused")
        assert not UpdateJob.objects.filter(rollout=rollout, created_at__gt=pause_at).exists()
        orders.add("wave 2 started first" if rollout.current_wave == 2 else "pause first")
        queued = rollout.queued
        assert_counts_add_up(rollout)
        assert rollout.queued == queued, "nothing may be queued while paused"

        services.rollout_resume(rollout=rollout, actor=None)
        rollout.refresh_from_db()
        assert (rollout.state, rollout.current_wave, rollout.queued) == (R.RUNNING, 2, 6)
        assert_counts_add_up(rollout)
    print("orders seen:", orders)


def test_stop_racing_the_report_that_completes_the_canary_and_a_download_completing(nord):
    """While an operator stops the rollout, one canary panel confirms 5.40 (its wave succeeds
    at 60 %, which starts wave 2) and another reports its download complete. What may not be
    lost: the stop (stopped, every job still cancellable cancelled or being cancelled, none
    queued after it, no wave left running), the panels' reports (the confirmation stands, a
    complete download is either kept past the cancel or remembered for a refused cancel)."""
    for _ in range(ROUNDS):
        rollout, jobs = canary_under_way(nord, confirmed=1, success=60)
        stopped, reported, fetched = race(control("stop", rollout), back_on_the_new_version(jobs[1]),
                                          downloaded(jobs[2]))
        assert isinstance(stopped, Rollout) and stopped.state == R.STOPPED, stopped
        assert isinstance(reported, Device) and isinstance(fetched, UpdateJob), (reported, fetched)
        rollout.refresh_from_db()
        assert rollout.state == R.STOPPED and rollout.finished_at is not None
        assert not UpdateJob.objects.filter(rollout=rollout, state__in=UNDER_WAY).exists()
        assert not UpdateJob.objects.filter(rollout=rollout, created_at__gt=event_at(rollout, "stopped")).exists()
        assert not rollout.waves.filter(state__in=[W.PENDING, W.RUNNING]).exists()
        assert UpdateJob.objects.get(pk=jobs[1].pk).confirmed_at is not None
        download = UpdateJob.objects.get(pk=jobs[2].pk)
        assert (download.state, download.state_before_cancel) in {(S.DOWNLOADED, ""), (S.CANCELLING, S.DOWNLOADED)}
        assert_counts_add_up(rollout)
        assert rollout.state == R.STOPPED
        with pytest.raises(UpdateNotAllowed, match="already ended"):
            services.rollout_advance(rollout=rollout, actor=None)


def test_advance_racing_the_report_that_completes_the_canary_starts_wave_2_once(nord):
    """An operator presses "start the next wave now" on wave 1 as the canary's last panel
    confirms, which starts wave 2 by itself. What may not be lost: the watch over wave 2 (it
    starts once, and wave 3 is not started by the loser of the race: advancing from a wave the
    rollout has left is refused with 409 wave_already_started)."""
    for _ in range(ROUNDS):
        rollout, jobs = canary_under_way(nord, confirmed=2)
        advanced, reported = race(control("advance", rollout, wave=1), back_on_the_new_version(jobs[2]))
        assert isinstance(reported, Device), reported
        assert isinstance(advanced, Rollout) or refused(advanced, "wave_already_started"), advanced
        rollout.refresh_from_db()
        assert (rollout.state, rollout.current_wave, rollout.queued) == (R.RUNNING, 2, 6)
        starts = list(rollout.events.filter(kind__in=["wave_started", "advanced"]).values_list("details__wave",
                                                                                                 flat=True))
        assert starts == [1, 2]
        assert rollout.waves.get(number=3).state == W.PENDING
        assert_counts_add_up(rollout)


@pytest.mark.parametrize(("first", "second", "setup", "loser_code"), [
    ("stop", "stop", "paused", "rollout_ended"),
    ("resume", "resume", "paused", "rollout_not_paused"),
    ("pause", "pause", "running", "rollout_not_running"),
    ("advance", "advance", "running", "wave_already_started"),
])
def test_two_operators_pressing_the_same_control_at_once_one_wins(nord, first, second, setup, loser_code):
    """Exactly one press acts; the other is refused with the reason (409 in the API), and the
    rollout is as after one press."""
    for _ in range(ROUNDS):
        rollout, _jobs = canary_under_way(nord)
        if setup == "paused":
            services.rollout_pause(rollout=rollout, actor=None)
        options = {"wave": 1} if first == "advance" else {}
        outcomes = race(control(first, rollout, **options), control(second, rollout, **options))
        winners = [o for o in outcomes if isinstance(o, Rollout)]
        assert len(winners) == 1 and any(refused(o, loser_code) for o in outcomes), outcomes
        assert rollout.events.filter(kind=EVENT_OF[first]).count() == 1
        assert_counts_add_up(rollout)


def test_two_operators_pressing_stop_and_resume_at_once_over_the_api(nord):
    """A paused rollout; one manager presses stop, another resume, through the API. What may
    not be lost: the stop. Whichever came first, the rollout ends stopped with every
    cancellable job cancelled and none queued after the stop; resume either came first (200,
    then undone by the stop: its fan-out's jobs are cancelled) or is refused (409
    rollout_not_paused)."""
    clients = [client_for(operator(MANAGERS, name)) for name in ("olga", "ivan")]
    orders = set()
    for _ in range(ROUNDS):
        rollout, jobs = canary_under_way(nord, confirmed=2)
        services.rollout_pause(rollout=rollout, actor=None)
        back_on_the_new_version(jobs[2])()  # the canary is over while paused: resume starts wave 2
        url = f"/api/v1/rollouts/{rollout.pk}"
        stop, resume = race(lambda url=url: clients[0].post(f"{url}/stop/"),
                            lambda url=url: clients[1].post(f"{url}/resume/"))
        assert stop.status_code == 200 and stop.json()["state"] == "stopped", stop.content
        rollout.refresh_from_db()
        assert rollout.state == R.STOPPED
        stop_at = event_at(rollout, "stopped")
        if resume.status_code == 409:
            assert resume.json()["code"] == "rollout_not_paused", resume.content
            assert rollout.queued == 3 and not rollout.events.filter(kind="resumed").exists()
            orders.add("stop first")
        else:
            assert resume.status_code == 200, resume.content
            assert event_at(rollout, "resumed") < stop_at
            orders.add("resume first")
        assert not UpdateJob.objects.filter(rollout=rollout, state__in=UNDER_WAY).exists()
        assert not UpdateJob.objects.filter(rollout=rollout, created_at__gt=stop_at).exists()
        assert not rollout.waves.filter(state__in=[W.PENDING, W.RUNNING]).exists()
        assert_counts_add_up(rollout)
    print("orders seen:", orders)


def test_advance_from_a_wave_the_rollout_has_left_is_409_over_the_api(nord):
    client = client_for(operator(MANAGERS))
    rollout, _jobs = canary_under_way(nord, confirmed=3)  # the canary succeeded: wave 2 runs
    response = client.post(f"/api/v1/rollouts/{rollout.pk}/advance/", {"wave": 1}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": f"Rollout #{rollout.pk} is in wave 2 already, not 1: its next wave has "
                                         "started.", "code": "wave_already_started"}
    response = client.post(f"/api/v1/rollouts/{rollout.pk}/advance/", {"wave": 2}, format="json")
    assert response.status_code == 200 and response.json()["current_wave"] == 3
