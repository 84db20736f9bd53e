"""The panel in Russian for a Russian browser, in English for the rest, the operator's choice
remembered; the API's `detail` in the request's language with its `code` unchanged."""

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone, translation
from django.utils.formats import date_format
from rest_framework.test import APIClient

from core.models import OperatorPreferences
from core.templatetags.panel import moment_text
from firmware_updates import services
from firmware_updates.models import JobState, Release, UpdateJob
from firmware_updates.swu import build_archive, make_signing_identity
from receivers.models import Receiver
from tests.panel.conftest import signed_in
from tests.panel.html import find_all, text_of, texts_of
from tests.panel.russian import LATIN_WORD, english_words, shown_text

RU = {"HTTP_ACCEPT_LANGUAGE": "ru-RU,ru;q=0.9,en;q=0.5"}


@pytest.fixture
def history(example, manager):
    """Something on every page: a rollout paused by its operator, a site's whole story."""
    job = services.update_job_create(receiver=example.receiver, site_number=1220, actor=manager)
    services.job_deployment_fetched(job=job)
    services.job_apply_feedback(job=job, execution="download", finished="none",
                                progress={"cnt": 122880, "of": 409600}, details=[])
    services.job_apply_feedback(job=job, execution="closed", finished="failure", progress=None,
                                details=["flash write error"])
    cancelled = example.jobs[1212]
    services.update_job_cancel(job=cancelled, actor=manager)
    services.job_apply_cancel_feedback(job=cancelled, execution="closed", finished="success", details=[])
    rollout, _ = services.rollout_start(receiver=example.receiver, device_type=example.nord, actor=manager)
    services.rollout_pause(rollout=rollout, actor=manager)
    return rollout


def pages(example):
    receiver = f"/receivers/{example.receiver.code}/"
    return [
        "/receivers/", receiver + "software-update/", receiver + "sites/", receiver + "panels-without-site/",
        example.page, example.page + "rollouts/", example.page + "queue/", example.page + "update-all/",
        *(receiver + f"sites/{n}/" for n in (1201, 1212, 1213, 1214, 1215, 1216, 1217, 1219, 1220)),
        receiver + f"update-jobs/cancel/?job={example.jobs[1213].pk}", "/releases/", "/no-such-page/",
    ]


def test_a_russian_browser_meets_no_english_word_on_any_page(example, history, manager):
    russian = signed_in(manager, **RU)
    for url in pages(example):
        response = russian.get(url)
        assert response.status_code in (200, 404), url
        assert response["Content-Language"] == "ru", url
        assert english_words(response.content) == [], url


def test_the_preferences_page_and_refusals_are_russian_too(example, manager, viewer):
    russian = signed_in(manager, **RU)
    # Zones are offered by their IANA names.
    zones = {word for zone in available_timezones() for word in LATIN_WORD.findall(zone)}
    assert english_words(russian.get("/preferences/").content, allowed=zones) == []
    # A refusal in the dialog: the service's sentence, in Russian.
    response = russian.post(example.page + "queue/", {"site_number": "1215"})
    assert text_of(response.content, "queue-site-error") == "Объект 1215: у прибора нет канала GPRS или Ethernet."
    assert english_words(response.content) == []
    # Not allowed: the missing capability in words.
    response = signed_in(viewer, **RU).post(example.page + "queue/", {"site_number": "1220"})
    assert response.status_code == 403
    assert english_words(response.content) == []
    assert "Вашей учётной записи нельзя ставить объекты в очередь на обновление" in response.content.decode()


def test_the_login_page_follows_the_browser_and_the_switcher(db):
    assert english_words(Client(**RU).get("/login/").content) == []
    assert "Sign in" in Client().get("/login/").content.decode()
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = browser.post("/language/", {"language": "ru", "next": "/login/"})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert "Вход" in browser.get("/login/").content.decode()


def test_the_switcher_is_remembered_for_the_operator_on_any_browser(example, engineer):
    desk = signed_in(engineer, HTTP_ACCEPT_LANGUAGE="en")
    [current] = [b for b in find_all(desk.get("/receivers/").content, "language-en")]
    assert current["attrs"]["aria-pressed"] == "true"
    desk.post("/language/", {"language": "ru", "next": "/receivers/"})
    assert OperatorPreferences.objects.get(user=engineer).language == "ru"
    # Another browser, an English one, after signing in: the operator's Russian.
    phone = Client(HTTP_ACCEPT_LANGUAGE="en-GB,en")
    phone.force_login(engineer)
    html = phone.get("/receivers/").content
    assert texts_of(html, "nav-receivers") == ["Ретрансляторы"]
    assert find_all(html, "language-ru")[0]["attrs"]["aria-pressed"] == "true"


