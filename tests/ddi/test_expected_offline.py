"""A panel away to install, over real HTTP (services/alarm_events.py): when it counts as back,
and the events the alarm centre gets. Time passing is the install's start moved back in the
database; with a real worker, beat and simulated panels: tests/worker/test_alarm_centre.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Event
from firmware_updates import services
from firmware_updates.models import UpdateJob
from sites.models import Device

from .conftest import SERIAL

pytestmark = pytest.mark.live


def installing(fleet, client, number=101):
    """Queue the site and report up to the install's start, as a panel does."""
    job = fleet.queue(number)
    for execution in ("download", "downloaded", "scheduled", "proceeding"):
        assert client.feedback(job.pk, execution).status == 200
    return job


def away(serial=SERIAL) -> Device:
    return Device.objects.get(serial=serial)


def earlier(seconds: float, serial=SERIAL) -> None:
    """As if the install had started `seconds` earlier."""
    device = away(serial)
    Device.objects.filter(pk=device.pk).update(
        install_offline_since=device.install_offline_since - timedelta(seconds=seconds),
        install_offline_until=device.install_offline_until - timedelta(seconds=seconds))


def types(serial=SERIAL) -> list[str]:
    return list(Event.objects.filter(serial=serial).order_by("id").values_list("type", flat=True))


def test_a_poll_sent_before_the_reboot_is_not_the_panel_coming_back(fleet):
    client = fleet.client()
    installing(fleet, client)
    device = away()
    assert device.install_offline_until - device.install_offline_since == timedelta(seconds=180)
    client.poll()  # in flight while the install started
    assert away().install_offline_until is not None
    earlier(6)  # the install's first seconds are over: the panel rebooted
    client.poll()
    device = away()
    assert (device.install_offline_since, device.install_offline_until, device.not_returned_since) == (None,) * 3
    assert types() == ["job.queued", "job.install_started"]


def test_reporting_the_outcome_is_being_back_whenever_it_comes(fleet):
    client = fleet.client()
    job = installing(fleet, client)
    assert client.feedback(job.pk, "closed", "success").status == 200  # a panel that reboots in 2 s
    assert away().install_offline_until is None
    assert types() == ["job.queued", "job.install_started", "job.succeeded"]


def test_a_panel_not_back_in_its_window_is_reported_once_and_its_return_too(fleet):
    client = fleet.client()
    job = installing(fleet, client)
    started = away().install_offline_since
    assert services.devices_not_returned(now=timezone.now() + timedelta(seconds=179)) == 0
    assert services.devices_not_returned(now=timezone.now() + timedelta(seconds=181)) == 1
    assert services.devices_not_returned(now=timezone.now() + timedelta(seconds=300)) == 0  # once
    assert away().not_returned_since == started
    missing = Event.objects.get(type="device.not_returned")
    assert (missing.receiver, missing.site_number, missing.serial, missing.job) == ("north", 101, SERIAL, job.pk)
    assert missing.data == {"since": started.isoformat(timespec="milliseconds").replace("+00:00", "Z")}

    earlier(200)
    client.poll()
    assert away().not_returned_since is None
    returned = Event.objects.get(type="device.returned")
    assert (returned.job, returned.site_number, returned.data) == (job.pk, 101, missing.data)
    client.feedback(job.pk, "closed", "success")
    assert types() == ["job.queued", "job.install_started", "device.not_returned", "device.returned",
                       "job.succeeded"]


def test_a_panel_failing_its_install_is_back_too_and_a_timed_out_one_is_not(fleet, neighbour):
    client = fleet.client()
    job = installing(fleet, client)
    client.feedback(job.pk, "closed", "failure", details=["firmware did not start"])
    assert away().install_offline_until is None

    second = installing(fleet, neighbour, 102)
    # Reconciliation's install timeout fails the job: the panel is still not back.
    services.jobs_transition_bulk(jobs=UpdateJob.objects.filter(pk=second.pk), from_state="installing",
                                  to_state="failed", actor=services.ACTOR_SYSTEM, kind="install_timeout",
                                  reason="The device did not come back within 15 min after starting the install.")
    assert away("NG00000002").install_offline_until is not None
