"""rauc-hawkbit-updater (the C client) without post_update_reboot polls once more between its
"closed success" and the reboot, and answers the configData link with its configured, old
version. The success was then never asked about again for a day and the site stayed red.
The poll asks again every DDI_ATTRIBUTES_UNCONFIRMED_EVERY until the version confirms it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from firmware_updates.selectors import site_list
from sites.models import Device

from .conftest import SERIAL

pytestmark = pytest.mark.live


def offered(client) -> bool:
    return "configData" in client.poll().json().get("_links", {})


def age_description(job, minutes: int) -> None:
    """The panel described itself `minutes` ago, after its job ended (half an hour ago)."""
    now = timezone.now()
    type(job).objects.filter(pk=job.pk).update(finished_at=now - timedelta(minutes=30))
    Device.objects.filter(serial=SERIAL).update(attributes_at=now - timedelta(minutes=minutes))


def test_a_success_reported_before_the_reboot_is_asked_about_again_until_confirmed(fleet, settings):
    settings.DDI_ATTRIBUTES_UNCONFIRMED_EVERY = timedelta(minutes=5)
    job = fleet.queue()
    client = fleet.client()
    client.config_data({"sw_version": "5.30"})
    client.feedback(job.pk, "closed", "success", details=["Software bundle installed successfully."])

    assert offered(client)
    client.config_data({"sw_version": "5.30"})  # still the old image: not rebooted yet
    assert not offered(client)
    age_description(job, 4)
    assert not offered(client)  # not on every poll

    age_description(job, 6)
    assert offered(client)  # rebooted: asked again
    client.config_data({"sw_version": "5.40"})
    assert site_list(receiver=fleet.receiver, number=101).get().badge == "green"
    age_description(job, 6)
    assert not offered(client)  # confirmed: nothing more to ask


def test_not_after_a_failure_the_panel_described_itself_since(fleet, settings):
    settings.DDI_ATTRIBUTES_UNCONFIRMED_EVERY = timedelta(minutes=5)
    job = fleet.queue()
    client = fleet.client()
    client.config_data({"sw_version": "5.30"})
    client.feedback(job.pk, "closed", "failure", details=["flash write failed"])
    assert offered(client)
    client.config_data({"sw_version": "5.30"})
    age_description(job, 6)
    assert not offered(client)


def test_for_a_day_at_most(fleet, settings):
    settings.DDI_ATTRIBUTES_UNCONFIRMED_EVERY = timedelta(minutes=5)
    settings.DDI_ATTRIBUTES_MAX_AGE = timedelta(days=1)
    job = fleet.queue()
    client = fleet.client()
    client.config_data({"sw_version": "5.30"})
    client.feedback(job.pk, "closed", "success")
    client.config_data({"sw_version": "5.30"})
    age_description(job, 6)
    type(job).objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(hours=25))
    assert not offered(client)
