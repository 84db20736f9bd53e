"""A faulty release rolled out in waves to 80 simulated panels over real HTTP (issue 9, "Faults
to test"), and the good release after it: the demo's story (README) end to end.

The faulty release does not start on 30 % of the panels (fleetsim's `fail_install`): three of
each ten in the order the rollout queues them, the first one included, so whatever the wave
plan the canary holds a failing panel. Panels poll every simulated 5 minutes and are woken
by the receiver's push when queued, as in the demo.
"""

import re
from datetime import timedelta

import pytest

from firmware_updates import services
from firmware_updates.models import JobState, Rollout, RolloutWave, UpdateJob
from firmware_updates.services.rollouts import rollout_order
from fleetsim import Fleet
from sites.models import Device
from tests.consistency import assert_active_jobs_recorded
from tests.ddi.conftest import SERIAL, make_release

from .conftest import TIME_SCALE, add_panel, panel_spec

pytestmark = pytest.mark.live
S, R, W = JobState, Rollout.State, RolloutWave.State
PANELS = 80
FAILING_RANKS = (0, 3, 6)  # of each ten panels in the faulty rollout's order
NOT_STARTED = "firmware 5.41 did not start (watchdog reset during boot); the bootloader went back to 5.30"


@pytest.fixture
def releases(world, settings, signing_identity, tmp_path):
    """80 panels on 5.30 (the world's NG00000001 and 79 more); 5.41 (faulty) and 5.42 (good)
    uploaded next to the current 5.40. Returns (faulty, good, failing serials, specs)."""
    settings.DDI_ACTIVE_POLL_SLEEP = "00:01:00"  # 1.2 s: 80 active panels stay light on the server
    world.receiver.poll_sleep = timedelta(minutes=5)  # 6 s; the wake-up push starts the queued ones
    world.receiver.save()
    tokens = {SERIAL: world.token}
    for i in range(1, PANELS):
        serial = f"NG1{i:07d}"
        tokens[serial] = add_panel(world, 200 + i, serial)
    faulty, good = (make_release(world.device_type, version, signing_identity=signing_identity, tmp_path=tmp_path,
                                 size=64 * 1024) for version in ("5.41", "5.42"))
    order = list(rollout_order(receiver=world.receiver, release=faulty).values_list("serial", flat=True))
    assert len(order) == PANELS
    failing = {serial for rank, serial in enumerate(order) if rank % 10 in FAILING_RANKS}
    specs = [panel_spec(world, serial=serial, token=token,
                        faults={"fail_install": ["5.41"]} if serial in failing else None)
             for serial, token in tokens.items()]
    return faulty, good, failing, specs


def start_fleet(world, specs) -> Fleet:
    """The fleet running, every panel seen once (so the wake-up reaches it), the receiver
    pushing wake-ups to it."""
    fleet = Fleet(world.base_url, specs, time_scale=TIME_SCALE, start_spread=0, seed=7,
                  wakeup_listen="127.0.0.1:0")
    fleet.start_in_thread()
    fleet.wait_until(lambda: not Device.objects.filter(receiver=world.receiver, last_seen__isnull=True).exists(),
                     timeout=30)
    host, port = fleet.wakeup_address
    world.receiver.wakeup_url = f"http://{host}:{port}/"
    world.receiver.save()
    return fleet


def rollout_of(world, **options) -> Rollout:
    rollout, created = services.rollout_start(receiver=world.receiver, device_type=world.device_type, actor=None,
                                              **options)
    assert created
    return rollout


def state(rollout) -> str:
    return Rollout.objects.values_list("state", flat=True).get(pk=rollout.pk)


def wave_jobs_finished(rollout, number) -> bool:
    jobs = UpdateJob.objects.filter(rollout=rollout, wave__number=number)
    return jobs.exists() and not jobs.filter(state__in=[s for s in S if s not in (S.SUCCEEDED, S.FAILED)]).exists() \
        and not jobs.filter(state=S.SUCCEEDED, confirmed_at__isnull=True).exists()


