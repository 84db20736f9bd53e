"""Release safety, over real HTTP: marking an older release current warns of the downgrade and
says how many sites on which receivers turn outdated; releases carry notes; an archived release
is offered no more (never current, never chosen) and kept for its history.

Nord GSM 5.30, 5.40 (current) and 5.50; receiver north has three sites on 5.40 and one on 5.30,
receiver south two on 5.40.
"""

import pytest

from core.permissions import ENGINEERS, MANAGERS
from firmware_updates.models import Release, UpdateJob
from tests.api.test_live_http import Api, login
from tests.factories import DeviceFactory, DeviceTypeFactory, ReceiverFactory, ReleaseFactory

from .conftest import operator
from .html import find_all, text_of, texts_of
from .live import PanelBrowser

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def releases(live_server):
    nord = DeviceTypeFactory(code="nord-gsm", name="Nord GSM")
    north = ReceiverFactory(code="north", name="North")
    south = ReceiverFactory(code="south", name="South")
    for number, receiver, version in [(1, north, "5.40"), (2, north, "5.40"), (3, north, "5.40"),
                                      (4, north, "5.30"), (1, south, "5.40"), (2, south, "5.40")]:
        DeviceFactory(site__receiver=receiver, site__number=number, device_type=nord, firmware_version=version)
    return {version: ReleaseFactory(device_type=nord, version=version, is_current=version == "5.40")
            for version in ("5.30", "5.40", "5.50")}


@pytest.fixture
def manager_browser(live_server, plain_http):
    operator(MANAGERS, username="maria")
    return PanelBrowser(live_server.url).sign_in("maria")


def current_version() -> str:
    return Release.objects.get(is_current=True).version


