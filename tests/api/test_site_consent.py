"""A site's consent to remote updates (issue 14): `remote_update` allowed, approval or forbidden,
set when the site is created and changed with PATCH sites/{id}/; forbidden sites are never
queued, approval sites' jobs wait for an operator of the approvers group."""

import pytest
from django.contrib.admin.models import LogEntry

from core.models import Event
from core.permissions import APPROVERS, ENGINEERS
from firmware_updates import services
from firmware_updates.models import JobState, UpdateJob
from sites.models import Site

from .conftest import client_for, operator

pytestmark = pytest.mark.django_db
S = JobState
FORBIDDEN = "Site 1204: remote update not allowed at this site."


@pytest.fixture
def fleet_sites() -> list[int]:
    return [1204, 1205]


@pytest.fixture
def approver():
    return operator(APPROVERS, "anna")


@pytest.fixture
def as_approver(approver):
    return client_for(approver)


def site_id(fleet, number=1204) -> int:
    return Site.objects.get(receiver=fleet.receiver, number=number).pk


def consent(client, fleet, value, number=1204):
    return client.patch(f"/api/v1/sites/{site_id(fleet, number)}/", {"remote_update": value}, format="json")


def wakeups(callbacks) -> list:
    """The wake-up pushes among the callbacks a commit ran (core.outages sends them after it)."""
    return [c for c in callbacks if "wakeup_devices" in repr(c)]


def queue(client, number=1204):
    return client.post("/api/v1/update-jobs/", {"receiver": "north", "site_number": number}, format="json")


def test_a_manager_forbids_remote_updates_at_a_site_and_it_is_audited(fleet, as_manager, manager):
    assert as_manager.get(f"/api/v1/sites/{site_id(fleet)}/").json()["remote_update"] == "allowed"

    response = consent(as_manager, fleet, "forbidden")

    assert response.status_code == 200
    assert response.json()["remote_update"] == "forbidden" and response.json()["number"] == 1204
    assert Site.objects.get(pk=site_id(fleet)).remote_update == "forbidden"
    entry = LogEntry.objects.get(object_id=str(site_id(fleet)))
    assert (entry.user, entry.change_message) == (manager, "Remote update changed from allowed to forbidden.")
    # The alarm centre hears of it (core.events), written with the change.
    event = Event.objects.get(type="site.remote_update_changed")
    assert (event.receiver, event.site_number, event.data) == (
        "north", 1204, {"from": "allowed", "to": "forbidden", "by": manager.username})


def test_changing_the_consent_needs_the_permission_to_change_sites(fleet, as_engineer):
    response = consent(as_engineer, fleet, "forbidden")
    assert response.status_code == 403
    assert "change sites" in response.json()["detail"] and "managers" in response.json()["detail"]
    assert Site.objects.get(pk=site_id(fleet)).remote_update == "allowed"


def test_an_unknown_consent_is_400_naming_the_choices_and_changes_nothing(fleet, as_manager):
    response = consent(as_manager, fleet, "sometimes")
    assert response.status_code == 400
    assert response.json()["remote_update"] == ['"sometimes" is not a valid choice.']
    assert Site.objects.get(pk=site_id(fleet)).remote_update == "allowed"
    assert not LogEntry.objects.exists() and not Event.objects.exists()


def test_patch_changes_a_name_and_a_number_too_and_an_empty_patch_changes_nothing(fleet, as_manager):
    response = as_manager.patch(f"/api/v1/sites/{site_id(fleet)}/", {"name": "Mill Rd 4", "number": 4204},
                                format="json")
    assert response.status_code == 200 and (response.json()["name"], response.json()["number"]) == ("Mill Rd 4", 4204)
    assert as_manager.patch(f"/api/v1/sites/{site_id(fleet, 4204)}/", {}, format="json").status_code == 200
    assert LogEntry.objects.count() == 1
    assert not Event.objects.filter(type="site.remote_update_changed").exists()
    as_manager.patch(f"/api/v1/sites/{site_id(fleet, 4204)}/", {"remote_update": "approval", "number": 5204},
                     format="json")
    event = Event.objects.get(type="site.remote_update_changed")
    assert (event.site_number, event.data["to"]) == (5204, "approval")  # the site as it is now


