"""Debian's headless Chromium, driven by Playwright, against pytest-django's live server.

Playwright's sync API runs its event loop in greenlets of the test thread, so while Playwright
is started asyncio sees a running loop in that thread and Django refuses ORM calls there
(SynchronousOnlyOperation). These tests seed rows, call services and read jobs between browser
steps, so the package-scoped `browser` sets DJANGO_ALLOW_ASYNC_UNSAFE for exactly as long as
Playwright runs and restores it when it stops: every other test keeps Django's check.
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from tests.ddi.conftest import build_fleet, signing_identity  # noqa: F401 - fixture
from tests.factories import UserFactory
from tests.fleet.conftest import add_panel
from tests.panel.conftest import example  # noqa: F401 - fixture: the seed's 20 Nord GSM

CHROMIUM = Path("/usr/bin/chromium")
# Exactly these flags: no sandbox (root in CI containers), no GPU, and nothing that phones home.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 900}
TIMEOUT_MS = 10_000  # any single step; flows that wait for panels pass their own
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@pytest.fixture(scope="package")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. Install it with "
                    "`apt-get install chromium` (scripts/ensure-test-deps.sh does so in `make test`); "
                    "never `playwright install`.", pytrace=False)
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("The browser tests need Playwright for Python: pip install -e '.[dev]'.", pytrace=False)
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            expect.set_options(timeout=TIMEOUT_MS)
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


class PageErrors(list):
    """Console errors and uncaught exceptions of a test's page; `reported` of them failed it."""

    reported = 0

    def report(self) -> None:
        fresh, self.reported = self[self.reported:], len(self)
        if fresh:
            pytest.fail("The page logged errors:\n" + "\n".join(fresh), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Errors the page logged fail the test itself (not only its teardown)."""
    result = yield
    errors = getattr(item, "page_errors", None)
    if errors is not None:
        errors.report()
    return result


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.browser_call_failed = report.failed
    return report


@pytest.fixture
def page(browser, transactional_db, live_server, request, tmp_path):
    """A fresh browser context on the live server. Any console error or uncaught exception of
    the page fails the test; a failed test leaves a screenshot in its tmp_path."""
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors = request.node.page_errors = PageErrors()
    page.on("console", lambda msg: errors.append(f"console error: {msg.text} at {msg.location.get('url')}")
            if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught exception: {exc}"))
    yield page
    try:
        if getattr(request.node, "browser_call_failed", False):
            shot = tmp_path / "failure.png"
            page.screenshot(path=shot, full_page=True)
            print(f"screenshot of the failure: {shot}")
    finally:
        context.close()
    errors.report()  # what the page logged after the test's last step


def operator(group: str | None, username: str):
    user = UserFactory(username=username)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def north(transactional_db, live_server, settings, signing_identity, tmp_path, eager_celery):  # noqa: F811
    """Receiver `north`: Nord GSM 5.40 signed and current; site 101 (panel NG00000001, 5.30,
    GPRS) for fleetsim; sites 102-103 already current and 104 outdated, never connected."""
    settings.DDI_ACTIVE_POLL_SLEEP = "00:00:01"
    settings.DOWNLOAD_PROGRESS_WRITE_INTERVAL = 0.05
    world = build_fleet(settings, signing_identity, tmp_path, live_server.url)
    world.receiver.poll_sleep = timedelta(seconds=4)
    world.receiver.save()
    world.cert_pem = signing_identity[1]
    add_panel(world, 102, "NG00000102", firmware_version="5.40")
    add_panel(world, 103, "NG00000103", firmware_version="5.40")
    add_panel(world, 104, "NG00000104")
    world.page = "/receivers/north/software-update/nord-gsm/"
    return world
