"""Install windows on the wire: deploymentBase says `update: skip` with `maintenanceWindow:
unavailable` outside the job's window and `available` inside it, as hawkBit does; without a
window the key is absent. Every answer is checked against the spec by the client."""

import hashlib

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from firmware_updates.models import JobState, Rollout, UpdateJob
from firmware_updates.views.presenters import JobView
from receivers.models import Receiver
from sites.models import Device

from .client import raw_get
from .conftest import SERIAL, install_window, set_receiver_window

pytestmark = pytest.mark.live
S = JobState


def deployment_of(client) -> dict:
    return client.request("GET", client.poll().json()["_links"]["deploymentBase"]["href"]).json()


def rollout_for(fleet, job, window) -> Rollout:
    """Make `job` part of a rollout with its own install window (or None: the receiver's)."""
    start, end = window or (None, None)
    rollout = Rollout.objects.create(receiver=fleet.receiver, device_type=fleet.device_type, release=fleet.release,
                                     state=Rollout.State.RUNNING, install_window_start=start, install_window_end=end)
    UpdateJob.objects.filter(pk=job.pk).update(rollout=rollout)
    return rollout


def test_outside_the_receivers_window_the_panel_downloads_but_is_told_to_skip_the_install(fleet):
    set_receiver_window(fleet.receiver, install_window(open_now=False))
    job = fleet.queue()
    client = fleet.client()

    deployment = deployment_of(client)["deployment"]
    assert (deployment["download"], deployment["update"], deployment["maintenanceWindow"]) == (
        "forced", "skip", "unavailable")
    # Downloading is not held back: the archive is served as ever.
    url = deployment["chunks"][0]["artifacts"][0]["_links"]["download-http"]["href"]
    status, _headers, body = raw_get(url, client.authorization)
    assert status == 200 and hashlib.sha256(body).hexdigest() == fleet.release.sha256
    assert fleet.job(job).state == S.DOWNLOADING

    set_receiver_window(fleet.receiver, install_window(open_now=True))
    deployment = deployment_of(client)["deployment"]
    assert (deployment["download"], deployment["update"], deployment["maintenanceWindow"]) == (
        "forced", "forced", "available")

    set_receiver_window(fleet.receiver, None)
    deployment = deployment_of(client)["deployment"]
    assert deployment["update"] == "forced" and "maintenanceWindow" not in deployment


def test_the_window_is_read_on_the_receivers_local_clock(fleet):
    set_receiver_window(fleet.receiver, install_window(open_now=True, tz="Asia/Tokyo"))
    Receiver.objects.filter(pk=fleet.receiver.pk).update(time_zone="Asia/Tokyo")
    fleet.queue()
    client = fleet.client()
    assert deployment_of(client)["deployment"]["maintenanceWindow"] == "available"
    # The same local times in New York (13 or 14 hours behind Tokyo) are hours away.
    Receiver.objects.filter(pk=fleet.receiver.pk).update(time_zone="America/New_York")
    assert deployment_of(client)["deployment"]["maintenanceWindow"] == "unavailable"


def test_a_rollouts_own_window_wins_over_the_receivers(fleet):
    set_receiver_window(fleet.receiver, install_window(open_now=True))
    job = fleet.queue()
    rollout = rollout_for(fleet, job, install_window(open_now=False))
    client = fleet.client()
    assert deployment_of(client)["deployment"]["maintenanceWindow"] == "unavailable"

    # A rollout without a window of its own: the receiver's applies.
    Rollout.objects.filter(pk=rollout.pk).update(install_window_start=None, install_window_end=None)
    assert deployment_of(client)["deployment"]["maintenanceWindow"] == "available"


def test_the_window_costs_deployment_base_one_query_and_only_for_a_rollouts_job(fleet):
    set_receiver_window(fleet.receiver, install_window(open_now=False))
    job = fleet.queue()
    http = Client(HTTP_AUTHORIZATION=f"TargetToken {fleet.token}")
    path = f"/north/controller/v1/{SERIAL}/deploymentBase/{job.pk}"
    http.get(path)  # queued -> delivered happens once; count the steady answers

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert http.get(path).json()["deployment"]["update"] == "skip"
        return len(captured)

    alone = queries()
    rollout_for(fleet, job, None)
    assert queries() == alone + 1


def test_installed_base_carries_no_window(fleet):
    set_receiver_window(fleet.receiver, install_window(open_now=False))
    job = fleet.queue()
    client = fleet.client()
    deployment_of(client)
    assert client.feedback(job.pk, "closed", "success").status == 200
    installed = client.request("GET", client.poll().json()["_links"]["installedBase"]["href"]).json()
    assert installed["deployment"]["update"] == "forced" and "maintenanceWindow" not in installed["deployment"]


def test_the_panel_says_a_ready_job_waits_for_the_install_window(fleet):
    window = install_window(open_now=False)
    set_receiver_window(fleet.receiver, window)
    job = fleet.queue()
    UpdateJob.objects.filter(pk=job.pk).update(state=S.READY)
    device = Device.objects.select_related("receiver", "active_job__rollout").get(serial=SERIAL)
    words = f"{window[0]:%H:%M}-{window[1]:%H:%M}"
    assert JobView(device.active_job, device).hint == f"Ready for installation; waits for the install window ({words})."
    UpdateJob.objects.filter(pk=job.pk).update(state=S.DOWNLOADED)
    device = Device.objects.select_related("receiver", "active_job__rollout").get(serial=SERIAL)
    assert JobView(device.active_job, device).hint == f"Downloaded; waits for the install window ({words})."

    set_receiver_window(fleet.receiver, install_window(open_now=True))
    UpdateJob.objects.filter(pk=job.pk).update(state=S.READY)
    device = Device.objects.select_related("receiver", "active_job__rollout").get(serial=SERIAL)
    device.partitions = [{"number": 1, "armed": True}]
    assert JobView(device.active_job, device).hint == "Ready for installation; waits until a partition is disarmed."
