"""The manual's whole story, as a new operator does it: in Russian on a phone, in English on
a desktop. Sign in, open the receiver's "Site software update" tab, the device type's page,
update one site by its number and watch it turn green, update all sites, cancel one site's
update, read the site's history (the panel's raw report one click away), the rollouts' history,
upload an archive that is refused (corrupted), ask to mark an older release current (the
downgrade's question), look in the admin, switch language.

Every Russian page the operator meets is checked for English words (tests/panel/russian.py);
every page for WCAG 2.1 AA, and for nothing running off the screen at the story's width.
With UPDATE_SCREENSHOTS=1 the pictures go to docs/.
"""

import io
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.models import OperatorPreferences
from core.permissions import MANAGERS
from firmware_updates.models import JobState, UpdateJob
from firmware_updates.swu import build_archive
from receivers.models import Receiver
from tests.factories import ReleaseFactory
from tests.panel.russian import english_words

from .conftest import TIMEOUT_MS, PageErrors, operator
from .panels import PANEL_FIELDS, SERIAL, live_fleet, panel_spec
from .ui import PASSWORD, PHONE, assert_accessible, assert_fits, site_row

pytestmark = [pytest.mark.browser, pytest.mark.live]
DOCS = Path(__file__).resolve().parents[2] / "docs"
DESKTOP = {"width": 1366, "height": 900}  # the desktop (a common laptop's screen)
# Django's admin writes these image alternatives untranslated (its search and yes/no icons).
DJANGO_OWN = frozenset({"Search", "True", "False", "Unknown"})

# What the operator reads at each step, in each language.
WORDS = {
    "ru": {
        "signed_in": "Ретрансляторы", "queued": "Объект 101 поставлен в очередь на обновление",
        "rollout": "Обновление всех объектов до версии 5.40", "cancel_question": "Остановить обновление объекта 104?",
        "cancelled": "Обновление объекта 104 отменено.", "delivered": "Прибор получил команду на обновление",
        "confirmed": "Прибор работает на новой версии", "raw": "Что прислал прибор", "tab": "Обновление ПО на объектах",
        "switched": "Receivers",
        "refused": "Архив отклонён: SHA-256 файла fw.bin не совпадает с указанной в sw-description",
        "downgrade": "Понизить версию до 5.20", "rollouts": "Массовые обновления", "admin": "Администрирование",
    },
    "en": {
        "signed_in": "Receivers", "queued": "Site 101 added to the update queue",
        "rollout": "Updating all sites to version 5.40", "cancel_question": "Stop the update of site 104?",
        "cancelled": "Update of site 104 cancelled.", "delivered": "Panel received the update command",
        "confirmed": "Panel runs the new version", "raw": "What the panel sent", "tab": "Site software update",
        "switched": "Ретрансляторы",
        "refused": "The archive was refused: sha256 of fw.bin does not match sw-description",
        "downgrade": "Downgrade to 5.20", "rollouts": "Rollouts", "admin": "administration",
    },
}


@pytest.fixture
def story_page(browser, request, live_server):
    language, viewport = request.param
    context = browser.new_context(base_url=live_server.url, viewport=viewport,
                                  locale="ru-RU" if language == "ru" else "en-GB", timezone_id="Europe/Moscow")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors = request.node.page_errors = PageErrors()
    page.on("console", lambda msg: errors.append(f"console error: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught exception: {exc}"))
    page.language, page.viewport = language, viewport
    yield page
    context.close()
    errors.report()


def check(page, what: str, *, screenshot: str = "", folder: Path | None = None, whole: bool = False,
          allowed: frozenset = frozenset(), accessible: bool = True) -> None:
    """The page as it is now: no English word for a Russian reader, nothing off the screen, WCAG
    2.1 AA, a picture."""
    if page.language == "ru":
        assert english_words(page.content(), allowed=allowed) == [], what
    assert_fits(page, what)
    if accessible:
        assert_accessible(page, what)
        page.set_viewport_size(page.viewport)  # assert_accessible leaves the desktop size
    if screenshot and folder is not None:
        page.screenshot(path=folder / screenshot, full_page=whole, animations="disabled")


