"""The panel on a 390 px phone and a 1366 px desktop, in Chromium, as a new engineer uses it:
no element runs off the screen (a wide list scrolls inside its own frame, or turns into
cards), every action can be reached and tapped, the header folds into a menu on the phone,
dialogs fit the screen, and what an account may not do is said in visible text. The manual's
story (queue one site, cancel it, update all sites) is walked on the phone.

Screenshots of both widths: with UPDATE_SCREENSHOTS=1 written to docs/ (commit them),
otherwise to the test's tmp_path.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.permissions import ENGINEERS, MANAGERS, VIEWERS

from .conftest import operator
from .showcase import seed_showcase
from .ui import assert_accessible, assert_fits, sign_in, site_row

pytestmark = [pytest.mark.browser, pytest.mark.live]
DOCS = Path(__file__).resolve().parents[2] / "docs"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
WIDTHS = {"phone": PHONE, "desktop": DESKTOP}
GSM = "/receivers/central/software-update/nord-gsm/"

def assert_reachable(page, locator, what: str) -> None:
    """Scrolled to (the page, or the frame holding it), inside the screen from side to side,
    and a tap would land on it (visible, enabled, not covered)."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    assert box and box["x"] >= -0.5 and box["x"] + box["width"] <= width + 0.5, f"{what} is off screen: {box}"
    locator.click(trial=True)


def assert_dialog_fits(page, dialog, what: str) -> None:
    expect(dialog).to_be_visible()
    box = dialog.bounding_box()
    size = page.viewport_size
    assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= size["width"] \
        and box["y"] + box["height"] <= size["height"], f"{what} does not fit the screen: {box}"


def open_page(page, path: str, kind: str) -> None:
    """A page of the main navigation, the way a user gets there: on the phone through the menu."""
    if kind == "phone":
        menu = page.get_by_test_id("menu-button")
        assert_reachable(page, menu, "the menu button")
        expect(page.get_by_test_id("nav-releases")).to_be_hidden()  # folded away until asked for
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
    link = page.get_by_test_id("nav-releases" if path == "/releases/" else "nav-receivers")
    assert_reachable(page, link, f"the {path} link")
    link.click()
    page.wait_for_url(f"**{path}")


@pytest.fixture
def central(eager_celery):
    manager = operator(MANAGERS, "maria")
    seed_showcase(manager=manager, engineer=operator(ENGINEERS, "erik"))
    return manager


@pytest.mark.parametrize("kind", WIDTHS)
def test_every_page_fits_the_screen_and_every_action_can_be_reached(page, central, kind, tmp_path):
    page.set_viewport_size(WIDTHS[kind])
    sign_in(page, central)
    open_page(page, "/receivers/", kind)
    assert_fits(page, "the receivers")
    assert_reachable(page, page.get_by_role("link", name="Open"), "Open (receiver)")

    page.goto("/receivers/central/software-update/")
    assert_fits(page, "the Site software update tab")
    for row in page.get_by_test_id("update-device-type").all():
        assert_reachable(page, row, "Update ...")
    for tab in ("tab-sites", "tab-unassigned"):
        assert_reachable(page, page.get_by_test_id(tab), tab)

    page.goto(GSM)
    assert_fits(page, "the device type page")
    if kind == "desktop":  # a desktop shows the whole list, nothing to scroll sideways in it
        assert page.get_by_test_id("site-list").evaluate("el => el.scrollWidth <= el.clientWidth")
    for testid in ("open-rollout-history", "open-queue-site", "open-update-all", "site-search", "filter-reason",
                   "filter-version", "filter-hardware", "filter-apply", "filter-clear", "filter-red", "sort-select",
                   "download-csv", "legend-link", "site-link", "cancel-update", "page-link"):
        assert_reachable(page, page.get_by_test_id(testid).first, testid)
    for control in page.get_by_test_id("rollout-controls").get_by_role("button").all():
        assert_reachable(page, control, "a rollout control")
    # The last row's actions too, not only the first's.
    assert_reachable(page, page.get_by_test_id("site-link").last, "the last row's site")

    # Dialogs fit the screen, their buttons within reach.
    page.get_by_test_id("open-queue-site").click()
    dialog = page.get_by_test_id("dialog-queue-site")
    assert_dialog_fits(page, dialog, "Update using site number")
    assert_reachable(page, dialog.get_by_test_id("queue-site-submit"), "Update")
    dialog.get_by_role("button", name="Close").first.click()
    page.get_by_test_id("open-update-all").click()
    dialog = page.get_by_test_id("dialog-update-all")
    dialog.locator("details.options > summary").click()  # every option shown: the longest it gets
    assert_dialog_fits(page, dialog, "Update software at all sites")
    assert_reachable(page, dialog.get_by_test_id("update-all-submit"), "Update all sites")
    dialog.get_by_role("button", name="Close").first.click()
    page.get_by_test_id("cancel-update").first.click()
    dialog = page.get_by_test_id("dialog-cancel")
    assert_dialog_fits(page, dialog, "Cancel update")
    assert_reachable(page, dialog.get_by_test_id("cancel-submit"), "Cancel update (confirm)")
    dialog.get_by_role("button", name="Close").first.click()
    folder = DOCS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=folder / f"screenshot-{kind}-device-type.png", animations="disabled")
    page.get_by_test_id("site-row").first.scroll_into_view_if_needed()
    page.screenshot(path=folder / f"screenshot-{kind}-sites.png", animations="disabled")

    page.get_by_test_id("site-link").first.click()
    page.wait_for_url("**/sites/**")
    assert_fits(page, "the site page")

    open_page(page, "/releases/", kind)
    assert_fits(page, "the releases")
    for testid in ("mark-current", "edit-notes", "archive-release"):
        assert_reachable(page, page.get_by_test_id(testid).last, testid)

    for path in ("/receivers/central/sites/", "/receivers/central/panels-without-site/",
                 "/receivers/central/software-update/nord-gsm/rollouts/"):
        page.goto(path)
        assert_fits(page, path)
    page.goto("/receivers/central/sites/")
    assert_reachable(page, page.get_by_test_id("site-row").last.get_by_role("link"), "the last site")


