"""The poll (GET /{tenant}/controller/v1/{controllerId}): how long to sleep, what to do next."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from firmware_updates import services
from firmware_updates.ddi.payloads import action_hash
from firmware_updates.models import JobState
from receivers.models import Receiver
from sites.models import Device

from .conftest import SERIAL, TENANT, build_fleet

pytestmark = pytest.mark.live


def test_idle_poll_sleeps_the_receivers_interval_and_asks_for_config_data(fleet):
    reply = fleet.client().poll()

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {
        "config": {"polling": {"sleep": "00:05:00"}},
        "_links": {
            "configData": {"href": f"{fleet.base_url}/{TENANT}/controller/v1/{SERIAL}/configData"}
        },
    }


def test_config_data_link_is_dropped_once_the_attributes_are_stored(fleet):
    client = fleet.client()
    assert client.config_data({"sw_version": "5.30", "hw_revision": "2.1"}).status == 200

    assert client.poll().json() == {"config": {"polling": {"sleep": "00:05:00"}}}


def test_idle_sleep_follows_the_receivers_setting(fleet):
    Receiver.objects.filter(pk=fleet.receiver.pk).update(
        poll_sleep=timedelta(hours=26, minutes=3, seconds=4)
    )

    assert fleet.client().poll().json()["config"]["polling"]["sleep"] == "26:03:04"


def test_an_active_job_shortens_the_sleep_and_offers_its_deployment(fleet, settings):
    settings.DDI_ACTIVE_POLL_SLEEP = "00:00:30"
    job = fleet.queue()

    body = fleet.client().poll().json()

    assert body["config"]["polling"]["sleep"] == "00:00:30"
    href = body["_links"]["deploymentBase"]["href"]
    assert (
        href
        == f"{fleet.base_url}/{TENANT}/controller/v1/{SERIAL}/deploymentBase/{job.pk}?c={action_hash(job)}"
    )
    assert -(2**31) <= action_hash(job) < 2**31  # the spec types `c` as int32


def test_the_action_hash_stays_the_same_while_the_job_progresses(fleet):
    job = fleet.queue()
    client = fleet.client()
    first = client.poll().json()["_links"]["deploymentBase"]["href"]
    client.request("GET", first)
    client.feedback(job.pk, "download")
    assert fleet.job(job).state == JobState.DOWNLOADING

    assert client.poll().json()["_links"]["deploymentBase"]["href"] == first


def test_the_active_sleep_never_exceeds_the_idle_one(fleet, settings):
    settings.DDI_ACTIVE_POLL_SLEEP = "00:10:00"
    fleet.queue()

    assert fleet.client().poll().json()["config"]["polling"]["sleep"] == "00:05:00"


def test_links_are_built_from_the_host_the_device_reached(fleet, settings):
    settings.ALLOWED_HOSTS = ["*"]
    fleet.queue()

    body = fleet.client().poll(headers={"Host": "gw.receiver-north.example:8443"}).json()

    assert body["_links"]["deploymentBase"]["href"].startswith(
        f"http://gw.receiver-north.example:8443/{TENANT}/controller/v1/{SERIAL}/deploymentBase/"
    )
    assert body["_links"]["configData"]["href"].startswith("http://gw.receiver-north.example:8443/")


def test_tenant_is_case_insensitive_as_in_hawkbit(fleet):
    reply = fleet.client(tenant=TENANT.upper()).poll()

    assert reply.status == 200
    # Links carry the receiver's own code.
    assert f"/{TENANT}/controller/v1/" in reply.json()["_links"]["configData"]["href"]


def test_a_succeeded_job_is_offered_as_installed_base_and_asks_for_the_new_version(fleet):
    job = fleet.queue()
    client = fleet.client()
    client.config_data({"sw_version": "5.30"})
    client.feedback(job.pk, "closed", "success")

    links = client.poll().json()["_links"]

    href = f"{fleet.base_url}/{TENANT}/controller/v1/{SERIAL}/installedBase/{job.pk}"
    assert links["installedBase"] == {"href": href}
    assert "configData" in links  # closed, but the device has not said it runs 5.40 yet
    installed = client.request("GET", href)
    assert installed.status == 200
    assert installed.json()["deployment"]["chunks"][0]["version"] == "5.40"

    client.config_data({"sw_version": "5.40"})
    assert "configData" not in client.poll().json()["_links"]
    assert fleet.job(job).confirmed_at is not None


def test_poll_touches_last_seen(fleet):
    assert Device.objects.get(serial=SERIAL).last_seen is None
    fleet.client().poll()
    assert Device.objects.get(serial=SERIAL).last_seen is not None


@pytest.mark.django_db
def test_an_idle_poll_costs_at_most_two_queries(
    settings, signing_identity, tmp_path, django_assert_max_num_queries, django_assert_num_queries
):
    """Device, receiver and newest job in one query; last_seen written by the poll only on a
    first contact (or a return from offline), otherwise kept for the bulk flush
    (sites.last_seen): a fleet polling every few minutes is cheap to serve."""
    settings.DEVICE_SEEN_FLUSH_INTERVAL = 3600  # nothing flushed while the test runs
    fleet = build_fleet(settings, signing_identity, tmp_path, "http://testserver")
    client = Client(HTTP_AUTHORIZATION=f"TargetToken {fleet.token}")
    url = f"/{TENANT}/controller/v1/{SERIAL}"

    with django_assert_max_num_queries(2):  # first contact: written at once
        assert client.get(url).status_code == 200
    with django_assert_num_queries(1):  # last_seen is fresh: read-only
        assert client.get(url).status_code == 200
    Device.objects.filter(serial=SERIAL).update(last_seen=timezone.now() - timedelta(minutes=5))
    with django_assert_num_queries(1):  # seen a poll interval ago, as in the field: kept in memory
        assert client.get(url).status_code == 200
    services.update_job_create(receiver=fleet.receiver, site_number=101, actor=None)
    with django_assert_num_queries(1):
        assert "deploymentBase" in client.get(url).json()["_links"]


def test_deployment_base_can_carry_the_action_history(fleet):
    job = fleet.queue()
    client = fleet.client()
    client.feedback(job.pk, "download", details=["Download started"])
    client.feedback(job.pk, "downloaded")

    body = client.request("GET", f"/deploymentBase/{job.pk}?actionHistory=2").json()

    assert body["actionHistory"]["status"] == "DOWNLOADED"
    newest, older = body["actionHistory"]["messages"]
    assert "device: downloading -> downloaded" in newest
    assert "queued -> downloading (Download started)" in older
    assert "actionHistory" not in client.request("GET", f"/deploymentBase/{job.pk}").json()


def test_resources_we_do_not_offer_answer_404_in_the_protocols_shape(fleet):
    client = fleet.client()

    reply = client.request("GET", "/confirmationBase")

    assert reply.status == 404
    assert reply.json()["errorCode"] == "ddi.not_found"
    assert fleet.client(token="wrong").request("GET", "/confirmationBase").status == 401