def assert_halted_at_the_canary(fleet, rollout, failing, reason: re.Pattern) -> None:
    """Paused by itself with the reason; every canary job ended as its panel says; no site of a
    later wave queued, and none of their panels offered anything."""
    fleet.wait_until(lambda: state(rollout) == R.PAUSED, timeout=60)
    fleet.wait_until(lambda: wave_jobs_finished(rollout, 1), timeout=60)
    services.reconcile()  # what beat does meanwhile: nothing may be queued while paused
    rollout.refresh_from_db()
    assert rollout.state == R.PAUSED and reason.fullmatch(rollout.paused_reason), rollout.paused_reason
    assert rollout.events.filter(kind="halted", actor_label="system").count() == 1
    canary = rollout.waves.get(number=1)
    assert canary.state == W.FAILED
    jobs = list(UpdateJob.objects.filter(rollout=rollout).select_related("device", "wave"))
    assert {job.wave.number for job in jobs} == {1} and len(jobs) == canary.size == canary.queued == rollout.queued
    assert not rollout.waves.filter(number__gt=1).exclude(state=W.PENDING, queued=0).exists()
    for job in jobs:
        serial = job.device.serial
        if serial in failing:
            assert (job.state, job.reason, job.device.firmware_version) == (S.FAILED, NOT_STARTED, "5.30")
        else:
            assert job.state == S.SUCCEEDED and job.device.firmware_version == "5.41"
    assert any(job.state == S.FAILED for job in jobs)
    canary_serials = {job.device.serial for job in jobs}
    untouched = [p for p in fleet if p.serial not in canary_serials]
    assert all(p.outcomes == {} and p.firmware_version == "5.30" for p in untouched)


@pytest.mark.parametrize(("options", "reason"), [
    # 80 eligible: the default canary is 1 site, the rollout's first, which fails.
    ({}, re.compile(r"Wave 1 ended with 0 of 1 updates confirmed \(90 % required\)\.")),
    # A canary of 10 holds 3 failing panels: the error condition (more than 10 % of at least 5).
    ({"wave_counts": [10, 40]},
     re.compile(r"Wave 1: [1-3] of ([5-9]|10) finished updates failed or timed out \(more than 10 %\)\.")),
], ids=["default-waves", "canary-of-10"])
def test_a_release_failing_on_30_percent_halts_the_rollout_at_its_canary_and_queues_no_later_wave(
        world, releases, eager_celery, options, reason):
    """What may not be lost: the halt itself (the rollout pauses by itself, with the reason,
    as soon as the canary's outcome crosses a condition) and the fleet it protects (no site of
    a later wave is queued, even by beat's reconciliation while paused)."""
    faulty, _good, failing, specs = releases
    services.release_mark_current(release=faulty)
    fleet = start_fleet(world, specs)
    try:
        rollout = rollout_of(world, **options)
        assert_halted_at_the_canary(fleet, rollout, failing, reason)
    finally:
        fleet.stop()
    assert_active_jobs_recorded()


def test_the_demo_story_faulty_release_halts_then_the_good_one_reaches_every_site_in_waves(
        world, releases, eager_celery):
    """The issue's story on 80 panels: 5.41 current, update all, the canary fails and the
    rollout pauses; the operator stops it, marks 5.42 current and updates all again: canary,
    10 %, the rest, to completion. What may not be lost: the halt, the stop's finality (nothing
    of the stopped rollout queued after it), and every site reaching 5.42 exactly once."""
    faulty, good, failing, specs = releases
    services.release_mark_current(release=faulty)
    fleet = start_fleet(world, specs)
    try:
        halted = rollout_of(world)
        assert_halted_at_the_canary(fleet, halted, failing,
                                    re.compile(r"Wave 1 ended with 0 of 1 updates confirmed \(90 % required\)\."))
        halted = services.rollout_stop(rollout=halted, actor=None)
        assert halted.state == R.STOPPED

        services.release_mark_current(release=good)
        rollout = rollout_of(world)
        assert [w.size for w in rollout.waves.all()] == [1, 7, 72]
        fleet.wait_until(lambda: state(rollout) == R.COMPLETED, timeout=120)
    finally:
        fleet.stop()
    rollout.refresh_from_db()
    assert (rollout.queued, rollout.skipped) == (PANELS, {})
    assert [(w.state, w.queued) for w in rollout.waves.all()] == [(W.SUCCEEDED, 1), (W.SUCCEEDED, 7),
                                                                  (W.SUCCEEDED, 72)]
    jobs = UpdateJob.objects.filter(rollout=rollout)
    assert jobs.count() == PANELS == jobs.filter(state=S.SUCCEEDED, confirmed_at__isnull=False).count()
    assert jobs.values("device").distinct().count() == PANELS
    assert set(Device.objects.filter(receiver=world.receiver).values_list("firmware_version", flat=True)) == {"5.42"}
    assert all(p.firmware_version == "5.42" for p in fleet)
    assert UpdateJob.objects.filter(rollout=halted).count() == 1  # nothing of the stopped rollout after it
    kinds = list(rollout.events.values_list("kind", flat=True))
    assert kinds == ["started", "wave_started", "wave_started", "wave_started", "completed"]
    assert_active_jobs_recorded()