def test_patch_changes_the_address_and_the_search_finds_the_site_by_it(fleet, as_manager, manager):
    """Sites are found by their address (`?q=`), so the API that changes a site changes it too."""
    url = f"/api/v1/sites/{site_id(fleet)}/"
    response = as_manager.patch(url, {"address": "Fjordveien 12, Bergen"}, format="json")

    assert response.status_code == 200 and response.json()["address"] == "Fjordveien 12, Bergen"
    assert as_manager.get(url).json()["address"] == "Fjordveien 12, Bergen"
    found = as_manager.get("/api/v1/sites/", {"receiver": "north", "q": "Fjordveien"}).json()["results"]
    assert [site["number"] for site in found] == [1204]
    entry = LogEntry.objects.get(object_id=str(site_id(fleet)))
    assert (entry.user, entry.change_message) == (manager, "Address changed.")
    too_long = as_manager.patch(url, {"address": "x" * 301}, format="json")
    assert too_long.status_code == 400 and "address" in too_long.json()
    assert Site.objects.get(pk=site_id(fleet)).address == "Fjordveien 12, Bergen"


def test_patch_refuses_a_field_it_does_not_take_by_name_and_changes_nothing(fleet, as_manager):
    url = f"/api/v1/sites/{site_id(fleet)}/"
    response = as_manager.patch(url, {"name": "Mill Rd 4", "adress": "Mill Rd 4, Bergen"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == ("Only receiver, number, name, address, remote_update may be changed, "
                                         "not adress.")
    assert Site.objects.get(pk=site_id(fleet)).name != "Mill Rd 4"
    assert not LogEntry.objects.exists()


def test_a_site_created_asking_for_approval_says_so(fleet, as_manager):
    response = as_manager.post("/api/v1/sites/", {"receiver": "north", "number": 7, "remote_update": "approval",
                                                  "device": {"serial": "NG7", "device_type": fleet.device_type.code}},
                               format="json")
    assert response.status_code == 201 and response.json()["remote_update"] == "approval"
    assert "Remote update: approval." in LogEntry.objects.get(object_id=str(response.json()["id"])).change_message


def test_a_forbidden_site_is_refused_409_with_the_reason_and_counted_red_with_it(fleet, as_manager, as_engineer):
    consent(as_manager, fleet, "forbidden")

    response = queue(as_engineer)

    assert response.status_code == 409
    assert response.json() == {"detail": FORBIDDEN, "code": "remote_update_forbidden"}
    assert not UpdateJob.objects.exists()
    (stats,) = as_engineer.get("/api/v1/receivers/north/firmware-stats/").json()
    assert (stats["not_planned"], stats["not_eligible"]) == (2, 1)
    assert stats["not_eligible_reasons"] == {"remote_update_forbidden": 1}
    assert as_engineer.get(f"/api/v1/sites/{site_id(fleet)}/").json()["badge"] == "red"


def test_a_rollout_skips_a_forbidden_site_with_the_reason_and_holds_an_approval_site(
        fleet, as_manager, eager_celery, django_capture_on_commit_callbacks):
    consent(as_manager, fleet, "forbidden")
    consent(as_manager, fleet, "approval", number=1205)
    with django_capture_on_commit_callbacks(execute=True):
        created = as_manager.post("/api/v1/rollouts/", {"receiver": "north", "device_type": fleet.device_type.code},
                                  format="json").json()
    rollout = as_manager.get(f"/api/v1/rollouts/{created['id']}/").json()
    assert (rollout["queued"], rollout["skipped"]) == (1, {"remote_update_forbidden": 1})
    job = UpdateJob.objects.get(rollout_id=rollout["id"])
    assert (job.device.site.number, job.state) == (1205, S.AWAITING_APPROVAL)


def test_queueing_at_an_approval_site_holds_the_job_yellow_and_wakes_nobody(
        fleet, as_manager, as_engineer, django_capture_on_commit_callbacks):
    fleet.receiver.wakeup_url = "http://127.0.0.1:9/"
    fleet.receiver.save()
    consent(as_manager, fleet, "approval")

    with django_capture_on_commit_callbacks() as sent:
        response = queue(as_engineer)

    assert response.status_code == 201 and response.json()["state"] == "awaiting_approval"
    assert [(h["from_state"], h["to_state"]) for h in response.json()["history"]] == [("", "awaiting_approval")]
    assert wakeups(sent) == []  # the panel has nothing to fetch yet
    assert not Event.objects.filter(type="job.queued").exists()  # not queued yet: held
    site = as_engineer.get(f"/api/v1/sites/{site_id(fleet)}/").json()
    assert site["badge"] == "yellow" and site["active_job"]["state"] == "awaiting_approval"
    (stats,) = as_engineer.get("/api/v1/receivers/north/firmware-stats/").json()
    assert stats["updating"] == 1


def test_only_an_approver_approves_then_the_job_is_queued_and_the_panel_woken(
        fleet, as_manager, as_engineer, as_approver, approver, django_capture_on_commit_callbacks):
    fleet.receiver.wakeup_url = "http://127.0.0.1:9/"
    fleet.receiver.save()
    consent(as_manager, fleet, "approval")
    job_id = queue(as_engineer).json()["id"]

    refused = as_engineer.post(f"/api/v1/update-jobs/{job_id}/approve/")
    assert refused.status_code == 403
    assert refused.json()["detail"] == ("Your account may not approve updates (permission "
                                        "firmware_updates.approve_updatejob, given to the approvers group).")
    assert UpdateJob.objects.get(pk=job_id).state == S.AWAITING_APPROVAL

    with django_capture_on_commit_callbacks() as sent:
        response = as_approver.post(f"/api/v1/update-jobs/{job_id}/approve/")

    assert response.status_code == 200 and response.json()["state"] == "queued"
    assert [(h["from_state"], h["to_state"], h["actor"]) for h in response.json()["history"]][-1] == (
        "awaiting_approval", "queued", approver.username)
    assert len(wakeups(sent)) == 1  # the wake-up of the panel, after the commit
    event = Event.objects.get(type="job.queued")
    assert (event.job, event.site_number, event.data) == (job_id, 1204, {"release": "5.40"})


def test_approving_a_job_not_awaiting_approval_is_409(fleet, as_engineer, as_approver):
    job_id = queue(as_engineer).json()["id"]  # an allowed site: queued at once
    response = as_approver.post(f"/api/v1/update-jobs/{job_id}/approve/")
    assert response.status_code == 409
    assert response.json() == {"detail": "The update of Site 1204 is not awaiting approval (queued).",
                               "code": "not_awaiting_approval"}


def test_a_job_awaiting_approval_is_cancelled_at_once(fleet, as_manager, as_engineer, as_approver):
    consent(as_manager, fleet, "approval")
    job_id = queue(as_engineer).json()["id"]
    response = as_engineer.post(f"/api/v1/update-jobs/{job_id}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert as_approver.post(f"/api/v1/update-jobs/{job_id}/approve/").json()["code"] == "not_awaiting_approval"


def test_a_job_held_at_a_site_that_since_forbids_updates_is_not_approved(fleet, as_manager, as_engineer, as_approver):
    consent(as_manager, fleet, "approval")
    job_id = queue(as_engineer).json()["id"]
    consent(as_manager, fleet, "forbidden")

    response = as_approver.post(f"/api/v1/update-jobs/{job_id}/approve/")

    assert response.status_code == 409
    assert response.json() == {"detail": FORBIDDEN, "code": "remote_update_forbidden"}
    assert UpdateJob.objects.get(pk=job_id).state == S.AWAITING_APPROVAL


def test_a_stopped_rollout_cancels_its_jobs_awaiting_approval(fleet, as_manager, eager_celery,
                                                               django_capture_on_commit_callbacks):
    consent(as_manager, fleet, "approval")
    with django_capture_on_commit_callbacks(execute=True):
        rollout = services.rollout_start(receiver=fleet.receiver, device_type=fleet.device_type, actor=None,
                                         waves=[100])[0]
    assert dict(UpdateJob.objects.values_list("device__site__number", "state")) == {
        1204: S.AWAITING_APPROVAL, 1205: S.QUEUED}
    response = as_manager.post(f"/api/v1/rollouts/{rollout.pk}/stop/")
    assert response.status_code == 200
    assert set(UpdateJob.objects.values_list("state", flat=True)) == {S.CANCELLED}


def test_the_approvers_group_may_approve_and_see_nothing_more(approver):
    assert approver.has_perm("firmware_updates.approve_updatejob")
    assert approver.has_perm("firmware_updates.view_updatejob")
    assert not approver.has_perm("firmware_updates.add_updatejob")
    assert not operator(ENGINEERS).has_perm("firmware_updates.approve_updatejob")
