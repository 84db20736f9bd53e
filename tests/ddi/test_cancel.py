"""Cancel flows as the device sees them (seed: "Update Process Stopping")."""

import pytest

from firmware_updates import services
from firmware_updates.ddi.payloads import action_hash
from firmware_updates.models import JobState

from .conftest import SERIAL, TENANT

pytestmark = pytest.mark.live
S = JobState


def start_download(fleet):
    """A job whose device has read its deployment and fetched the first part of the archive."""
    job = fleet.queue()
    client = fleet.client()
    deployment = client.request(
        "GET", client.poll().json()["_links"]["deploymentBase"]["href"]
    ).json()
    url = deployment["deployment"]["chunks"][0]["artifacts"][0]["_links"]["download"]["href"]
    assert client.request("GET", url, headers={"Range": "bytes=0-8191"}).status == 206
    assert fleet.job(job).state == S.DOWNLOADING
    return job, client, url


def test_cancelling_a_queued_job_is_immediate_and_the_device_never_sees_it(fleet):
    job = fleet.queue()
    services.update_job_cancel(job=job, actor=None)
    client = fleet.client()

    body = client.poll().json()

    assert fleet.job(job).state == S.CANCELLED
    assert body["config"]["polling"]["sleep"] == "00:05:00"
    assert set(body.get("_links", {})) <= {"configData"}
    assert client.request("GET", f"/deploymentBase/{job.pk}").status == 404
    assert client.request("GET", f"/cancelAction/{job.pk}").status == 404
    assert client.feedback(job.pk, "proceeding").status == 410


def test_cancel_during_download_waits_for_the_device_to_acknowledge(fleet):
    job, client, url = start_download(fleet)
    assert services.update_job_cancel(job=job, actor=None).state == S.CANCELLING

    links = client.poll().json()["_links"]
    assert "deploymentBase" not in links
    assert links["cancelAction"] == {
        "href": f"{fleet.base_url}/{TENANT}/controller/v1/{SERIAL}/cancelAction/{job.pk}"
    }
    reply = client.request("GET", links["cancelAction"]["href"])
    assert reply.json() == {"id": str(job.pk), "cancelAction": {"stopId": str(job.pk)}}
    assert (
        client.request("GET", url, headers={"Range": "bytes=8192-"}).status == 404
    )  # no more bytes

    assert client.cancel_feedback(job.pk, "proceeding", "none").status == 200  # still stopping
    assert fleet.job(job).state == S.CANCELLING
    assert client.cancel_feedback(job.pk, "closed", "success").status == 200

    job = fleet.job(job)
    assert job.state == S.CANCELLED and job.finished_at is not None
    assert (
        job.events.filter(
            from_state=S.CANCELLING, to_state=S.CANCELLED, actor_label="device"
        ).count()
        == 1
    )
    assert "cancelAction" not in client.poll().json().get("_links", {})
    assert client.request("GET", url).status == 404  # a cancelled job's artifact is not served
    # A repeated acknowledgement (its answer was lost) is told the action is gone.
    assert client.cancel_feedback(job.pk, "closed", "success").status == 410


def test_device_refusing_the_cancel_goes_back_to_where_it_was(fleet):
    job, client, url = start_download(fleet)
    before = action_hash(fleet.job(job))
    services.update_job_cancel(job=job, actor=None)
    # While the cancel was on its way the device finished the download.
    assert client.feedback(job.pk, "downloaded").status == 200
    assert fleet.job(job).state == S.CANCELLING

    assert (
        client.cancel_feedback(job.pk, "rejected", "none", details=["already downloaded"]).status
        == 200
    )

    job = fleet.job(job)
    assert job.state == S.DOWNLOADED
    assert job.events.filter(kind="warning").exists()
    href = client.poll().json()["_links"]["deploymentBase"]["href"]
    # The action changed (a cancel came and went): its hash tells the client so.
    assert (
        href.endswith(f"/deploymentBase/{job.pk}?c={action_hash(job)}")
        and action_hash(job) != before
    )
    assert client.request("GET", url, headers={"Range": "bytes=0-15"}).status == 206


def test_a_refused_cancel_without_progress_returns_to_downloading(fleet):
    job, client, _url = start_download(fleet)
    services.update_job_cancel(job=job, actor=None)

    client.cancel_feedback(job.pk, "rejected", "none")

    assert fleet.job(job).state == S.DOWNLOADING


def test_cancel_action_of_a_job_not_being_cancelled_is_404_and_its_feedback_410(fleet):
    job, client, _url = start_download(fleet)

    assert client.request("GET", f"/cancelAction/{job.pk}").status == 404
    assert client.cancel_feedback(job.pk, "closed", "success").status == 410
    assert fleet.job(job).state == S.DOWNLOADING


@pytest.mark.parametrize(("status", "words"), [
    ({"execution": [], "result": {"finished": "success"}}, "execution []"),
    ({"execution": {"closed": 1}, "result": {"finished": "success"}}, "execution"),
    ({"execution": "closed", "result": {"finished": ["success"]}}, "result ['success']"),
    ({"execution": "closed", "result": "success"}, "'result' must be an object"),
    ({"execution": "closed", "result": {"finished": "success"}, "details": {"why": "done"}}, "list of strings"),
])
def test_a_cancel_report_of_odd_types_is_400_and_the_job_still_stops(fleet, status, words):
    job, client, _url = start_download(fleet)
    services.update_job_cancel(job=job, actor=None)

    reply = client.request("POST", f"/cancelAction/{job.pk}/feedback", body={"status": status},
                           check_request=False)

    assert reply.status == 400
    assert reply.json()["errorCode"] == "ddi.invalid"
    assert words in reply.json()["message"]
    assert fleet.job(job).state == S.CANCELLING
    assert client.cancel_feedback(job.pk, "closed", "success").status == 200
    assert fleet.job(job).state == S.CANCELLED
