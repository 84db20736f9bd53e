"""What SWUpdate 2022.12's suricatta does differently from the spec's happy path (DESIGN.md 4):
HEAD before GET on the artifact, integer "id" and "time" in its feedback, only `proceeding`
until it closes (never `downloaded`/`scheduled`), configData with mode replace and extras, and
closed + success "Skipped Update." for an `update: skip` it did nothing about."""

import hashlib

import pytest

from firmware_updates.models import JobState
from sites.models import Device

from .conftest import SERIAL, install_window, set_receiver_window

pytestmark = pytest.mark.live
S = JobState


def swupdate_feedback(client, action_id, execution, finished, details):
    """The body SWUpdate's server_hawkbit.c sends: id as an integer, a time stamp."""
    body = {
        "id": int(action_id),
        "time": "20240312T101500",
        "status": {"result": {"finished": finished}, "execution": execution, "details": details},
    }
    return client.request("POST", f"/deploymentBase/{action_id}/feedback", body=body)


def test_swupdate_update_with_head_before_get_and_only_proceeding_reports(fleet):
    job = fleet.queue()
    client = fleet.client()
    deployment = client.request(
        "GET", client.poll().json()["_links"]["deploymentBase"]["href"]
    ).json()
    artifact = deployment["deployment"]["chunks"][0]["artifacts"][0]
    url = artifact["_links"]["download-http"]["href"]

    head = client.request("HEAD", url)
    assert head.status == 200 and head.body == b""
    assert int(head.headers["Content-Length"]) == artifact["size"]
    assert fleet.job(job).state == S.DELIVERED  # a HEAD downloads nothing

    reply = swupdate_feedback(client, job.pk, "proceeding", "none", ["Downloading"])
    assert reply.status == 200
    assert fleet.job(job).state == S.DOWNLOADING
    body = client.request("GET", url).body
    assert hashlib.sha256(body).hexdigest() == artifact["hashes"]["sha256"]
    # Installing: SWUpdate still says only "proceeding"; the job never goes backwards.
    assert swupdate_feedback(client, job.pk, "proceeding", "none", ["Installing"]).status == 200
    assert fleet.job(job).state == S.DOWNLOADING

    # After the reboot: closed + success, straight from downloading.
    assert (
        swupdate_feedback(client, job.pk, "closed", "success", ["Update successful"]).status == 200
    )

    job = fleet.job(job)
    assert job.state == S.SUCCEEDED and job.bytes_downloaded == artifact["size"]
    assert job.confirmed_at is None  # green only once the device reports 5.40
    assert [(e.from_state, e.to_state) for e in job.events.filter(kind="transition")][1:] == [
        (S.QUEUED, S.DELIVERED),
        (S.DELIVERED, S.DOWNLOADING),
        (S.DOWNLOADING, S.SUCCEEDED),
    ]


def test_swupdate_config_data_with_mode_replace_and_extra_fields(fleet):
    client = fleet.client()
    client.config_data({"sw_version": "5.30", "custom": "kept until replaced"})
    body = {
        "id": "",
        "time": "20240312T101500",
        "status": {"result": {"finished": "success"}, "execution": "closed", "details": []},
        "mode": "replace",
        "data": {
            "hw_boardname": "nord-gsm",
            "hw_revision": "2.1",
            "sw_version": "5.30",
            "vendor": "acme",
        },
    }

    reply = client.request("PUT", "/configData", body=body)

    assert reply.status == 200
    device = Device.objects.get(serial=SERIAL)
    assert device.attributes == body["data"]  # replaced: "custom" is gone
    assert device.device_type.code == "nord-gsm" and device.hardware_revision == "2.1"


def test_swupdate_confirms_the_version_after_closing(fleet):
    job = fleet.queue()
    client = fleet.client()
    client.config_data({"sw_version": "5.30"})
    swupdate_feedback(client, job.pk, "closed", "success", ["Update successful"])
    assert "configData" in client.poll().json()["_links"]  # asked again after the update

    client.request("PUT", "/configData", body={"mode": "replace", "data": {"sw_version": "5.40"}})

    assert fleet.job(job).confirmed_at is not None
    assert "configData" not in client.poll().json()["_links"]


def test_swupdate_skipping_a_closed_install_window_is_not_a_success(fleet):
    """suricatta answers `update: skip` with closed + success "Skipped Update." and installs
    nothing (server_hawkbit.c): the job stays, and once the window opens it runs as ever."""
    set_receiver_window(fleet.receiver, install_window(open_now=False))
    job = fleet.queue()
    client = fleet.client()
    for _poll in range(3):  # it asks again at every poll, and says the same
        deployment = client.request("GET", client.poll().json()["_links"]["deploymentBase"]["href"]).json()
        assert deployment["deployment"]["update"] == "skip"
        assert swupdate_feedback(client, job.pk, "closed", "success", ["Skipped Update."]).status == 200
    job = fleet.job(job)
    assert job.state == S.DELIVERED and job.finished_at is None
    assert job.events.filter(kind="report").count() == 1  # kept once on the timeline

    set_receiver_window(fleet.receiver, install_window(open_now=True))
    deployment = client.request("GET", client.poll().json()["_links"]["deploymentBase"]["href"]).json()
    assert deployment["deployment"]["update"] == "forced"
    swupdate_feedback(client, job.pk, "proceeding", "none", ["Installing Update Chunk Artifacts."])
    swupdate_feedback(client, job.pk, "closed", "success", ["Update Installed."])
    assert fleet.job(job).state == S.SUCCEEDED
