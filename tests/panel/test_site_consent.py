"""The panel's side of a site's consent (issue 14): the site page shows it and lets a manager
change it; the device type page counts forbidding sites among the red with their reason and
offers approvers "Approve..." on the jobs held for approval; the panel's power holds."""

import pytest
from django.contrib.admin.models import LogEntry

from core.permissions import APPROVERS
from firmware_updates import services
from firmware_updates.models import JobState, UpdateJob
from sites.models import Device, Site

from .conftest import operator, signed_in
from .html import find_all, text_of, texts_of

pytestmark = pytest.mark.django_db
S = JobState


def site_url(example, number):
    return f"/receivers/{example.receiver.code}/sites/{number}/"


def consent_of(example, number):
    return Site.objects.get(receiver=example.receiver, number=number).remote_update


def set_consent(example, number, value):
    Site.objects.filter(receiver=example.receiver, number=number).update(remote_update=value)


@pytest.fixture
def as_approver():
    return signed_in(operator(APPROVERS, username="anna"))


def test_the_site_page_shows_the_consent_and_only_a_manager_gets_the_form(example, as_engineer, as_manager):
    html = as_engineer.get(site_url(example, 1220)).content
    assert text_of(html, "remote-update-label") == "Allowed"
    assert find_all(html, "remote-update-form") == []

    html = as_manager.get(site_url(example, 1220)).content
    [form] = find_all(html, "remote-update-form")
    assert form["attrs"]["action"] == site_url(example, 1220) + "remote-update/"
    assert "An update already queued or under way goes on" in form["attrs"]["data-confirm"]


def test_a_manager_forbids_updates_at_a_site_from_its_page_and_it_turns_red_with_the_reason(example, as_manager,
                                                                                            manager):
    response = as_manager.post(site_url(example, 1220) + "remote-update/", {"remote_update": "forbidden"},
                               follow=True)
    assert response.redirect_chain[-1][0] == site_url(example, 1220)
    assert texts_of(response.content, "message") == ["Remote update at site 1220: forbidden."]
    assert consent_of(example, 1220) == "forbidden"
    assert text_of(response.content, "remote-update-label") == "Forbidden"
    assert text_of(response.content, "red-reason") == "Not eligible Site 1220: remote update not allowed at this site."
    assert LogEntry.objects.get(user=manager).change_message == "Remote update changed from allowed to forbidden."


def test_changing_the_consent_is_refused_to_an_engineer_and_a_bad_choice_is_said(example, as_engineer, as_manager):
    assert as_engineer.post(site_url(example, 1220) + "remote-update/", {"remote_update": "forbidden"}).status_code \
        == 403
    response = as_manager.post(site_url(example, 1220) + "remote-update/", {"remote_update": "never"}, follow=True)
    assert texts_of(response.content, "message") == [
        "Select a valid choice. never is not one of the available choices."]
    assert consent_of(example, 1220) == "allowed"


def test_the_device_type_page_counts_forbidding_sites_among_the_red_with_their_reason(example, as_viewer):
    set_consent(example, 1220, "forbidden")
    html = as_viewer.get(example.page).content
    assert text_of(html, "count-not-eligible") == "3"
    reasons = {r["attrs"]["data-code"]: r["text"] for r in find_all(html, "not-eligible-reason")}
    assert reasons == {"remote_update_forbidden": "1 remote update not allowed at this site",
                       "no_ip_channel": "1 no GPRS or Ethernet channel",
                       "hardware_not_supported": "1 hardware revision not supported"}
    [row] = [r for r in find_all(html, "site-row") if r["attrs"]["data-site"] == "1220"]
    assert row["attrs"]["data-badge"] == "red"
    assert "remote update not allowed at this site" in row["text"]
    # The receiver's tab says the same of the type's red.
    tab = as_viewer.get("/receivers/north/software-update/").content
    assert {r["attrs"]["data-code"]: r["text"] for r in find_all(tab, "not-eligible-reason")} == reasons


