"""The seed's statistics, read the way an operator reads them: sign in, open the receiver,
the tab "Site software update", then the device type page; and what a viewer may not do."""

import re

import pytest
from playwright.sync_api import expect

from core.permissions import ENGINEERS, VIEWERS

from .conftest import operator
from .ui import counts, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.live]


SEED_COUNTS = {"total": "20", "outdated": "10", "red": "6", "yellow": "4", "green": "10",
               "not-eligible": "2", "offline": "1"}


def test_operator_signs_in_and_reads_the_seeds_nord_gsm_counts(page, example):
    sign_in(page, operator(VIEWERS, "vera"))
    page.get_by_test_id("nav-receivers").click()
    page.get_by_test_id("receiver-row").filter(has_text="North").get_by_role("link", name="North").click()
    page.get_by_test_id("tab-software-update").click()
    expect(page.get_by_test_id("tab-software-update")).to_have_attribute("aria-current", "page")

    row = page.get_by_test_id("stats-row").filter(has_text="Nord GSM")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("current-version")).to_have_text("5.40")
    assert counts(row) == SEED_COUNTS
    # The seed's colours: red not planned, yellow updating, green current.
    expect(row.locator(".badge-red")).to_contain_text("6 not planned")
    expect(row.locator(".badge-yellow")).to_contain_text("4 updating")
    expect(row.locator(".badge-green")).to_contain_text("10 current")

    row.get_by_test_id("update-device-type").click()
    expect(page).to_have_url(re.compile(r"/receivers/north/software-update/nord-gsm/$"))
    summary = page.get_by_test_id("summary")
    expect(summary.get_by_test_id("current-version")).to_have_text("5.40")
    assert counts(summary) == SEED_COUNTS
    badges = page.get_by_test_id("site-row").evaluate_all("rows => rows.map(r => r.dataset.badge)")
    assert (badges.count("green"), badges.count("yellow"), badges.count("red")) == (10, 4, 6)


def test_a_viewer_has_no_working_update_buttons(page, example):
    sign_in(page, operator(VIEWERS, "vera"))
    page.goto(example.page)
    for testid in ("open-queue-site", "open-update-all"):
        button = page.get_by_test_id(testid)
        expect(button).to_be_disabled()
        button.click(force=True)  # a disabled button does nothing, even when clicked
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.locator("dialog")).to_have_count(0)  # no forms on the page to open at all
    # Sites being updated show their progress, but no "Cancel update...".
    expect(page.get_by_test_id("job")).to_have_count(4)
    expect(page.get_by_test_id("cancel-update")).to_have_count(0)


def test_an_engineer_may_queue_and_cancel_but_not_update_all_sites(page, example):
    sign_in(page, operator(ENGINEERS, "erik"))
    page.goto(example.page)
    expect(page.get_by_test_id("open-queue-site")).to_be_enabled()
    expect(page.get_by_test_id("open-update-all")).to_be_disabled()
    # Queued, delivered and downloading can be cancelled; downloaded no longer.
    expect(page.get_by_test_id("cancel-update")).to_have_count(3)
