"""What the tests look at on the panel's pages, by the data-testid attributes the templates set."""

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from .conftest import VIEWPORT

PASSWORD = "correct horse battery"  # tests.factories.UserFactory's
COUNTS = ("total", "outdated", "red", "yellow", "green", "not-eligible", "offline")
PHONE = {"width": 390, "height": 844}
# axe-core's rules for WCAG 2.1 level AA (its tags; best practices are not asked for).
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def sign_in(page, user) -> None:
    """Through the login page, as an operator does."""
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("user-menu")).to_contain_text(user.username)


def counts(scope) -> dict[str, str]:
    """The figures of a statistics row or of the device type page's summary."""
    return {name: scope.get_by_test_id(f"count-{name}").inner_text().strip() for name in COUNTS}


def site_row(page, number: int):
    return page.locator(f'[data-testid="site-row"][data-site="{number}"]')


def summary_count(page, name: str):
    return page.get_by_test_id("summary").get_by_test_id(f"count-{name}")


def queue_site(page, number) -> None:
    """"Update using site number..." → type the number → "Update"."""
    page.get_by_test_id("open-queue-site").click()
    dialog = page.get_by_test_id("dialog-queue-site")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Site number").fill(str(number))
    dialog.get_by_test_id("queue-site-submit").click()


def open_cancel_dialog(page, number: int):
    """"Cancel update..." on the site's row; returns the dialog."""
    site_row(page, number).get_by_test_id("cancel-update").click()
    dialog = page.get_by_test_id("dialog-cancel")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Stop the update of site {number}?")
    return dialog


def assert_accessible(page, what: str) -> None:
    """axe-core (the copy axe-playwright-python ships) finds no WCAG 2.1 AA violation on the
    page as it is now, at desktop and at phone width; the viewport is put back after."""
    axe = Axe()
    options = {"runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations"]}
    # The page as the operator reads it: a message still fading in (.flash, a quarter of a
    # second) is checked once its colours are its own.
    page.wait_for_function("document.getAnimations().every(a => a.playState !== 'running'"
                           " || a.effect.getComputedTiming().iterations === Infinity)")
    try:
        for viewport in (VIEWPORT, PHONE):
            page.set_viewport_size(viewport)
            results = axe.run(page, options=options)
            assert results.violations_count == 0, (
                f"{what}, {viewport['width']} px wide:\n{results.generate_report()}")
    finally:
        page.set_viewport_size(VIEWPORT)


# Elements that run past the viewport's sides, unless a scrolling frame that fits holds them
# (what a finger scrolls sideways is the frame, not the page).
OFF_SCREEN = """() => {
  const width = document.documentElement.clientWidth, out = [];
  const framed = el => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (/(auto|scroll|hidden|clip)/.test(getComputedStyle(p).overflowX)) {
        const r = p.getBoundingClientRect();
        if (r.left >= -0.5 && r.right <= width + 0.5) return true;
      }
    }
    return false;
  };
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(el).visibility === "hidden") continue;
    if ((r.right > width + 0.5 || r.left < -0.5) && !framed(el))
      out.push(`${el.tagName.toLowerCase()}.${el.className} [${Math.round(r.left)}, ${Math.round(r.right)}]`);
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, out: out.slice(0, 10)};
}"""


def assert_fits(page, what: str) -> None:
    found = page.evaluate(OFF_SCREEN)
    assert found["scrollWidth"] <= found["width"] and not found["out"], f"{what} runs off the screen: {found}"