def open_nav(page, testid: str) -> None:
    """A link or button of the header: on a phone, in the header's menu."""
    if page.viewport == PHONE:
        page.get_by_test_id("menu-button").click()
    page.get_by_test_id(testid).click()


def corrupted(identity) -> bytes:
    """A signed archive one byte of whose image changed on the way (its sha256 no longer matches)."""
    out = io.BytesIO()
    build_archive(out, device_type="nord-gsm", version="5.50", hardware_revisions=["2.1"],
                  images=[("fw.bin", b"\x7fNORD firmware image\x00" * 256)], key_pem=identity[0],
                  cert_pem=identity[1])
    data = bytearray(out.getvalue())
    data[data.index(b"NORD firmware") + 2] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize("story_page", [("ru", PHONE), ("en", DESKTOP)], indirect=True,
                         ids=["russian-phone", "english-desktop"])
def test_the_manuals_story_in_the_operators_language(story_page, north, signing_identity, tmp_path):
    page, words = story_page, WORDS[story_page.language]
    folder = DOCS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    shot = f"screenshot-{page.language}-{'phone' if page.viewport == PHONE else 'desktop'}"
    Receiver.objects.filter(pk=north.receiver.pk).update(time_zone="Europe/Moscow")
    manager = operator(MANAGERS, "maria")
    manager.is_staff = True  # the admin too, with the managers' permissions
    manager.save()
    with live_fleet(north, [panel_spec(north, **PANEL_FIELDS)]):
        page.goto("/login/")
        check(page, "login page")
        page.locator("#id_username").fill(manager.username)
        page.locator("#id_password").fill(PASSWORD)
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("nav-receivers")).to_have_text(words["signed_in"])
        check(page, "receivers")

        # Receiver -> "Site software update" -> the device type's "Update ..."
        page.locator('[data-testid="receiver-row"][data-receiver="north"] a').first.click()
        expect(page.get_by_test_id("tab-software-update")).to_have_text(words["tab"])
        check(page, "site software update tab", screenshot=f"{shot}-software-update.png", folder=folder)
        page.get_by_test_id("update-device-type").click()

        # "Update using site number..." -> 101 -> "Update": yellow, then green by itself.
        page.get_by_test_id("open-queue-site").click()
        dialog = page.get_by_test_id("dialog-queue-site")
        expect(dialog).to_be_visible()
        check(page, "update using site number dialog")
        dialog.get_by_test_id("queue-site-number").fill("101")
        dialog.get_by_test_id("queue-site-submit").click()
        expect(page.get_by_test_id("message")).to_have_text(words["queued"])
        expect(site_row(page, 101)).to_have_attribute("data-badge", "green", timeout=45_000)
        check(page, "device type page after the canary")

        # "Update software at all sites" -> "Update all sites": 104 (never connected) is queued.
        page.get_by_test_id("open-update-all").click()
        dialog = page.get_by_test_id("dialog-update-all")
        expect(dialog.get_by_test_id("update-all-count")).to_have_text("1")
        check(page, "update all sites dialog")
        dialog.get_by_test_id("update-all-submit").click()
        expect(page.get_by_test_id("message")).to_contain_text(words["rollout"])
        expect(site_row(page, 104)).to_have_attribute("data-badge", "yellow")
        expect(page.get_by_test_id("rollout-panel")).to_be_visible()
        check(page, "device type page with the rollout", screenshot=f"{shot}-device-type.png", folder=folder)

        # "Cancel update..." on 104, confirmed.
        site_row(page, 104).get_by_test_id("cancel-update").click()
        dialog = page.get_by_test_id("dialog-cancel")
        expect(dialog).to_contain_text(words["cancel_question"])
        check(page, "cancel dialog")
        dialog.get_by_test_id("cancel-submit").click()
        expect(page.get_by_test_id("message")).to_have_text(words["cancelled"])
        expect(site_row(page, 104)).to_have_attribute("data-badge", "red")

        # The site's history in the operator's words; what the panel sent one click away.
        site_row(page, 101).get_by_test_id("site-link").click()
        sentences = page.get_by_test_id("event-sentence")
        expect(sentences.filter(has_text=words["delivered"])).to_have_count(1)
        expect(sentences.filter(has_text=words["confirmed"])).to_have_count(1)
        expect(page.get_by_test_id("timeline-event").first.locator("time")).to_contain_text("MSK")
        raw = page.get_by_test_id("raw-report").first
        raw.get_by_text(words["raw"]).click()
        expect(raw.locator("pre")).to_contain_text('"execution"')
        raw.scroll_into_view_if_needed()
        check(page, "site page with its history", screenshot=f"{shot}-history.png", folder=folder,
              whole=page.viewport == PHONE)

        # The rollouts of the device type, and the page of the no-JavaScript cancel (its buttons
        # side by side ran off a phone's screen in Russian).
        page.go_back()
        page.get_by_test_id("open-rollout-history").click()
        expect(page.locator("h1")).to_contain_text(words["rollouts"])
        check(page, "rollout history")
        cancelled = UpdateJob.objects.get(device__serial="NG00000104")
        page.goto(f"/receivers/north/update-jobs/cancel/?job={cancelled.pk}")
        check(page, "cancel page without JavaScript")

        # Releases: a corrupted archive is refused in the operator's words; marking an older
        # release current asks about the downgrade first (not confirmed here).
        open_nav(page, "nav-releases")
        page.get_by_test_id("open-upload").click()
        page.get_by_test_id("release-archive").set_input_files(
            files=[{"name": "nord-gsm-5.50.swu", "mimeType": "application/octet-stream", "buffer": corrupted(signing_identity)}])
        page.get_by_test_id("upload-submit").click()
        expect(page.get_by_test_id("upload-error")).to_have_text(words["refused"])
        page.get_by_test_id("upload-error").scroll_into_view_if_needed()
        check(page, "releases with a refused upload", allowed=frozenset({"fw", "bin"}),
              screenshot=f"{shot}-releases.png", folder=folder)
        older = ReleaseFactory(device_type=north.device_type, version="5.20", hardware_revisions=["2.1"],
                               is_current=False)
        page.goto(f"/releases/{older.pk}/mark-current/")
        expect(page.get_by_test_id("mark-current-confirm")).to_have_text(words["downgrade"])
        check(page, "mark an older release current")

        # The admin: the site's panel, the job's history (Django's own pages: its markup is not
        # held to WCAG here; words and width are).
        page.goto(f"/admin/sites/site/{north.device.site.pk}/change/")
        expect(page.locator("#site-name")).to_contain_text(words["admin"])
        check(page, "admin: a site and its panel", accessible=False, allowed=DJANGO_OWN)
        page.goto(f"/admin/firmware_updates/updatejob/{UpdateJob.objects.get(device__serial=SERIAL).pk}/change/")
        check(page, "admin: an update job", accessible=False, allowed=DJANGO_OWN)
        page.goto(f"/receivers/north/sites/{north.device.site.number}/")

        # The other language, from the header; remembered for the operator.
        other = "en" if page.language == "ru" else "ru"
        open_nav(page, f"language-{other}")
        expect(page.get_by_test_id("nav-receivers")).to_have_text(words["switched"])
        expect(page.locator("html")).to_have_attribute("lang", other)
    assert UpdateJob.objects.get(device__serial=SERIAL).state == JobState.SUCCEEDED
    assert UpdateJob.objects.get(device__serial="NG00000104").state == JobState.CANCELLED
    assert OperatorPreferences.objects.get(user=manager).language == other