def post(browser: PanelBrowser, path: str, data: dict | None = None):
    """A form posted as the page's browser does (its CSRF token from the page)."""
    import re
    import urllib.parse
    import urllib.request

    page = browser.get("/releases/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **(data or {})}).encode()
    request = urllib.request.Request(browser.base_url + path, data=body,
                                     headers={"Referer": browser.base_url + "/releases/"})
    try:
        return browser.opener.open(request, timeout=30)
    except urllib.error.HTTPError as answer:  # 302 back to the list, or a refusal
        return answer


def test_an_older_release_asks_first_saying_which_receivers_turn_outdated(releases, manager_browser):
    html = manager_browser.html("/releases/")
    buttons = {b["text"]: b["attrs"] for b in find_all(html, "mark-current")}
    assert buttons["Mark current (downgrade)..."]["href"] == f"/releases/{releases['5.30'].pk}/mark-current/"
    assert "Mark current" in buttons  # 5.50: newer, the list's own confirmation

    page = manager_browser.html(f"/releases/{releases['5.30'].pk}/mark-current/")
    assert text_of(page, "downgrade-warning").startswith(
        "Downgrade: 5.30 is older than the current version 5.40")
    assert text_of(page, "downgrade-impact") == (
        '5 sites run 5.40 and turn outdated (red, "would downgrade": panels are never moved back): North 3, South 2.')
    assert texts_of(page, "downgrade-receivers") == ["North: 3 sites South: 2 sites"]
    assert text_of(page, "mark-current-confirm") == "Downgrade to 5.30"
    assert current_version() == "5.40"  # asking changed nothing


def test_a_downgrade_is_marked_only_once_confirmed(releases, manager_browser):
    path = f"/releases/{releases['5.30'].pk}/mark-current/"
    refused = post(manager_browser, path)  # the list's button without the confirmation: asked again
    assert refused.status == 200 and current_version() == "5.40"
    assert "Downgrade: 5.30 is older" in refused.read().decode()
    done = post(manager_browser, path, {"confirm_downgrade": "1"})
    assert done.status == 302 and current_version() == "5.30"


def test_a_newer_release_is_marked_at_once(releases, manager_browser):
    answer = post(manager_browser, f"/releases/{releases['5.50'].pk}/mark-current/")
    assert answer.status == 302 and current_version() == "5.50"


def test_notes_are_written_and_shown_with_the_release(releases, manager_browser):
    form = manager_browser.html(f"/releases/{releases['5.50'].pk}/notes/")
    assert find_all(form, "release-notes-form")
    post(manager_browser, f"/releases/{releases['5.50'].pk}/notes/", {"notes": "Fixes GPRS roaming.\nWatch the battery."})
    html = manager_browser.html("/releases/")
    assert texts_of(html, "release-notes") == ["Fixes GPRS roaming.Watch the battery."]


def test_an_archived_release_is_offered_no_more_and_kept_for_history(releases, manager_browser, live_server):
    old = releases["5.30"]
    job = UpdateJob.objects.create(device=DeviceFactory(site__receiver=ReceiverFactory(code="north"),
                                                        site__number=9, device_type=old.device_type),
                                   release=old, state="failed")
    assert post(manager_browser, f"/releases/{old.pk}/archive/").status == 302
    html = manager_browser.html("/releases/")
    assert [r["attrs"]["data-version"] for r in find_all(html, "release-row")] == ["5.50", "5.40"]
    assert [r["attrs"]["data-version"] for r in find_all(html, "archived-release")] == ["5.30"]
    assert UpdateJob.objects.get(pk=job.pk).release == old  # its history keeps it

    # Not marked current, not chosen for an update.
    post(manager_browser, f"/releases/{old.pk}/mark-current/", {"confirm_downgrade": "1"})
    assert current_version() == "5.40"
    operator(ENGINEERS, username="erik")
    api = Api(live_server.url)
    login(api, "erik")
    status, body = api.call("POST", "update-jobs/", {"receiver": "north", "site_number": 4, "release": old.pk})
    assert (status, body["code"]) == (409, "release_archived")
    assert body["detail"] == "Nord GSM 5.30 is archived: restore it before offering it to panels."

    assert post(manager_browser, f"/releases/{old.pk}/restore/").status == 302
    html = manager_browser.html("/releases/")
    assert [r["attrs"]["data-version"] for r in find_all(html, "release-row")] == ["5.50", "5.40", "5.30"]


def test_the_current_release_cannot_be_archived(releases, manager_browser):
    html = manager_browser.html("/releases/")
    assert len(find_all(html, "archive-release")) == 2  # not offered for the current one
    post(manager_browser, f"/releases/{releases['5.40'].pk}/archive/")
    assert not Release.objects.get(version="5.40").is_archived
    assert "is the current version: mark another release current before archiving it." in \
        manager_browser.html("/releases/")


def test_the_api_asks_for_a_confirmed_downgrade_and_archives(releases, live_server):
    operator(MANAGERS, username="maria")
    api = Api(live_server.url)
    login(api, "maria")
    old = releases["5.30"]
    status, body = api.call("POST", f"releases/{old.pk}/mark-current/")
    assert (status, body["code"]) == (409, "downgrade_not_confirmed")
    assert body["detail"] == (
        'Nord GSM 5.30 is older than the current version 5.40: 5 sites run 5.40 and turn outdated (red, "would '
        'downgrade": panels are never moved back): North 3, South 2. Confirm the downgrade to mark it current anyway.')
    status, body = api.call("POST", f"releases/{old.pk}/mark-current/", {"confirm_downgrade": True})
    assert status == 200 and body["is_current"] is True
    status, body = api.call("POST", f"releases/{releases['5.50'].pk}/archive/")
    assert status == 200 and body["archived"] is True and body["archived_at"]
    status, body = api.call("GET", "releases/?archived=false")
    assert [r["version"] for r in body["results"]] == ["5.40", "5.30"]
    status, body = api.call("PATCH", f"releases/{old.pk}/", {"notes": "Back to 5.30 until 5.50 is fixed."})
    assert status == 200 and body["notes"] == "Back to 5.30 until 5.50 is fixed."
    status, body = api.call("POST", f"releases/{old.pk}/archive/")
    assert (status, body["code"]) == (409, "release_is_current")
