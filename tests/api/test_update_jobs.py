"""`update-jobs/`: queue one site, follow it, cancel it; refusals in words with a stable code."""

import pytest

from firmware_updates import services
from firmware_updates.models import JobState, UpdateJob
from tests.factories import (
    DeviceFactory,
    ReceiverFactory,
    ReleaseFactory,
    UpdateJobFactory,
)

pytestmark = pytest.mark.django_db
S = JobState


def queue(client, number=1204, **extra):
    return client.post("/api/v1/update-jobs/", {"receiver": "north", "site_number": number, **extra}, format="json")


def report(job_id, execution, finished="none"):
    job = UpdateJob.objects.get(pk=job_id)
    return services.job_apply_feedback(job=job, execution=execution, finished=finished, progress=None, details=[])


def test_queueing_a_site_answers_201_with_the_job_and_who_queued_it(fleet, as_engineer, engineer):
    release = fleet.release
    response = queue(as_engineer)
    assert response.status_code == 201
    job = response.json()
    assert job == {
        "id": job["id"], "site": 1204, "receiver": "north", "device": "NG1204",
        "release": {"id": release.pk, "version": "5.40"}, "rollout": None, "state": "queued",
        "progress": {"bytes": 0, "of": 400_000, "percent": 0}, "artifact": None, "reason": "", "warnings": [],
        "created_by": engineer.username, "created_at": job["created_at"],
        "state_changed_at": job["state_changed_at"], "finished_at": None,
        "history": [{"at": job["history"][0]["at"], "from_state": "", "to_state": "queued",
                     "actor": engineer.username, "kind": "transition",
                     "details": {"release": "5.40", "site_number": 1204}}],
    }


def test_an_explicit_release_is_used(fleet, as_engineer):
    older = ReleaseFactory(device_type=fleet.device_type, version="5.35", is_current=False)
    response = queue(as_engineer, release=older.pk)
    assert response.status_code == 201 and response.json()["release"]["version"] == "5.35"


@pytest.mark.parametrize(
    ("device_kwargs", "code", "detail"),
    [
        ({"channels": ["gsm_voice", "sms"]}, "no_ip_channel", "Site 1204 has no GPRS or Ethernet channel."),
        ({"hardware_revision": "1.0"}, "hardware_not_supported",
         "Hardware revision 1.0 of Site 1204 is not supported by Nord GSM 5.40 (supports 2.1, 2.2)."),
        ({"firmware_version": "5.40"}, "already_current", "Site 1204 already runs 5.40."),
        ({"firmware_version": "5.50"}, "would_downgrade", "Site 1204 runs 5.50, newer than 5.40: that would downgrade it."),
    ],
)
def test_refusals_are_409_with_the_reason_in_words(fleet, as_engineer, device_kwargs, code, detail):
    DeviceFactory(site__receiver=fleet.receiver, site__number=77, device_type=fleet.device_type, **device_kwargs)
    response = queue(as_engineer, number=77)
    assert response.status_code == 409
    assert response.json() == {"detail": detail.replace("1204", "77"), "code": code}
    assert not UpdateJob.objects.exists()


def test_queueing_twice_is_409_already_updating(fleet, as_engineer):
    assert queue(as_engineer).status_code == 201
    response = queue(as_engineer)
    assert response.status_code == 409
    assert response.json() == {"detail": "Site 1204 is already being updated.", "code": "already_updating"}
    assert UpdateJob.objects.count() == 1