def test_the_phones_header_is_a_menu_and_the_lists_are_cards(page, central, tmp_path):
    page.set_viewport_size(PHONE)
    sign_in(page, central)
    page.goto(GSM)
    header = page.locator("header.topbar")
    assert header.bounding_box()["height"] <= 60  # one line: brand and menu button
    menu = page.get_by_test_id("menu-button")
    menu.click()
    for testid in ("nav-receivers", "nav-releases", "language-en", "language-ru", "user-menu"):
        assert_reachable(page, page.get_by_test_id(testid), testid)
    folder = DOCS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=folder / "screenshot-phone-menu.png", animations="disabled")
    menu.click()
    expect(page.get_by_test_id("nav-releases")).to_be_hidden()

    # Each row a card: its cells stacked under their own headings, none beside the screen.
    row = page.get_by_test_id("site-row").first
    cells = row.locator("td[data-label]")
    assert cells.count() >= 8
    for cell in cells.all():
        box = cell.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert row.locator("td[data-label=Status]").evaluate("td => getComputedStyle(td, '::before').content") \
        == '"Status"'
    assert_accessible(page, "the device type page, phone and desktop")


def test_what_an_account_may_not_do_is_said_in_visible_text(page, central):
    viewer = operator(VIEWERS, "vera")
    page.set_viewport_size(PHONE)
    sign_in(page, viewer)
    page.goto(GSM)
    note = page.get_by_test_id("permission-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Your account may not queue sites for update (the engineers group may).")
    expect(note).to_contain_text("Your account may not start rollouts (the managers group may).")
    button = page.get_by_test_id("open-update-all")
    expect(button).to_be_disabled()
    expect(button).to_have_attribute("aria-describedby", "permission-note")
    page.get_by_test_id("site-link").first.click()
    expect(page.get_by_test_id("permission-note")).to_contain_text("Your account may not cancel updates")
    page.goto("/releases/")
    expect(page.get_by_test_id("permission-note")).to_contain_text("Your account may not upload releases")


def test_the_manuals_story_on_a_phone(page, central):
    """Update using site number, watch it queued, cancel it, then update all sites: all by touch
    at 390 px."""
    page.set_viewport_size(PHONE)
    sign_in(page, central)
    page.goto("/receivers/central/software-update/")
    page.get_by_test_id("stats-row").filter(has_text="Nord Pro").get_by_test_id("update-device-type").click()
    page.wait_for_url("**/nord-pro/")
    page.get_by_test_id("filter-reason").select_option("not_queued")
    expect(page.get_by_test_id("match-count")).to_be_visible()
    number = int(page.get_by_test_id("site-row").first.get_attribute("data-site"))

    page.get_by_test_id("open-queue-site").click()
    dialog = page.get_by_test_id("dialog-queue-site")
    dialog.get_by_label("Site number").fill(str(number))
    dialog.get_by_test_id("queue-site-submit").click()
    expect(dialog).to_be_hidden()
    page.get_by_test_id("filter-clear").click()
    page.get_by_test_id("site-search").fill(str(number))
    row = site_row(page, number)
    expect(row).to_have_attribute("data-badge", "yellow")

    cancel = row.get_by_test_id("cancel-update")
    assert_reachable(page, cancel, "Cancel update...")
    cancel.click()
    page.get_by_test_id("dialog-cancel").get_by_test_id("cancel-submit").click()
    expect(site_row(page, number)).to_have_attribute("data-badge", "red")
    expect(site_row(page, number).get_by_test_id("red-reason")).to_have_text(
        "Last update was cancelled before any byte was received.")

    page.get_by_test_id("open-update-all").click()
    dialog = page.get_by_test_id("dialog-update-all")
    submit = dialog.get_by_test_id("update-all-submit")
    assert_reachable(page, submit, "Update all sites")
    submit.click()
    expect(page.get_by_test_id("rollout-panel")).to_be_visible()
    assert_fits(page, "the page with its rollout card")
