"""Issue 14 in the browser: a manager forbids remote updates at a site from its page (after a
confirmation) and sees it red with the reason; an approver approves a held job from the
device type page (after a confirmation). Both pages pass axe-core's WCAG 2.1 AA checks, and
status is never told by colour alone (the words are on the page)."""

import pytest
from playwright.sync_api import expect

from core.permissions import APPROVERS, MANAGERS
from firmware_updates import services
from firmware_updates.models import JobState, UpdateJob
from sites.models import Site

from .conftest import operator
from .ui import assert_accessible, sign_in, site_row

pytestmark = [pytest.mark.browser, pytest.mark.live]


def settled(page) -> None:
    """Every animation on the page finished (a message fades in): axe-core measures contrast
    on the colours it sees, half-faded ones included."""
    page.evaluate("Promise.all(document.getAnimations().map(a => a.finished))")


def test_a_manager_forbids_updates_at_a_site_after_confirming(page, example):
    sign_in(page, operator(MANAGERS, "maria"))
    page.goto(f"/receivers/{example.receiver.code}/sites/1220/")
    consent = page.get_by_test_id("remote-update")
    expect(consent.get_by_test_id("remote-update-label")).to_have_text("Allowed")
    assert_accessible(page, "site page with its consent")

    consent.get_by_label("Remote update").select_option("forbidden")
    consent.get_by_test_id("remote-update-submit").click()
    confirm = page.get_by_test_id("dialog-confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("Change whether site 1220 may be updated remotely?")
    assert Site.objects.get(receiver=example.receiver, number=1220).remote_update == "allowed"  # not yet
    confirm.get_by_test_id("confirm-ok").click()

    expect(page.get_by_test_id("message")).to_have_text("Remote update at site 1220: forbidden.")
    expect(page.get_by_test_id("remote-update-label")).to_have_text("Forbidden")
    expect(page.get_by_test_id("red-reason")).to_have_text(
        "Not eligible Site 1220: remote update not allowed at this site.")
    settled(page)
    assert_accessible(page, "site page of a forbidding site")

    page.goto(example.page)
    expect(site_row(page, 1220).get_by_test_id("red-reason")).to_contain_text(
        "remote update not allowed at this site")
    expect(page.locator('[data-testid="not-eligible-reason"][data-code="remote_update_forbidden"]')).to_have_text(
        "1 remote update not allowed at this site")


def test_an_approver_approves_a_held_job_from_the_device_type_page(page, example):
    Site.objects.filter(receiver=example.receiver, number=1220).update(remote_update="approval")
    job = services.update_job_create(receiver=example.receiver, site_number=1220, actor=None)
    sign_in(page, operator(APPROVERS, "anna"))  # approvers see what viewers see, and approve
    page.goto(example.page)
    row = site_row(page, 1220)
    expect(row).to_have_attribute("data-badge", "yellow")
    expect(row.get_by_test_id("job-state")).to_have_text("Awaiting approval")
    expect(page.get_by_test_id("count-awaiting-approval")).to_have_text("1")
    assert_accessible(page, "device type page with a job awaiting approval")

    row.get_by_test_id("approve-update").click()
    dialog = page.get_by_test_id("dialog-approve")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Approve the update of site 1220 to 5.40?")
    assert_accessible(page, "the approval dialog")
    dialog.get_by_test_id("approve-submit").click()

    expect(page.get_by_test_id("message")).to_have_text(
        "Update of site 1220 approved: it is queued and the panel asked to connect.")
    expect(site_row(page, 1220).get_by_test_id("job-state")).to_have_text("Queued")
    expect(site_row(page, 1220).get_by_test_id("approve-update")).to_have_count(0)
    assert UpdateJob.objects.get(pk=job.pk).state == JobState.QUEUED
