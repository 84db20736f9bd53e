"""Truthful versions: the poll offers configData whenever the server has reason to doubt what
the panel runs (payloads._needs_attributes), and only then: after any action ended, after a
long silence, and periodically."""

from datetime import timedelta

import pytest
from django.utils import timezone

from firmware_updates import services
from firmware_updates.models import JobState
from firmware_updates.selectors import site_list
from sites.models import Device

from .conftest import SERIAL
from .test_cancel import start_download

pytestmark = pytest.mark.live
S = JobState


def offered(client) -> bool:
    return "configData" in client.poll().json().get("_links", {})


def test_a_panel_that_installed_while_its_job_was_cancelled_ends_green_on_what_it_reports(fleet):
    """The panel flashed 5.40 while the operator cancelled; it acknowledged the cancel, so the
    job is cancelled. Before, nothing ever asked it again and its site stayed red on 5.30."""
    fleet.client().config_data({"sw_version": "5.30"})
    job, client, _url = start_download(fleet)
    services.update_job_cancel(job=job, actor=None)
    client.cancel_feedback(job.pk, "closed", "success")
    assert fleet.job(job).state == S.CANCELLED
    assert site_list(receiver=fleet.receiver, number=101).get().badge == "red"

    assert offered(client)
    client.config_data({"sw_version": "5.40"})

    assert Device.objects.get(serial=SERIAL).firmware_version == "5.40"
    assert site_list(receiver=fleet.receiver, number=101).get().badge == "green"
    assert fleet.job(job).state == S.CANCELLED  # what happened to the job stays true
    assert not offered(client)


def test_after_a_failed_action_until_the_panel_reports(fleet):
    job = fleet.queue()
    client = fleet.client()
    client.config_data({"sw_version": "5.30"})
    assert not offered(client)

    client.feedback(job.pk, "closed", "failure", details=["flash write failed"])

    assert offered(client)
    client.config_data({"sw_version": "5.30"})
    assert not offered(client)


def test_after_a_long_silence_until_the_panel_reports(fleet, settings):
    settings.DDI_ATTRIBUTES_AFTER_OFFLINE = timedelta(hours=1)
    client = fleet.client()
    client.config_data({"sw_version": "5.30"})
    Device.objects.filter(serial=SERIAL).update(last_seen=timezone.now() - timedelta(minutes=50),
                                                attributes_at=timezone.now() - timedelta(minutes=55))
    assert not offered(client)  # silent less than the setting

    Device.objects.filter(serial=SERIAL).update(last_seen=timezone.now() - timedelta(hours=2),
                                                attributes_at=timezone.now() - timedelta(hours=3))
    assert offered(client)
    client.config_data({"sw_version": "5.31"})
    # Not again, even before the bulk flush writes this poll's last_seen.
    Device.objects.filter(serial=SERIAL).update(last_seen=timezone.now() - timedelta(hours=2))
    assert not offered(client)


def test_periodically(fleet, settings):
    settings.DDI_ATTRIBUTES_MAX_AGE = timedelta(days=1)
    client = fleet.client()
    client.config_data({"sw_version": "5.30"})
    Device.objects.filter(serial=SERIAL).update(attributes_at=timezone.now() - timedelta(hours=23))
    assert not offered(client)

    Device.objects.filter(serial=SERIAL).update(attributes_at=timezone.now() - timedelta(hours=25))
    assert offered(client)
    client.config_data({"sw_version": "5.30"})
    assert not offered(client)
