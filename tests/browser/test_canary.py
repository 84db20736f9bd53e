"""Updating software on a selected site (the seed's canary): "Update using site number..." →
type the number → "Update"; the site turns yellow, and once its panel has updated, green,
without the operator reloading the page."""

import pytest
from playwright.sync_api import expect

from core.permissions import ENGINEERS
from firmware_updates.models import JobState, UpdateJob

from .conftest import operator
from .panels import PANEL_FIELDS, SERIAL, live_fleet, panel_spec
from .ui import queue_site, sign_in, site_row, summary_count

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_canary_site_turns_yellow_then_green_by_itself_as_its_panel_updates(page, north):
    engineer = operator(ENGINEERS, "erik")
    with live_fleet(north, [panel_spec(north, **PANEL_FIELDS)]) as fleet:
        sign_in(page, engineer)
        page.goto(north.page)
        page.evaluate("window.notReloaded = true")  # gone if anything reloads the page
        row = site_row(page, 101)
        expect(row).to_have_attribute("data-badge", "red")
        expect(summary_count(page, "green")).to_have_text("2")
        expect(summary_count(page, "red")).to_have_text("2")

        queue_site(page, 101)
        expect(page.get_by_test_id("dialog-queue-site")).to_be_hidden()
        expect(page.get_by_test_id("message")).to_have_text("Site 101 added to the update queue")
        expect(row).to_have_attribute("data-badge", "yellow")
        expect(row.get_by_test_id("job")).to_be_visible()
        expect(summary_count(page, "yellow")).to_have_text("1")
        expect(summary_count(page, "red")).to_have_text("1")

        # The panel is woken, downloads, checks, installs on its disarmed partition, reboots
        # and reports 5.40; the page's own polling shows it.
        expect(row).to_have_attribute("data-badge", "green", timeout=45_000)
        expect(row.get_by_test_id("firmware-version")).to_have_text("5.40")
        expect(summary_count(page, "green")).to_have_text("3")
        expect(summary_count(page, "yellow")).to_have_text("0")
        expect(summary_count(page, "red")).to_have_text("1")
        assert page.evaluate("window.notReloaded") is True
        assert fleet.panel(SERIAL).firmware_version == "5.40"
    job = UpdateJob.objects.get(device__serial=SERIAL)
    assert (job.state, job.created_by) == (JobState.SUCCEEDED, engineer)
    assert job.wakeup_sent_at is not None


def test_canary_refused_for_a_site_without_gprs_or_ethernet_says_why_in_the_dialog(page, example):
    sign_in(page, operator(ENGINEERS, "erik"))
    page.goto(example.page)
    queue_site(page, 1215)
    dialog = page.get_by_test_id("dialog-queue-site")
    expect(dialog.get_by_test_id("queue-site-error")).to_have_text("Site 1215 has no GPRS or Ethernet channel.")
    expect(dialog).to_be_visible()
    expect(site_row(page, 1215)).to_have_attribute("data-badge", "red")
    assert not UpdateJob.objects.filter(device__site__number=1215).exists()
