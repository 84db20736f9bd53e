"""Updating software on all sites (the seed): "Update software at all sites" → "Update all
sites" queues every outdated eligible site (here in one wave, chosen in the dialog's options);
the page shows the rollout's figures."""

import pytest
from playwright.sync_api import expect

from core.permissions import MANAGERS
from firmware_updates.models import JobState, Rollout, UpdateJob

from .conftest import operator
from .ui import counts, sign_in, site_row

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_update_all_sites_moves_red_to_yellow_and_shows_queued_and_skipped(page, example, eager_celery):
    sign_in(page, operator(MANAGERS, "maria"))
    page.goto(example.page)
    summary = page.get_by_test_id("summary")
    expect(page.get_by_test_id("rollout-panel")).to_have_count(0)
    expect(summary.get_by_test_id("count-red")).to_have_text("6")
    expect(summary.get_by_test_id("count-yellow")).to_have_text("4")

    page.get_by_test_id("open-update-all").click()
    dialog = page.get_by_test_id("dialog-update-all")
    expect(dialog).to_be_visible()
    # 6 red: 2 not eligible (no IP channel, board 1.0) stay; the other 4 are queued.
    expect(dialog.get_by_test_id("update-all-count")).to_have_text("4")
    dialog.get_by_text("Options", exact=True).click()
    dialog.get_by_label("Waves").fill("100")
    dialog.get_by_test_id("update-all-submit").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("message")).to_contain_text("Updating all sites")

    panel = page.get_by_test_id("rollout-panel")
    expect(panel).to_have_attribute("data-state", "running")
    expect(panel.get_by_test_id("rollout-status")).to_have_text("Running — wave 1 of 1")
    expect(panel.get_by_test_id("rollout-queued")).to_have_text("4")
    expect(panel.get_by_test_id("rollout-skipped")).to_have_text("16")
    reasons = panel.get_by_test_id("rollout-skipped-reasons")
    expect(reasons).to_contain_text("10 already current")
    expect(reasons).to_contain_text("4 already being updated")
    expect(reasons).to_contain_text("1 no GPRS or Ethernet channel")
    expect(reasons).to_contain_text("1 hardware revision not supported")
    expect(summary.get_by_test_id("count-yellow")).to_have_text("8")
    expect(summary.get_by_test_id("count-red")).to_have_text("2")
    # The offline site 1219 is queued too (it starts when it connects): no red one is offline now.
    assert counts(summary) == {"total": "20", "outdated": "10", "red": "2", "yellow": "8", "green": "10",
                               "not-eligible": "2", "offline": "0"}
    for number in (1217, 1218, 1219, 1220):
        expect(site_row(page, number)).to_have_attribute("data-badge", "yellow")
    for number in (1215, 1216):
        expect(site_row(page, number)).to_have_attribute("data-badge", "red")

    rollout = Rollout.objects.get()
    assert (rollout.state, rollout.queued, rollout.created_by.username) == (Rollout.State.RUNNING, 4, "maria")
    assert UpdateJob.objects.filter(state=JobState.QUEUED).count() == 5  # 1211 was queued before
