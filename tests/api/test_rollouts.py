"""`rollouts/`: "Update software at all sites" queues every eligible outdated site once."""

import pytest

from firmware_updates.models import Rollout, UpdateJob
from tests.factories import (
    DeviceFactory,
    DeviceTypeFactory,
    ReceiverFactory,
    ReleaseFactory,
    UpdateJobFactory,
)

S_QUEUED = "queued"


def start(client, receiver="north", device_type="nord-gsm", **options):
    return client.post("/api/v1/rollouts/", {"receiver": receiver, "device_type": device_type, **options},
                       format="json")


@pytest.fixture
def mixed_fleet(settings):
    """A receiver's Nord GSM fleet with one site of every kind the rollout must tell apart."""
    settings.ROLLOUT_BATCH_SIZE = 4  # several batches, so the cursor is exercised too
    receiver = ReceiverFactory(code="north")
    nord = DeviceTypeFactory()
    release = ReleaseFactory(device_type=nord, version="5.40", hardware_revisions=["2.1", "2.2"])
    ReleaseFactory(device_type=nord, version="5.30", is_current=False)
    outdated = [DeviceFactory(site__receiver=receiver, device_type=nord, firmware_version=v).serial
                for v in ("5.30", "5.30", "5.35", "", "5.8")]
    for kwargs in ({"channels": ["gsm_voice"]}, {"channels": ["sms"]}, {"hardware_revision": "1.0"},
                   {"firmware_version": "5.40"}, {"firmware_version": "5.40"}, {"firmware_version": "5.50"}):
        DeviceFactory(site__receiver=receiver, device_type=nord, **kwargs)
    UpdateJobFactory(device=DeviceFactory(site__receiver=receiver, device_type=nord), release=release,
                     state="downloading")
    # Other receivers and device types are not touched.
    DeviceFactory(site__receiver=ReceiverFactory(code="south"), device_type=nord)
    DeviceFactory(site__receiver=receiver, device_type=DeviceTypeFactory(code="nord-lte", name="Nord LTE"))
    return receiver, nord, release, outdated


@pytest.mark.django_db(transaction=True)
def test_update_all_queues_every_eligible_outdated_site_once_and_counts_the_rest(
    mixed_fleet, as_manager, manager, eager_celery
):
    receiver, nord, release, outdated = mixed_fleet
    response = start(as_manager, waves=[100])
    assert response.status_code == 201
    body = response.json()
    # Eager Celery: the fan-out ran inside the request; one wave of every site, still running.
    assert body["state"] == "running" and body["eligible"] == 5
    assert body["queued"] == 5
    assert body["skipped"] == {"no_ip_channel": 2, "hardware_not_supported": 1, "already_current": 2,
                               "would_downgrade": 1, "already_updating": 1}
    assert body["processed"] == body["total"] == 12
    assert body["progress"] == {"queued": 5}
    assert body["release"] == {"id": release.pk, "version": "5.40"}
    assert body["created_by"] == manager.username
    jobs = UpdateJob.objects.filter(rollout_id=body["id"])
    assert sorted(jobs.values_list("device__serial", flat=True)) == sorted(outdated)
    assert all(job.created_by == manager for job in jobs)


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_update_all_creates_no_duplicate_jobs(mixed_fleet, as_manager, eager_celery):
    first = start(as_manager, waves=[100]).json()
    second = start(as_manager, waves=[100])
    assert second.status_code == 202 and second.json()["id"] == first["id"]
    assert UpdateJob.objects.filter(state=S_QUEUED).count() == first["queued"] == 5
    for serial in mixed_fleet[3]:
        assert UpdateJob.objects.filter(device__serial=serial).count() == 1


@pytest.mark.django_db
def test_a_request_while_a_rollout_is_open_joins_it_with_202(mixed_fleet, as_manager):
    # Celery is not eager and this test's transaction never commits: the rollout stays pending.
    first = start(as_manager)
    assert first.status_code == 201 and first.json()["state"] == "pending"
    second = start(as_manager)
    assert second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    assert Rollout.objects.count() == 1


@pytest.mark.django_db
def test_rollout_without_current_release_is_409(as_manager):
    ReceiverFactory(code="north")
    DeviceTypeFactory()
    response = start(as_manager)
    assert response.status_code == 409
    assert response.json() == {"detail": "Nord GSM has no current release.", "code": "no_current_release"}


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [({"receiver": "nowhere"}, "receiver"),
                                             ({"device_type": "nord-lte"}, "device_type")])
def test_unknown_receiver_or_device_type_is_400_naming_the_field(as_manager, body, field):
    ReceiverFactory(code="north")
    DeviceTypeFactory()
    response = as_manager.post("/api/v1/rollouts/", {"receiver": "north", "device_type": "nord-gsm", **body},
                               format="json")
    assert response.status_code == 400 and field in response.json()


@pytest.mark.django_db
def test_rollout_detail_and_list_show_job_progress(as_viewer, django_assert_max_num_queries):
    receiver = ReceiverFactory(code="north")
    nord = DeviceTypeFactory()
    release = ReleaseFactory(device_type=nord)
    rollouts = [Rollout.objects.create(receiver=receiver, device_type=nord, release=release, state="completed")
                for _ in range(50)]
    for state in ("queued", "downloading", "downloading", "succeeded"):
        UpdateJobFactory(device=DeviceFactory(site__receiver=receiver), release=release, rollout=rollouts[0],
                         state=state)
    detail = as_viewer.get(f"/api/v1/rollouts/{rollouts[0].pk}/").json()
    assert detail["progress"] == {"queued": 1, "downloading": 2, "succeeded": 1}
    with django_assert_max_num_queries(6):
        page = as_viewer.get("/api/v1/rollouts/?page_size=50").json()
    assert len(page["results"]) == 50
    by_id = {r["id"]: r for r in page["results"]}
    assert by_id[rollouts[0].pk]["progress"] == detail["progress"]
    assert by_id[rollouts[1].pk]["progress"] == {}
    assert as_viewer.get("/api/v1/rollouts/424242/").status_code == 404
