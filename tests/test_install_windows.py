"""Install windows (firmware_updates/install_windows.py): which window a job has, and whether
it is open at a given instant, on the wall clock of the receiver's time zone."""

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from firmware_updates.install_windows import Window, window_of, window_open, window_words

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def receiver(start=None, end=None, tz="Europe/Berlin"):
    return SimpleNamespace(install_window_start=start, install_window_end=end, time_zone=tz)


def job(*, rollout=None):
    return SimpleNamespace(rollout_id=None if rollout is None else 1, rollout=rollout)


def rollout(start=None, end=None):
    return SimpleNamespace(install_window_start=start, install_window_end=end)


def test_a_jobs_window_is_its_rollouts_else_its_receivers_in_the_receivers_zone():
    night = receiver(time(2), time(5))
    assert window_of(job(), receiver=night) == Window(time(2), time(5), BERLIN)
    # A rollout with its own window wins; one without falls back to the receiver's.
    assert window_of(job(rollout=rollout(time(22), time(4))), receiver=night) == Window(time(22), time(4), BERLIN)
    assert window_of(job(rollout=rollout()), receiver=night) == Window(time(2), time(5), BERLIN)
    # The rollout's times are local times of the receiver's zone too.
    assert window_of(job(rollout=rollout(time(1), time(3))), receiver=receiver(tz="America/New_York")).tz \
        == ZoneInfo("America/New_York")
    assert window_of(job(), receiver=receiver()) is None


def test_window_of_reads_the_receiver_through_the_device_when_not_given():
    queued_alone = SimpleNamespace(rollout_id=None, device=SimpleNamespace(receiver=receiver(time(2), time(5))))
    assert window_of(queued_alone) == Window(time(2), time(5), BERLIN)


@pytest.mark.parametrize(
    ("local", "inside"),
    [("01:59", False), ("02:00", True), ("03:30", True), ("04:59", True), ("05:00", False), ("12:00", False)],
)
def test_a_window_includes_its_start_and_excludes_its_end(local, inside):
    hour, minute = map(int, local.split(":"))
    now = datetime(2026, 1, 15, hour, minute, tzinfo=BERLIN)
    assert window_open(Window(time(2), time(5), BERLIN), now) is inside


@pytest.mark.parametrize(
    ("local", "inside"),
    [("21:59", False), ("22:00", True), ("23:59", True), ("00:00", True), ("04:59", True), ("05:00", False),
     ("12:00", False)],
)
def test_a_window_may_cross_midnight(local, inside):
    hour, minute = map(int, local.split(":"))
    now = datetime(2026, 1, 15, hour, minute, tzinfo=BERLIN)
    assert window_open(Window(time(22), time(5), BERLIN), now) is inside


def test_no_window_is_always_open():
    assert window_open(None, utc(2026, 1, 15, 12))


def test_the_window_follows_the_local_clock_through_daylight_saving_time():
    night = Window(time(2), time(5), BERLIN)
    # Winter (CET, UTC+1): 02:00-05:00 local is 01:00-04:00 UTC.
    assert not window_open(night, utc(2026, 1, 15, 0, 59))
    assert window_open(night, utc(2026, 1, 15, 1, 0)) and window_open(night, utc(2026, 1, 15, 3, 59))
    assert not window_open(night, utc(2026, 1, 15, 4, 0))
    # Summer (CEST, UTC+2): 00:00-03:00 UTC.
    assert window_open(night, utc(2026, 7, 15, 0, 0)) and not window_open(night, utc(2026, 7, 15, 3, 0))
    assert not window_open(night, utc(2026, 7, 15, 23, 59))


def test_the_nights_clocks_change_the_window_lasts_what_the_wall_clock_says():
    night = Window(time(2), time(5), BERLIN)

    def open_minutes(day):  # minutes of that UTC day inside the window
        return sum(window_open(night, utc(*day) + timedelta(minutes=m)) for m in range(24 * 60))

    # 29 March 2026 02:00 CET jumps to 03:00 CEST: 03:00-05:00 local, two hours.
    assert open_minutes((2026, 3, 29)) == 120
    assert not window_open(night, utc(2026, 3, 29, 0, 59))  # 01:59 CET
    assert window_open(night, utc(2026, 3, 29, 1, 0))  # 03:00 CEST, the first minute that exists
    # 25 October 2026 03:00 CEST goes back to 02:00 CET: 02:00-03:00 happens twice, four hours.
    assert open_minutes((2026, 10, 25)) == 240
    assert window_open(night, utc(2026, 10, 25, 0, 0))  # 02:00 CEST
    assert window_open(night, utc(2026, 10, 25, 1, 30))  # 02:30 CET, the second time round
    assert not window_open(night, utc(2026, 10, 25, 4, 0))  # 05:00 CET


def test_a_window_is_named_by_its_local_times():
    assert window_words(Window(time(2), time(5), BERLIN)) == "02:00-05:00"
    assert window_words(Window(time(22, 30), time(5, 15), BERLIN)) == "22:30-05:15"