def test_an_approver_sees_approve_on_a_held_job_and_approving_queues_it(example, as_engineer, as_approver):
    set_consent(example, 1220, "approval")
    job = services.update_job_create(receiver=example.receiver, site_number=1220, actor=None)
    assert job.state == S.AWAITING_APPROVAL

    html = as_engineer.get(example.page).content
    assert find_all(html, "approve-form") == []
    assert text_of(html, "count-awaiting-approval") == "1"
    html = as_approver.get(example.page).content
    [button] = find_all(html, "approve-update")
    assert button["attrs"]["data-approve-question"] == ("Approve the update of site 1220 to 5.40? It is queued and "
                                                        "the panel is asked to connect.")
    assert len(find_all(html, "dialog-approve")) == 1
    [row] = [r for r in find_all(html, "site-row") if r["attrs"]["data-site"] == "1220"]
    assert row["attrs"]["data-badge"] == "yellow"
    assert "Awaiting approval" in row["text"]
    assert "the update waits until an operator allowed to approve approves it" in row["text"]

    assert as_engineer.post("/receivers/north/update-jobs/approve/", {"job": job.pk}).status_code == 403
    response = as_approver.post("/receivers/north/update-jobs/approve/", {"job": job.pk, "next": example.page},
                                follow=True)
    assert response.redirect_chain[-1][0] == example.page
    assert texts_of(response.content, "message") == [
        "Update of site 1220 approved: it is queued and the panel asked to connect."]
    assert UpdateJob.objects.get(pk=job.pk).state == S.QUEUED
    assert find_all(response.content, "approve-form") == []


def test_approving_a_job_no_longer_held_says_why(example, as_approver):
    response = as_approver.post("/receivers/north/update-jobs/approve/", {"job": example.jobs[1211].pk}, follow=True)
    assert texts_of(response.content, "message") == ["The update of Site 1211 is not awaiting approval (queued)."]
    assert UpdateJob.objects.get(pk=example.jobs[1211].pk).state == S.QUEUED


def test_the_site_page_offers_approve_and_cancel_on_a_held_job(example, as_approver, engineer):
    set_consent(example, 1220, "approval")
    services.update_job_create(receiver=example.receiver, site_number=1220, actor=engineer)
    html = as_approver.get(site_url(example, 1220)).content
    assert text_of(html, "job-state") == "Awaiting approval"
    assert len(find_all(html, "approve-form")) == 1
    html = signed_in(engineer).get(site_url(example, 1220)).content
    assert find_all(html, "approve-form") == [] and len(find_all(html, "cancel-update")) == 1


@pytest.mark.parametrize(("attributes", "partitions", "power", "hint"), [
    ({"power": "battery", "battery": "ok"}, [{"number": 1, "armed": False}], "On battery · battery ok",
     "Ready for installation; waits for mains power."),
    ({"power": "mains", "battery": "low"}, [{"number": 1, "armed": False}], "Mains · battery low",
     "Ready for installation; waits for the battery to charge."),
    ({"power": "battery", "battery": "low"}, [{"number": 1, "armed": True}], "On battery · battery low",
     "Ready for installation; waits until a partition is disarmed and for mains power and for the battery to "
     "charge."),
    ({"power": "mains", "battery": "ok"}, [{"number": 1, "armed": False}], "Mains · battery ok",
     "Ready for installation."),
    ({}, [{"number": 1, "armed": False}], "not reported", "Ready for installation."),
])
def test_a_ready_panel_says_what_it_waits_for_and_one_silent_on_power_is_not_held(example, as_viewer, attributes,
                                                                                  partitions, power, hint):
    """Issue 14: a panel installs only on mains power with its battery ok, as it installs only
    while a partition is disarmed; one that never reported its power is treated as before."""
    job = example.jobs[1214]
    UpdateJob.objects.filter(pk=job.pk).update(state=S.READY)
    Device.objects.filter(pk=job.device_id).update(attributes=attributes, partitions=partitions)
    html = as_viewer.get(site_url(example, 1214)).content
    assert text_of(html, "device-power") == power
    assert hint in html.decode()
    [row] = [r for r in find_all(as_viewer.get(example.page).content, "site-row") if r["attrs"]["data-site"] == "1214"]
    assert hint in row["text"]
