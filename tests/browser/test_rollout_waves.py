"""Updating software on all sites in waves, as an operator sees it: the dialog shows the waves,
the canary's panel fails, the card says by itself that the rollout paused and why; the
operator resumes it, then stops it, and the history page tells the story. The pages pass
axe-core's WCAG 2.1 AA checks at desktop and phone widths."""

import re

import pytest
from playwright.sync_api import expect

from core.permissions import MANAGERS
from firmware_updates import services
from firmware_updates.models import JobState, Rollout, UpdateJob

from .conftest import operator
from .ui import assert_accessible, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.live]
CANARY_FAILED = "Wave 1 ended with 0 of 1 updates confirmed (90 % required)."


def confirm(page, panel, action: str, question: str):
    """The card's button, then the confirmation dialog's; returns the dialog."""
    panel.get_by_test_id(f"rollout-{action}").click()
    dialog = page.get_by_test_id("dialog-rollout-control")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("rollout-control-question")).to_have_text(re.compile(re.escape(question)))
    dialog.get_by_test_id("rollout-control-submit").click()
    return dialog


def test_a_staged_rollout_pauses_by_itself_when_the_canary_fails_then_is_resumed_and_stopped(
        page, example, eager_celery):
    sign_in(page, operator(MANAGERS, "maria"))
    page.goto(example.page)
    page.evaluate("window.notReloaded = true")  # gone if anything reloads the page

    page.get_by_test_id("open-update-all").click()
    dialog = page.get_by_test_id("dialog-update-all")
    expect(dialog.get_by_test_id("update-all-waves")).to_have_text(
        "Wave 1 (canary): 1 site, wave 2: the remaining 3.")
    options = dialog.get_by_test_id("update-all-options")
    expect(options.get_by_label("Waves")).to_be_hidden()  # closed until asked for
    dialog.get_by_test_id("update-all-submit").click()  # one click: the default waves
    expect(dialog).to_be_hidden()

    panel = page.get_by_test_id("rollout-panel")
    status = panel.get_by_test_id("rollout-status")
    expect(status).to_have_text("Running — wave 1 of 2")
    rollout = Rollout.objects.get()
    canary = UpdateJob.objects.get(rollout=rollout, wave__number=1)
    expect(panel.locator('[data-testid="rollout-wave"][data-wave="1"]')).to_contain_text("Running")

    # The canary's panel reports a failure, as a device report would; the page refreshes itself.
    services.job_transition(job_id=canary.pk, to_state=JobState.FAILED, actor=services.ACTOR_DEVICE,
                            reason="No suitable .swu image found")
    expect(status).to_have_text(f"Paused — {CANARY_FAILED}")
    expect(panel.get_by_test_id("rollout-state")).to_have_text("Paused")
    expect(panel.locator('[data-testid="rollout-wave"][data-wave="1"]')).to_contain_text("Failed")
    assert_accessible(page, "device type page with a paused rollout")

    confirm(page, panel, "resume", f"Resume rollout #{rollout.pk}?")
    expect(page.get_by_test_id("dialog-rollout-control")).to_be_hidden()
    expect(page.get_by_test_id("message")).to_have_text(f"Rollout #{rollout.pk} resumed: wave 2 is running.")
    expect(status).to_have_text("Running — wave 2 of 2")
    expect(panel.get_by_test_id("rollout-queued")).to_have_text("4")

    # Another manager pauses it while this one confirms "Pause": the dialog says why not.
    panel.get_by_test_id("rollout-pause").click()
    control = page.get_by_test_id("dialog-rollout-control")
    expect(control.get_by_test_id("rollout-control-submit")).to_have_text("Pause")
    services.rollout_pause(rollout=rollout, actor=operator(MANAGERS, "olga"))
    control.get_by_test_id("rollout-control-submit").click()
    expect(control.get_by_test_id("rollout-control-error")).to_have_text(
        f"Rollout #{rollout.pk} is not running (paused).")
    expect(control).to_be_visible()
    control.get_by_role("button", name="Close", exact=True).last.click()
    expect(control).to_be_hidden()
    expect(status).to_have_text("Paused — Paused by olga.")

    dialog = confirm(page, panel, "stop", f"Stop rollout #{rollout.pk}?")
    expect(dialog).to_be_hidden()
    expect(status).to_have_text("Stopped")
    # Ended with a failed site: what is left to ask is a retry of it.
    expect(panel.get_by_test_id("rollout-controls")).to_have_text("Retry failed sites...")
    assert page.evaluate("window.notReloaded") is True
    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.STOPPED

    panel.get_by_test_id("rollout-history-link").click()
    expect(page).to_have_url(re.compile(r"/software-update/nord-gsm/rollouts/$"))
    record = page.get_by_test_id("history-rollout")
    expect(record).to_have_count(1)
    expect(record.get_by_test_id("rollout-status")).to_have_text("Stopped")
    events = record.get_by_test_id("history-event")
    expect(events).to_have_count(7)
    lines = [" ".join(text.split()) for text in events.all_inner_texts()]
    said = [line.split(" ", 3)[3] for line in lines]  # without the date, the time and its zone
    assert said == [
        "maria Started: version 5.40, 4 sites to update in 2 waves.",
        "system Wave 1 started (1 site).",
        f"system Paused by itself: {CANARY_FAILED}",
        "maria Resumed (wave 1).",
        "maria Wave 2 started (3 sites).",
        "olga Paused.",
        "maria Stopped; 3 updates cancelled.",
    ]
    expect(record.get_by_test_id("history-ended")).not_to_have_text("not yet")
    assert_accessible(page, "rollout history page")
