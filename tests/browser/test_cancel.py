"""Update process stopping (the seed): "Cancel update..." and confirm. Allowed until the
device has downloaded the whole file; after that the dialog says why not."""

import pytest
from playwright.sync_api import expect

from core.permissions import ENGINEERS
from firmware_updates import services
from firmware_updates.models import JobState, UpdateJob

from .conftest import operator
from .panels import PANEL_FIELDS, SERIAL, live_fleet, panel_spec
from .ui import open_cancel_dialog, sign_in, site_row, summary_count

pytestmark = [pytest.mark.browser, pytest.mark.live]
ALL_ARMED = [{"number": 1, "armed": True}, {"number": 2, "armed": True}]


def test_cancelling_a_queued_site_after_confirming_turns_it_red(page, example):
    sign_in(page, operator(ENGINEERS, "erik"))
    page.goto(example.page)
    expect(site_row(page, 1211)).to_have_attribute("data-badge", "yellow")

    dialog = open_cancel_dialog(page, 1211)
    dialog.get_by_test_id("cancel-submit").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("message")).to_have_text("Update of site 1211 cancelled.")
    row = site_row(page, 1211)
    expect(row).to_have_attribute("data-badge", "red")
    expect(row.get_by_test_id("red-reason")).to_have_text("Last update was cancelled before any byte was received.")
    expect(summary_count(page, "yellow")).to_have_text("3")
    expect(summary_count(page, "red")).to_have_text("7")
    assert UpdateJob.objects.get(pk=example.jobs[1211].pk).state == JobState.CANCELLED


def test_cancel_refused_once_the_panel_has_downloaded_then_the_update_finishes(page, north):
    """The operator opens the dialog while the site is queued; before they confirm, the panel
    downloads the whole file (and waits: every partition is armed)."""
    engineer = operator(ENGINEERS, "erik")
    job = services.update_job_create(receiver=north.receiver, site_number=101, actor=engineer)
    sign_in(page, engineer)
    page.goto(north.page)
    dialog = open_cancel_dialog(page, 101)

    spec = panel_spec(north, partitions=ALL_ARMED, **PANEL_FIELDS)
    with live_fleet(north, [spec]) as fleet:
        fleet.wait_until(lambda: UpdateJob.objects.get(pk=job.pk).state == JobState.READY, timeout=30,
                         what="the panel has the file and waits for a disarmed partition")
        dialog.get_by_test_id("cancel-submit").click()
        expect(dialog.get_by_test_id("cancel-error")).to_have_text(
            "The device has already downloaded the update; it can no longer be cancelled.")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Keep updating").click()
        expect(dialog).to_be_hidden()

        row = site_row(page, 101)
        expect(row.get_by_test_id("job-state")).to_have_text("Ready for installation")
        expect(row).to_contain_text("waits until a partition is disarmed")
        expect(row).to_contain_text("Downloaded: cannot be cancelled")
        expect(row.get_by_test_id("cancel-update")).to_have_count(0)

        fleet.set_partition(SERIAL, 2, armed=False)  # someone disarms: the panel installs
        expect(row).to_have_attribute("data-badge", "green", timeout=45_000)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED
    assert not job.events.filter(to_state__in=[JobState.CANCELLING, JobState.CANCELLED]).exists()