def test_unknown_site_is_409_naming_it(fleet, as_engineer):
    response = queue(as_engineer, number=9)
    assert response.status_code == 409
    assert response.json()["detail"] == "Site 9 does not exist on receiver north."


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"receiver": "nowhere", "site_number": 1204}, "receiver: No receiver has the code nowhere."),
        ({"receiver": "north", "site_number": 1204, "release": 999999}, "release: No release has the id 999999."),
        ({"receiver": "north", "site_number": "twelve"}, "site_number: A valid integer is required."),
        ({"receiver": "north"}, "site_number: This field is required."),
    ],
)
def test_unknown_receiver_or_release_is_400_naming_the_field(fleet, as_engineer, payload, detail):
    response = as_engineer.post("/api/v1/update-jobs/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == detail
    field = detail.split(":")[0]
    assert response.json()[field] == [detail.split(": ", 1)[1]]


def test_cancel_while_queued_is_200_cancelled(fleet, as_engineer, engineer):
    job_id = queue(as_engineer).json()["id"]
    response = as_engineer.post(f"/api/v1/update-jobs/{job_id}/cancel/")
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "cancelled" and body["reason"] == f"Cancelled by {engineer.username}."
    assert [(h["from_state"], h["to_state"], h["actor"]) for h in body["history"]] == [
        ("", "queued", engineer.username), ("queued", "cancelled", engineer.username)]


def test_cancel_while_downloading_is_202_cancelling(fleet, as_engineer):
    job_id = queue(as_engineer).json()["id"]
    report(job_id, "download")
    response = as_engineer.post(f"/api/v1/update-jobs/{job_id}/cancel/")
    assert response.status_code == 202 and response.json()["state"] == "cancelling"


def test_cancel_after_download_is_409_already_downloaded(fleet, as_engineer):
    job_id = queue(as_engineer).json()["id"]
    report(job_id, "downloaded")
    response = as_engineer.post(f"/api/v1/update-jobs/{job_id}/cancel/")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "The device has already downloaded the update; it can no longer be cancelled.",
        "code": "already_downloaded",
    }
    assert UpdateJob.objects.get(pk=job_id).state == S.DOWNLOADED


def test_cancel_of_unknown_job_is_404(as_engineer):
    assert as_engineer.post("/api/v1/update-jobs/424242/cancel/").status_code == 404


def test_detail_shows_device_reports_in_the_history_and_freshest_progress(fleet, as_viewer, engineer):
    job = services.update_job_create(receiver=fleet.receiver, site_number=1204, actor=engineer)
    report(job.pk, "download")
    job.refresh_from_db()
    services.job_download_progress(job=job, offset=100_000)
    services.job_download_progress(job=job, offset=300_000)
    body = as_viewer.get(f"/api/v1/update-jobs/{job.pk}/").json()
    assert body["progress"] == {"bytes": 300_000, "of": 400_000, "percent": 75}
    assert [(h["to_state"], h["actor"]) for h in body["history"]] == [
        ("queued", engineer.username), ("downloading", "device")]


def test_list_filters_by_receiver_state_and_site_number(fleet, as_viewer):
    receiver, nord, release, _ = fleet
    south = ReceiverFactory(code="south")
    UpdateJobFactory(device=DeviceFactory(site__receiver=receiver, site__number=1), release=release)
    UpdateJobFactory(device=DeviceFactory(site__receiver=receiver, site__number=2), release=release, state="failed")
    UpdateJobFactory(device=DeviceFactory(site__receiver=south, site__number=1), release=release)

    def sites(query):
        response = as_viewer.get(f"/api/v1/update-jobs/?{query}")
        assert response.status_code == 200, response.json()
        return sorted((j["receiver"], j["site"], j["state"]) for j in response.json()["results"])

    assert sites("receiver=north") == [("north", 1, "queued"), ("north", 2, "failed")]
    assert sites("state=failed") == [("north", 2, "failed")]
    assert sites("site_number=1") == [("north", 1, "queued"), ("south", 1, "queued")]
    assert sites("receiver=south&site_number=1&state=queued") == [("south", 1, "queued")]
    assert as_viewer.get("/api/v1/update-jobs/?state=sleeping").status_code == 400


def test_job_list_takes_a_constant_number_of_queries(fleet, as_viewer, django_assert_max_num_queries):
    receiver, nord, release, _ = fleet
    for n in range(50):
        job = UpdateJobFactory(device=DeviceFactory(site__receiver=receiver, site__number=n + 1), release=release)
        services.job_event_record(job=job, actor=services.ACTOR_SYSTEM, kind="transition", to_state="queued")
    with django_assert_max_num_queries(6):
        response = as_viewer.get("/api/v1/update-jobs/?page_size=50")
    assert len(response.json()["results"]) == 50
    assert all(len(j["history"]) == 1 for j in response.json()["results"])


def test_only_the_urls_object_is_a_404_a_row_missing_inside_a_service_is_a_server_error():
    """A DoesNotExist raised inside a service is a bug or a race, not "not found": the one
    exception handler leaves it to Django (500, logged with its traceback) instead of a 404
    whose detail names a model."""
    from core.api import exception_handler
    from firmware_updates.models import UpdateJob

    assert exception_handler(UpdateJob.DoesNotExist("UpdateJob matching query does not exist."), {}) is None


def test_an_unknown_job_in_the_url_is_a_404_in_plain_words(as_engineer):
    response = as_engineer.post("/api/v1/update-jobs/424242/cancel/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
