"""Operators act by permission: viewers read, engineers queue and cancel single sites,
managers start rollouts and manage releases, receivers, sites and device types."""

import pytest
from django.contrib.auth.models import Group

from core.permissions import ENGINEERS, GROUPS, MANAGERS, VIEWERS
from firmware_updates.models import JobState, Release, Rollout, UpdateJob
from sites.models import Site
from tests.factories import (
    DeviceTypeFactory,
    ReleaseFactory,
    UpdateJobFactory,
    UserFactory,
)

from .conftest import client_for, swu_archive

pytestmark = pytest.mark.django_db


def group_perms(name):
    return {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=name).permissions.all()}


def test_migrate_creates_the_three_groups_with_the_documented_permissions():
    assert group_perms(VIEWERS) == GROUPS[VIEWERS]
    assert group_perms(ENGINEERS) == GROUPS[VIEWERS] | {"firmware_updates.add_updatejob",
                                                          "firmware_updates.change_updatejob"}
    assert {"firmware_updates.add_rollout", "firmware_updates.add_release",
            "firmware_updates.change_release"} <= group_perms(MANAGERS)
    assert "firmware_updates.add_rollout" not in group_perms(ENGINEERS)


@pytest.mark.parametrize("path", ["/api/v1/receivers/", "/api/v1/sites/", "/api/v1/update-jobs/",
                                  "/api/v1/rollouts/", "/api/v1/releases/", "/api/v1/device-types/"])
def test_anonymous_requests_are_refused_with_401(path):
    response = client_for(None).get(path)
    assert response.status_code == 401
    assert response.json()["detail"] == "Authentication credentials were not provided."
    assert response["WWW-Authenticate"] == "Token"


def test_anonymous_cannot_queue_a_site(fleet):
    response = client_for(None).post("/api/v1/update-jobs/", {"receiver": "north", "site_number": 1204},
                                     format="json")
    assert response.status_code == 401
    assert not UpdateJob.objects.exists()


def test_user_in_no_group_sees_nothing(fleet):
    response = client_for(UserFactory()).get("/api/v1/sites/")
    assert response.status_code == 403


@pytest.mark.parametrize("path", ["/api/v1/receivers/", "/api/v1/receivers/north/", "/api/v1/sites/",
                                  "/api/v1/update-jobs/", "/api/v1/rollouts/", "/api/v1/releases/",
                                  "/api/v1/device-types/", "/api/v1/receivers/north/firmware-stats/"])
def test_viewer_reads_everything(fleet, as_viewer, path):
    assert as_viewer.get(path).status_code == 200


def test_viewer_cannot_queue_a_site(fleet, as_viewer):
    response = as_viewer.post("/api/v1/update-jobs/", {"receiver": "north", "site_number": 1204}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "Your account may not queue sites for update (permission firmware_updates.add_updatejob, "
        "given to the engineers group)."
    )
    assert not UpdateJob.objects.exists()


def test_viewer_cannot_cancel_an_update(fleet, as_viewer):
    job = UpdateJobFactory(device=fleet.devices[0], release=fleet.release)
    response = as_viewer.post(f"/api/v1/update-jobs/{job.pk}/cancel/")
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.state == JobState.QUEUED


def test_engineer_queues_and_cancels_a_single_site(fleet, as_engineer):
    queued = as_engineer.post("/api/v1/update-jobs/", {"receiver": "north", "site_number": 1204}, format="json")
    assert queued.status_code == 201
    assert as_engineer.post(f"/api/v1/update-jobs/{queued.json()['id']}/cancel/").status_code == 200


def test_engineer_cannot_start_a_rollout(fleet, as_engineer):
    response = as_engineer.post("/api/v1/rollouts/", {"receiver": "north", "device_type": "nord-gsm"}, format="json")
    assert response.status_code == 403
    assert "start rollouts" in response.json()["detail"] and "managers" in response.json()["detail"]
    assert not Rollout.objects.exists()


def test_engineer_cannot_upload_a_release(as_engineer):
    DeviceTypeFactory()
    response = as_engineer.post("/api/v1/releases/", {"archive": swu_archive(version="5.50")}, format="multipart")
    assert response.status_code == 403
    assert not Release.objects.filter(version="5.50").exists()


def test_engineer_cannot_mark_a_release_current(fleet, as_engineer):
    other = ReleaseFactory(device_type=fleet.device_type, version="5.50", is_current=False)
    assert as_engineer.post(f"/api/v1/releases/{other.pk}/mark-current/").status_code == 403
    other.refresh_from_db()
    assert not other.is_current


def test_engineer_cannot_create_sites_receivers_or_device_types_nor_rotate_tokens(fleet, as_engineer):
    site = {"receiver": "north", "number": 5, "device": {"serial": "X1", "device_type": "nord-gsm"}}
    assert as_engineer.post("/api/v1/sites/", site, format="json").status_code == 403
    assert as_engineer.post("/api/v1/receivers/", {"code": "south", "name": "S"}, format="json").status_code == 403
    assert as_engineer.post("/api/v1/device-types/", {"code": "x", "name": "X"}, format="json").status_code == 403
    assert as_engineer.post("/api/v1/receivers/north/gateway-token/").status_code == 403
    site_id = Site.objects.get(number=1204).pk
    assert as_engineer.post(f"/api/v1/sites/{site_id}/device/token/").status_code == 403
    assert not Site.objects.filter(number=5).exists()


def test_manager_starts_rollouts(fleet, as_manager):
    response = as_manager.post("/api/v1/rollouts/", {"receiver": "north", "device_type": "nord-gsm"}, format="json")
    assert response.status_code == 201


def test_superuser_may_do_anything(fleet):
    root = UserFactory(is_superuser=True)
    response = client_for(root).post("/api/v1/rollouts/", {"receiver": "north", "device_type": "nord-gsm"},
                                     format="json")
    assert response.status_code == 201


def test_options_describes_the_create_form_only_to_operators_who_may_use_it(fleet, as_viewer, as_engineer):
    assert "actions" not in as_viewer.options("/api/v1/update-jobs/").json()
    assert "POST" in as_engineer.options("/api/v1/update-jobs/").json()["actions"]


def test_browsable_api_offers_no_queue_form_to_a_viewer(fleet, as_viewer, as_engineer):
    page = as_viewer.get("/api/v1/update-jobs/", HTTP_ACCEPT="text/html").content.decode()
    assert "site_number" not in page
    assert "site_number" in as_engineer.get("/api/v1/update-jobs/", HTTP_ACCEPT="text/html").content.decode()


def test_token_endpoint_slows_down_password_guessing():
    """Five failures pause the name (core/signin.py, as on the login pages); past 20 tries a
    minute from one address, the rate refuses every request, the right password included."""
    UserFactory(username="anna")
    client = client_for(None)
    answers = [client.post("/api/v1/auth/token/", {"username": "anna", "password": f"guess{n}"})
               for n in range(21)]
    assert [answer.status_code for answer in answers] == [400] * 5 + [429] * 16
    assert answers[5].json()["detail"].startswith("Too many failed sign-ins for this user name.")
    response = client.post("/api/v1/auth/token/", {"username": "anna", "password": "correct horse battery"})
    assert response.status_code == 429 and "throttled" in response.json()["detail"]