def test_russian_plurals_in_the_panel(example, manager):
    russian = signed_in(manager, **RU)
    html = russian.get(example.page).content.decode()
    # 6 red, 2 not eligible: 4 outdated sites a rollout would queue.
    assert "В очередь будут поставлены <b data-testid=\"update-all-count\">4</b> устаревших объекта" in html
    html = russian.get(f"/receivers/{example.receiver.code}/sites/1213/").content.decode()
    assert "1 обновление" in html


def test_the_api_detail_follows_the_request_language_and_the_code_stays(example, manager):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(manager)
    body = {"receiver": example.receiver.code, "site_number": 1215}
    english = api.post("/api/v1/update-jobs/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    russian = api.post("/api/v1/update-jobs/", body, format="json", HTTP_ACCEPT_LANGUAGE="ru")
    assert english.status_code == russian.status_code == 409
    assert english.json()["code"] == russian.json()["code"] == "no_ip_channel"
    assert english.json()["detail"] == "Site 1215 has no GPRS or Ethernet channel."
    assert russian.json()["detail"] == "Объект 1215: у прибора нет канала GPRS или Ethernet."


def test_times_are_the_receivers_with_the_zone_until_the_operator_chooses(example, manager):
    Receiver.objects.filter(pk=example.receiver.pk).update(time_zone="Asia/Yekaterinburg")
    at = timezone.now().replace(year=2026, month=3, day=14, hour=4, minute=5, second=0, microsecond=0)
    job = example.jobs[1217]
    UpdateJob.objects.filter(pk=job.pk).update(created_at=at)
    site = f"/receivers/{example.receiver.code}/sites/1217/"
    english = signed_in(manager, HTTP_ACCEPT_LANGUAGE="en")
    assert "2026-03-14 09:05 +05" in english.get(site).content.decode()  # UTC+5, the zone shown
    russian = signed_in(manager, **RU)
    assert "14.03.2026 09:05 +05" in russian.get(site).content.decode()
    # The operator's own zone wins, on every page, the admin's too.
    response = russian.post("/preferences/", {"language": "ru", "time_zone": "Europe/Moscow"})
    assert response.status_code == 302
    html = russian.get(site).content.decode()
    assert "14.03.2026 07:05 MSK" in html and "+05" not in html
    admin = get_user_model().objects.create_superuser("anna", password="x")
    staff = signed_in(admin, **RU)
    staff.post("/preferences/", {"language": "ru", "time_zone": "Europe/Moscow"})
    admin_list = staff.get("/admin/firmware_updates/updatejob/").content.decode()
    assert "14.03.2026 07:05 MSK" in admin_list  # the panel's format, the operator's zone


def test_recency_reads_as_how_long_ago(example, viewer):
    device = example.device(1213)
    device.last_seen = timezone.now() - timedelta(minutes=3)
    device.save(update_fields=["last_seen"])
    russian = signed_in(viewer, **RU)
    [seen] = [line for line in shown_text(russian.get(f"/receivers/{example.receiver.code}/sites/1213/").content)
              .split("Питание")[:1]]
    assert "был на связи" in seen and seen.endswith("3 минуты назад ")
    english = signed_in(viewer, HTTP_ACCEPT_LANGUAGE="en")
    seen = shown_text(english.get(f"/receivers/{example.receiver.code}/sites/1213/").content).split("Power")[0]
    assert "seen" in seen and seen.endswith("3 minutes ago ")


@pytest.mark.parametrize("language", ["en", "ru"])
def test_every_time_says_what_djangos_own_formats_say(language):
    """The panel says its times itself (core/templatetags/panel.py: the device type page says
    50 a page); the words are Django's naturaltime and DATETIME_FORMAT's, in each language,
    in a zone with letters and in one without, at every unit's edges, and again once cached."""
    ago = [0, 1, 59, 60, 61, 119, 3599, 3600, 3601, 7199, 86399, 86400, 90000, 86400 * 40, 86400 * 400, -30, -7200]
    with translation.override(language):
        for zone in ("Europe/Moscow", "Asia/Yekaterinburg", "UTC", "America/New_York", "Asia/Kolkata"):
            with timezone.override(ZoneInfo(zone)):
                for _ in range(2):
                    for seconds in ago:
                        moment = timezone.now() - timedelta(seconds=seconds)
                        assert moment_text(moment, relative=True) == naturaltime(moment), (zone, seconds)
                        assert moment_text(moment) == exact_words(moment)
                # The hour New York's clock says twice (01:30 EDT, then 01:30 EST): Django's
                # format leaves the zone out there, the panel names it.
                for moment in (datetime(2025, 11, 2, 5, 30, tzinfo=UTC), datetime(2025, 11, 2, 6, 30, tzinfo=UTC)):
                    assert moment_text(moment) == exact_words(moment)
                    if zone == "America/New_York":
                        assert moment_text(moment).endswith(("EDT", "EST"))


def exact_words(moment) -> str:
    """DATETIME_FORMAT's words for `moment`, its zone named even in the hour a clock says twice
    (Django's `T` is empty there; securitycenter/formats end with it)."""
    local = timezone.localtime(moment)
    words = date_format(local, "DATETIME_FORMAT")
    if local.utcoffset() != local.replace(fold=not local.fold).utcoffset():
        words += local.tzname()
    return words


def test_the_history_speaks_the_operators_words_in_both_languages(example, history, manager):
    site = f"/receivers/{example.receiver.code}/sites/"
    english = signed_in(manager, HTTP_ACCEPT_LANGUAGE="en")
    html = english.get(site + "1212/").content
    assert "Panel acknowledged the cancel" in texts_of(html, "event-sentence")
    html = english.get(site + "1220/").content
    assert "Downloaded 120.0 KB of 400.0 KB" in " ".join(texts_of(html, "timeline-event"))
    russian = signed_in(manager, **RU)
    html = russian.get(site + "1212/").content
    assert "Прибор подтвердил отмену" in texts_of(html, "event-sentence")
    html = russian.get(site + "1220/").content
    assert "Загружено 120,0 КБ из 400,0 КБ" in " ".join(texts_of(html, "timeline-event"))
    assert JobState.FAILED in [e["attrs"]["data-state"] for e in find_all(html, "timeline-event")]


def test_the_admin_speaks_russian_with_the_panels_words(example, history):
    admin = get_user_model().objects.create_superuser("anna", password="x")
    russian = signed_in(admin, **RU)
    job = example.jobs[1217]
    site, device = example.device(1217).site, example.device(1217)
    release = example.release
    urls = ["/admin/", "/admin/receivers/receiver/", f"/admin/receivers/receiver/{example.receiver.pk}/change/",
            "/admin/sites/site/", "/admin/sites/devicetype/", "/admin/firmware_updates/release/",
            "/admin/firmware_updates/updatejob/", f"/admin/firmware_updates/updatejob/{job.pk}/change/",
            "/admin/firmware_updates/rollout/", f"/admin/firmware_updates/rollout/{history.pk}/change/",
            # A panel's channels are boxes to tick and its partitions numbers (not the API's JSON);
            # fieldsets, a delta's hashes, a job's events and snapshot, a rollout's skipped sites,
            # the alarm centre's events and the groups (data) in the reader's words.
            f"/admin/sites/site/{site.pk}/change/", "/admin/sites/site/add/", f"/admin/sites/device/{device.pk}/change/",
            f"/admin/firmware_updates/release/{release.pk}/change/", "/admin/firmware_updates/webhook/add/",
            "/admin/core/event/", "/admin/auth/user/", "/admin/auth/group/"]
    # Django's admin writes these image alternatives untranslated (its search and yes/no icons).
    django_own = {"Search", "True", "False", "Unknown"}
    for url in urls:
        response = russian.get(url)
        assert response.status_code == 200, url
        assert english_words(response.content, allowed=django_own) == [], url


def _archive(**kwargs) -> bytes:
    out = io.BytesIO()
    build_archive(out, device_type=kwargs.pop("device_type", "nord-gsm"), version="5.50", hardware_revisions=["2.1"],
                  images=[("fw.bin", b"\x7fNORD firmware image\x00" * 256)], **kwargs)
    return out.getvalue()


def _tampered() -> bytes:
    data = bytearray(_archive())
    data[data.index(b"NORD firmware") + 2] ^= 0xFF  # one byte of the image, after the manifest
    return bytes(data)


# What an operator uploads by mistake, each refusal with its stable code, its English and Russian
# words (after "The archive was refused: "), and the data its words name (file, board, signer).
ARCHIVE_REFUSALS = {
    "corrupted": (_tampered, "archive_hash_mismatch", "sha256 of fw.bin does not match sw-description",
                  "SHA-256 файла fw.bin не совпадает с указанной в sw-description", {"fw", "bin"}),
    "truncated": (lambda: _archive()[:3000], "archive_corrupt", "the archive is truncated in fw.bin",
                  "архив обрывается, не дочитано: fw.bin", {"fw", "bin"}),
    "a zip file": (lambda: b"PK\x03\x04 a zip file, not an SWUpdate archive" * 20, "archive_not_swu",
                   "this is a ZIP file, not an SWUpdate archive (.swu)",
                   "это ZIP-файл, а не архив SWUpdate (.swu)", set()),
    "unsigned": (_archive, "archive_not_signed",
                 "the archive is not signed (no sw-description.sig), and a signature is required",
                 "архив не подписан (нет sw-description.sig), а подпись обязательна", set()),
    "another signer": (lambda: _archive(key_pem=STRANGER[0], cert_pem=STRANGER[1]), "archive_signer_untrusted",
                       "the archive is signed by CN=Somebody else, which is not a trusted signer",
                       "архив подписан CN=Somebody else, а этому подписанту здесь не доверяют",
                       {"CN", "Somebody", "else"}),
    "another device type": (lambda: _archive(device_type="nord-lte"), "device_type_unknown",
                            "The archive is for device type 'nord-lte', which is not registered.",
                            "Архив предназначен для типа прибора 'nord-lte', который не зарегистрирован.",
                            {"nord", "lte'"}),
}
STRANGER = make_signing_identity("Somebody else")


@pytest.mark.parametrize("kind", ARCHIVE_REFUSALS)
def test_a_refused_archive_is_explained_in_russian_in_the_panel_the_admin_and_the_api(
        example, manager, settings, tmp_path, kind):
    """The archive library speaks English and knows no Django: its refusal's code and words are
    said again in the operator's language at the edge (firmware_updates/archive_words.py)."""
    make, code, english, russian, data = ARCHIVE_REFUSALS[kind]
    if kind in ("unsigned", "another signer"):  # signatures required: only the vendor's is trusted
        trusted = tmp_path / "trusted.pem"
        trusted.write_bytes(make_signing_identity("Nord firmware signing")[1])
        settings.FIRMWARE_TRUSTED_CERTS = str(trusted)
    upload = lambda: SimpleUploadedFile("nord-gsm-5.50.swu", make())  # noqa: E731
    before = Release.objects.count()

    panel = signed_in(manager, **RU).post("/releases/upload/", {"archive": upload()})
    [error] = texts_of(panel.content, "upload-error")
    assert error == f"Архив отклонён: {russian}"
    assert english_words(panel.content, allowed=data) == []

    admin = signed_in(get_user_model().objects.create_superuser("anna", password="x"), **RU)
    page = admin.post("/admin/firmware_updates/release/add/", {"archive": upload()})
    assert f"Архив отклонён: {russian}" in shown_text(page.content)
    assert english_words(page.content, allowed=data | {"Search", "True", "False", "Unknown"}) == []

    api = APIClient()
    api.force_authenticate(manager)
    answers = {language: api.post("/api/v1/releases/", {"archive": upload()}, format="multipart",
                                  HTTP_ACCEPT_LANGUAGE=language) for language in ("en", "ru")}
    assert {language: (a.status_code, a.json()["code"]) for language, a in answers.items()} == {
        "en": (400, code), "ru": (400, code)}
    assert answers["en"].json()["detail"] == english
    assert answers["ru"].json()["detail"] == russian
    assert Release.objects.count() == before


def test_the_apis_field_errors_follow_the_request_language(example, manager):
    """A receiver, device type or release the request names that does not exist, and a filter
    given wrongly: `detail` in the request's language (the field's name is the API's own)."""
    api = APIClient()
    api.force_authenticate(manager)
    asked = [
        ("post", "/api/v1/update-jobs/", {"receiver": "nowhere", "site_number": 1215},
         "receiver: No receiver has the code nowhere.", "receiver: Ретранслятора с кодом nowhere нет."),
        ("post", "/api/v1/update-jobs/", {"receiver": example.receiver.code, "site_number": 1215, "release": 999999},
         "release: No release has the id 999999.", "release: Прошивки с id 999999 нет."),
        ("post", "/api/v1/sites/", {"receiver": example.receiver.code, "number": 9, "device": {
            "serial": "NG9", "device_type": "nord-lte"}},
         "device.device_type: No device type has the code nord-lte.",
         "device.device_type: Типа прибора с кодом nord-lte нет."),
        ("get", "/api/v1/releases/?archived=maybe", None, "archived: Use true or false.",
         "archived: Укажите true или false."),
    ]
    for method, url, body, english, russian in asked:
        for language, words in (("en", english), ("ru", russian)):
            response = getattr(api, method)(url, body, format="json", HTTP_ACCEPT_LANGUAGE=language)
            assert response.status_code == 400, url
            assert response.json()["detail"] == words, url


def test_the_admins_permissions_are_named_in_the_readers_language(example):
    """Django stores a permission's name once, in English: the group's and the user's choices
    are said from the codename and the model's translated name instead."""
    from django.contrib.auth.models import Group

    admin = get_user_model().objects.create_superuser("anna", password="x")
    engineers = Group.objects.get(name="engineers")
    for url in (f"/admin/auth/group/{engineers.pk}/change/", f"/admin/auth/user/{admin.pk}/change/"):
        text = shown_text(signed_in(admin, **RU).get(url).content)
        assert "Can " not in text, url
        assert "| Изменение: объект" in text, url
        assert "| Одобрение обновлений" in text, url
    english = shown_text(signed_in(admin, HTTP_ACCEPT_LANGUAGE="en").get(
        f"/admin/auth/group/{engineers.pk}/change/").content)
    assert "| Can change site" in english and "| Can approve update jobs" in english


def test_the_admins_history_says_the_audit_in_the_readers_language(example, manager):
    """The operator audit is stored in English (the API and logs read it as written); each
    object's History page in the admin says it in the reader's language (core/audit_words.py)."""
    from sites.services import site_update

    admin = get_user_model().objects.create_superuser("anna", password="x")
    site = example.device(1217).site
    site_update(site=site, actor=admin, name="Пекарня", address="ул. Мира, 4", number=4217,
                remote_update="approval")
    services.release_mark_current(release=example.release, actor=admin)
    stored = LogEntry.objects.get(object_id=str(site.pk)).change_message
    assert stored == ("Number 1217 changed to 4217; name changed; remote update changed from allowed to "
                      "approval; address changed.")
    russian = signed_in(admin, **RU)
    history = russian.get(f"/admin/sites/site/{site.pk}/history/").content
    assert "Номер 1217 изменён на 4217; название изменено; удалённое обновление: было «разрешено», стало " \
           "«с одобрением»; адрес изменён." in shown_text(history)
    assert english_words(history, allowed={"Search"}) == []
    release = russian.get(f"/admin/firmware_updates/release/{example.release.pk}/history/").content
    assert "Сделана текущей." in shown_text(release) and english_words(release, allowed={"Search"}) == []
    english = signed_in(admin, HTTP_ACCEPT_LANGUAGE="en").get(f"/admin/sites/site/{site.pk}/history/").content
    assert stored in shown_text(english)


def test_every_audit_sentence_is_said_again_in_russian():
    import re

    from core import audit_words

    templates = [*audit_words.SENTENCES, audit_words.CHANGED]
    for template in templates:
        names = re.findall(r"\{(\w+)\}", template)
        stored = template.format(**{name: f"<{name}>" for name in names})
        with translation.override("ru"):
            said = audit_words.audit_words(stored)
        assert said != stored, template
    stored = audit_words.site_change_message([audit_words.MOVED.format(from_receiver="north", to_receiver="south"),
                                              audit_words.NAME_CHANGED])
    with translation.override("ru"):
        assert audit_words.audit_words(stored) == "Перенесён с north на south; название изменено."
        assert audit_words.audit_words("Changed name, poll sleep.") == "Изменено: название, интервал опроса."
        assert audit_words.audit_words("Created with panel NG1. Remote update: forbidden.") == (
            "Создан с прибором NG1. Удалённое обновление: запрещено.")
        assert audit_words.audit_words("Something Django said.") == "Something Django said."


def test_the_admins_actions_answer_in_the_readers_language(example):
    admin = get_user_model().objects.create_superuser("anna", password="x")
    russian = signed_in(admin, **RU)
    jobs = [example.jobs[1211], example.jobs[1214]]
    response = russian.post("/admin/firmware_updates/updatejob/", {
        "action": "cancel_selected", "_selected_action": [j.pk for j in jobs]}, follow=True)
    said = [str(m) for m in response.context["messages"]]
    assert len(said) == 2 and english_words(response.content, allowed={"Search", "True", "False", "Unknown"}) == []
    older = example.release.device_type.releases.exclude(pk=example.release.pk).first()
    response = russian.post("/admin/firmware_updates/release/", {
        "action": "mark_current", "_selected_action": [older.pk]}, follow=True)
    assert english_words(response.content, allowed={"Search", "True", "False", "Unknown"}) == []
    assert "5.30" in " ".join(str(m) for m in response.context["messages"])
