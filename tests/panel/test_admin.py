"""Django admin: every model's list renders; writes go through the services."""

import io
import re

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile

from core.tokens import token_digest
from firmware_updates.models import JobState, Release, Rollout, UpdateJobEvent
from firmware_updates.selectors import receiver_firmware_stats
from firmware_updates.swu import build_archive
from receivers.models import Receiver
from sites.models import Device, DeviceType, Site
from tests.factories import ReceiverFactory, ReleaseFactory, SiteFactory

from .conftest import operator, signed_in
from .html import form_values

pytestmark = pytest.mark.django_db
S = JobState


@pytest.fixture
def admin_client(example):
    return signed_in(operator(None, username="root", is_staff=True, is_superuser=True))


CHANGELISTS = ["receivers/receiver", "sites/devicetype", "sites/site", "sites/device", "firmware_updates/release",
               "firmware_updates/updatejob", "firmware_updates/rollout", "firmware_updates/webhook", "core/event"]


@pytest.mark.parametrize("model", CHANGELISTS)
def test_changelist_and_search_render_for_a_superuser(admin_client, model):
    assert admin_client.get(f"/admin/{model}/").status_code == 200
    assert admin_client.get(f"/admin/{model}/", {"q": "1213"}).status_code == 200
    assert admin_client.get(f"/admin/{model}/", {"q": "abc"}).status_code == 200


def test_change_pages_render_and_never_offer_token_hashes_for_editing(admin_client, example):
    device = example.device(1213)
    device.token_hash = "f" * 64
    device.save()
    job = example.jobs[1213]
    pages = [f"/admin/receivers/receiver/{example.receiver.pk}/change/",
             f"/admin/sites/site/{device.site.pk}/change/",
             f"/admin/sites/device/{device.pk}/change/",
             f"/admin/firmware_updates/release/{example.release.pk}/change/",
             f"/admin/firmware_updates/updatejob/{job.pk}/change/"]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert 'name="token_hash"' not in html and 'name="gateway_token_hash"' not in html, url
        assert "f" * 64 not in html, url


def test_update_job_page_shows_its_events_read_only(admin_client, example, engineer):
    from firmware_updates import services

    job = services.update_job_create(receiver=example.receiver, site_number=1220, actor=engineer)
    html = admin_client.get(f"/admin/firmware_updates/updatejob/{job.pk}/change/").content.decode()
    assert "erik" in html and UpdateJobEvent.objects.filter(job=job).count() == 1
    assert 'name="state"' not in html and 'name="events-0-to_state"' not in html
    assert admin_client.get("/admin/firmware_updates/updatejob/add/").status_code == 403


def test_admin_cancel_action_cancels_what_it_may_and_names_each_refusal(admin_client, example):
    jobs = [example.jobs[1211], example.jobs[1214]]
    response = admin_client.post("/admin/firmware_updates/updatejob/", {
        "action": "cancel_selected", "_selected_action": [j.pk for j in jobs]}, follow=True)
    messages = [str(m) for m in response.context["messages"]]
    assert f"Job #{jobs[1].pk} (site 1214): The device has already downloaded the update; it can no longer " \
           "be cancelled." in messages
    assert "1 update cancelled or being cancelled." in messages
    states = {j.pk: j.state for j in (type(jobs[0]).objects.filter(pk__in=[j.pk for j in jobs]))}
    assert states == {jobs[0].pk: S.CANCELLED, jobs[1].pk: S.DOWNLOADED}


def test_admin_mark_current_action(admin_client, example):
    newer = ReleaseFactory(device_type=example.nord, version="5.50", is_current=False)
    admin_client.post("/admin/firmware_updates/release/", {"action": "mark_current", "_selected_action": [newer.pk]})
    assert Release.objects.get(is_current=True) == newer


def test_admin_mark_current_refuses_a_downgrade_and_says_where_to_confirm_it(admin_client, example):
    old = Release.objects.get(version="5.30")
    response = admin_client.post("/admin/firmware_updates/release/", {
        "action": "mark_current", "_selected_action": [old.pk]}, follow=True)
    assert Release.objects.get(is_current=True).version == "5.40"
    page = response.content.decode()
    assert "Nord GSM 5.30 is older than the current version 5.40: 10 sites run 5.40 and turn outdated" in page
    assert "Releases page of the panel" in page


def test_admin_mark_current_refuses_two_of_one_type(admin_client, example):
    ids = list(Release.objects.values_list("pk", flat=True))
    response = admin_client.post("/admin/firmware_updates/release/", {
        "action": "mark_current", "_selected_action": ids}, follow=True)
    assert "Select at most one release per device type" in response.content.decode()
    assert Release.objects.get(is_current=True).version == "5.40"


def test_admin_release_add_uploads_through_release_create(admin_client, example):
    page = admin_client.get("/admin/firmware_updates/release/add/")
    assert page.status_code == 200 and b'enctype="multipart/form-data"' in page.content
    out = io.BytesIO()
    build_archive(out, device_type="nord-gsm", version="5.50", hardware_revisions=["2.2"],
                  images=[("fw.bin", b"image" * 100)])
    upload = SimpleUploadedFile("nord-gsm-5.50.swu", out.getvalue())
    response = admin_client.post("/admin/firmware_updates/release/add/", {"archive": upload, "description": ""})
    release = Release.objects.get(version="5.50")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/firmware_updates/release/{release.pk}/change/"
    assert release.hardware_revisions == ["2.2"] and release.created_by.username == "root"


def test_admin_release_add_shows_the_refusal_and_stores_nothing(admin_client, example):
    upload = SimpleUploadedFile("junk.swu", b"not an archive")
    response = admin_client.post("/admin/firmware_updates/release/add/", {"archive": upload})
    assert response.status_code == 200
    assert "The archive was refused: this is not an SWUpdate archive" in response.content.decode()
    assert Release.objects.count() == 2


def test_rollouts_cannot_be_added_in_the_admin(admin_client, example):
    assert admin_client.get("/admin/firmware_updates/rollout/add/").status_code == 403
    assert not Rollout.objects.exists()


def test_staff_without_permissions_cannot_reach_the_models(example):
    client = signed_in(operator(None, username="staffer", is_staff=True))
    assert client.get("/admin/firmware_updates/updatejob/").status_code == 403
    assert client.post("/admin/firmware_updates/updatejob/", {
        "action": "cancel_selected", "_selected_action": [example.jobs[1211].pk]}).status_code == 403
    assert example.jobs[1211].__class__.objects.get(pk=example.jobs[1211].pk).state == S.QUEUED


# The admin writes through the services (issue 8 item 5): the same rules, the same audit record.

def history(obj) -> list[tuple[int, str, str]]:
    """The operator's actions on `obj` as its admin "History" page lists them."""
    entries = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk))
    return [(e.action_flag, e.change_message, e.user.username) for e in entries.order_by("pk")]


def change_form(client, url: str, form_id: str, **changes):
    """POST the admin form at `url` as a browser would after the operator changed `changes`."""
    return client.post(url, {**form_values(client.get(url).content, form_id), **changes})


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def shown_token(response, words: str) -> str:
    [message] = [m for m in messages_of(response) if words in m]
    return re.search(r": (\S+) —", message)[1]


@pytest.fixture
def south(db):
    return ReceiverFactory(code="south", name="South")


def test_moving_a_site_to_another_receiver_moves_its_panel_and_is_recorded(admin_client, example, south):
    device = example.device(1220)
    url = f"/admin/sites/site/{device.site.pk}/change/"
    response = change_form(admin_client, url, "site_form", receiver=south.pk)
    assert response.status_code == 302, response.context["adminform"].form.errors
    device.refresh_from_db()
    assert (device.site.receiver, device.receiver) == (south, south)
    # The fleet statistics group by the panel's receiver: the site now counts on South's page.
    [stats] = receiver_firmware_stats(receiver=south)
    assert stats.total == 1
    assert history(device.site) == [(CHANGE, "Moved from North (north) to South (south) with panel NG001220.",
                                     "root")]


def test_a_site_whose_panel_is_being_updated_is_not_moved(admin_client, example, south):
    device = example.device(1213)  # downloading
    url = f"/admin/sites/site/{device.site.pk}/change/"
    response = change_form(admin_client, url, "site_form", receiver=south.pk)
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["receiver"]
    assert error == ("Site 1213's panel is being updated: wait for the update to end, or cancel it, before moving "
                     "the site to another receiver.")
    device.refresh_from_db()
    assert (device.site.receiver, device.receiver) == (example.receiver, example.receiver)
    assert history(device.site) == []


def test_a_sites_consent_changed_in_the_admin_goes_through_the_service(admin_client, example):
    site = example.device(1220).site
    response = change_form(admin_client, f"/admin/sites/site/{site.pk}/change/", "site_form",
                           remote_update="forbidden")
    assert response.status_code == 302, response.context["adminform"].form.errors
    site.refresh_from_db()
    assert site.remote_update == "forbidden"
    assert history(site) == [(CHANGE, "Remote update changed from allowed to forbidden.", "root")]
    assert "Forbidden" in admin_client.get("/admin/sites/site/?remote_update__exact=forbidden").content.decode()


def test_giving_a_panel_a_site_on_another_receiver_moves_the_panel(admin_client, example, south):
    device = example.device(1220)
    empty_site = SiteFactory(receiver=south, number=7)
    response = change_form(admin_client, f"/admin/sites/device/{device.pk}/change/", "device_form",
                           site=empty_site.pk)
    assert response.status_code == 302, response.context["adminform"].form.errors
    device.refresh_from_db()
    assert (device.site, device.receiver) == (empty_site, south)


# (field, what the form posts, the refusal on the field). Channels are boxes to tick and
# partitions two lists of numbers (armed, disarmed): no JSON, no English word to type.
REFUSED_PANEL_FIELDS = [
    ("channels", {"channels": ["gprs", "pigeon"]},
     "Select a valid choice. pigeon is not one of the available choices."),
    ("firmware_version", {"firmware_version": "5.4a"},
     "'5.4a' is not a firmware version: use numbers separated by dots, e.g. 5.40."),
    ("partitions", {"partitions_0": "1, yes", "partitions_1": ""},
     "Give partition numbers separated by commas, e.g. 1, 3."),
    ("partitions", {"partitions_0": "1, 2", "partitions_1": "2"},
     "Partition 2 cannot be both armed and disarmed."),
    ("partitions", {"partitions_0": ", ".join(str(n) for n in range(1, 66)), "partitions_1": ""},
     "More than 64 partitions."),  # the services' own rule
]


@pytest.mark.parametrize(("field", "value", "message"), REFUSED_PANEL_FIELDS)
def test_device_admin_refuses_what_the_services_refuse_on_the_field(admin_client, example, field, value, message):
    device = example.device(1220)
    response = change_form(admin_client, f"/admin/sites/device/{device.pk}/change/", "device_form", **value)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    assert Device.objects.get(pk=device.pk).channels == ["gprs"]
    assert Device.objects.get(pk=device.pk).firmware_version == "5.30"


@pytest.mark.parametrize(("field", "value", "message"), REFUSED_PANEL_FIELDS)
def test_site_admin_refuses_what_the_services_refuse_on_its_panel(admin_client, example, field, value, message):
    device = example.device(1220)
    response = change_form(admin_client, f"/admin/sites/site/{device.site.pk}/change/", "site_form",
                           **{f"device-0-{name}": posted for name, posted in value.items()})
    assert response.status_code == 200
    [formset] = response.context["inline_admin_formsets"]
    assert formset.formset.errors[0][field] == [message]
    assert Device.objects.get(pk=device.pk).firmware_version == "5.30"


def test_panel_edits_in_the_site_admin_go_through_the_service(admin_client, example):
    device = example.device(1220)
    response = change_form(admin_client, f"/admin/sites/site/{device.site.pk}/change/", "site_form",
                           **{"device-0-channels": ["sms", "ethernet"], "device-0-firmware_version": "5.40",
                              "device-0-partitions_0": "2", "device-0-partitions_1": "1, 3"})
    assert response.status_code == 302
    device.refresh_from_db()
    assert (device.channels, device.has_ip_channel, device.firmware_version) == (["ethernet", "sms"], True, "5.40")
    assert device.partitions == [{"number": 1, "armed": False}, {"number": 2, "armed": True},
                                 {"number": 3, "armed": False}]
    assert history(device) == [(CHANGE, "Changed firmware version, channels, partitions.", "root")]
    assert history(device.site) == []


def test_a_site_added_in_the_admin_gets_its_panel_and_a_target_token_shown_once(admin_client, example):
    form = form_values(admin_client.get("/admin/sites/site/add/").content, "site_form")
    response = admin_client.post("/admin/sites/site/add/", {
        **form, "receiver": example.receiver.pk, "number": 1301, "name": "Bakery", "serial": "NG001301",
        "device_type": example.nord.pk, "hardware_revision": "2.1", "firmware_version": "5.30",
        "channels": ["gprs"], "partitions_0": "1", "partitions_1": ""}, follow=True)
    site = Site.objects.get(receiver=example.receiver, number=1301)
    token = shown_token(response, "TargetToken")
    assert (site.device.serial, site.device.receiver, site.device.token_hash) == (
        "NG001301", example.receiver, token_digest(token))
    assert history(site) == [(ADDITION, "Created with panel NG001301.", "root")]
    assert token not in admin_client.get(f"/admin/sites/site/{site.pk}/change/").content.decode()


def test_a_site_added_in_the_admin_with_a_bad_channel_is_refused_on_the_field(admin_client, example):
    form = form_values(admin_client.get("/admin/sites/site/add/").content, "site_form")
    response = admin_client.post("/admin/sites/site/add/", {
        **form, "receiver": example.receiver.pk, "number": 1301, "serial": "NG001301",
        "device_type": example.nord.pk, "channels": ["pigeon"], "partitions_0": "", "partitions_1": ""})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["channels"] == [REFUSED_PANEL_FIELDS[0][2]]
    assert not Site.objects.filter(number=1301).exists()


def test_a_receiver_added_in_the_admin_gets_a_gateway_token_shown_once(admin_client):
    form = form_values(admin_client.get("/admin/receivers/receiver/add/").content, "receiver_form")
    response = admin_client.post("/admin/receivers/receiver/add/", {
        **form, "code": "south", "name": "South", "wakeup_url": "", "poll_sleep": "00:05:00"}, follow=True)
    receiver = Receiver.objects.get(code="south")
    token = shown_token(response, "Gateway token")
    assert receiver.gateway_token_hash == token_digest(token)
    assert history(receiver) == [(ADDITION, "Created.", "root")]
    assert token not in admin_client.get(f"/admin/receivers/receiver/{receiver.pk}/change/").content.decode()


def test_receiver_edits_in_the_admin_are_recorded_by_the_service(admin_client, example):
    url = f"/admin/receivers/receiver/{example.receiver.pk}/change/"
    response = change_form(admin_client, url, "receiver_form", name="North hall", poll_sleep="00:10:00")
    assert response.status_code == 302
    receiver = Receiver.objects.get(pk=example.receiver.pk)
    assert (receiver.code, receiver.name, receiver.poll_sleep.total_seconds()) == ("north", "North hall", 600)
    assert history(receiver) == [(CHANGE, "Changed name, poll sleep.", "root")]


def test_a_device_type_added_in_the_admin_is_recorded_by_the_service(admin_client, example):
    form = form_values(admin_client.get("/admin/sites/devicetype/add/").content, "devicetype_form")
    admin_client.post("/admin/sites/devicetype/add/", {**form, "code": "vega-lan", "name": "Vega LAN"})
    assert history(DeviceType.objects.get(code="vega-lan")) == [(ADDITION, "Created.", "root")]


def swu_upload(version: str) -> SimpleUploadedFile:
    out = io.BytesIO()
    build_archive(out, device_type="nord-gsm", version=version, hardware_revisions=["2.2"],
                  images=[("fw.bin", b"image" * 100)])
    return SimpleUploadedFile(f"nord-gsm-{version}.swu", out.getvalue())


# Where each entry uploads a release, and how it marks one current.
RELEASE_ENTRIES = {
    "admin": ("/admin/firmware_updates/release/add/",
              lambda pk: ("/admin/firmware_updates/release/", {"action": "mark_current", "_selected_action": [pk]})),
    "panel": ("/releases/upload/", lambda pk: (f"/releases/{pk}/mark-current/", {})),
    "api": ("/api/v1/releases/", lambda pk: (f"/api/v1/releases/{pk}/mark-current/", {})),
}


@pytest.mark.parametrize("entry", RELEASE_ENTRIES)
def test_a_release_upload_and_mark_current_are_recorded_once_whatever_the_entry(admin_client, example, entry):
    upload_url, mark_current = RELEASE_ENTRIES[entry]
    assert admin_client.post(upload_url, {"archive": swu_upload("5.50"), "description": ""}).status_code in (201, 302)
    release = Release.objects.get(version="5.50")
    assert admin_client.post(*mark_current(release.pk)).status_code in (200, 302)
    assert Release.objects.get(pk=release.pk).is_current
    assert history(release) == [(ADDITION, "Uploaded.", "root"), (CHANGE, "Marked current.", "root")]


def test_a_release_description_edited_in_the_admin_is_recorded_by_the_service(admin_client, example):
    url = f"/admin/firmware_updates/release/{example.release.pk}/change/"
    assert change_form(admin_client, url, "release_form", description="Fixes GPRS roaming").status_code == 302
    assert Release.objects.get(pk=example.release.pk).description == "Fixes GPRS roaming"
    assert history(example.release) == [(CHANGE, "Changed description.", "root")]


def test_job_and_rollout_pages_show_them_and_save_nothing(admin_client, example):
    from firmware_updates import services

    rollout, _ = services.rollout_start(receiver=example.receiver, device_type=example.nord, actor=None)
    for obj, form_id in [(example.jobs[1211], "updatejob_form"), (rollout, "rollout_form")]:
        url = f"/admin/firmware_updates/{obj._meta.model_name}/{obj.pk}/change/"
        page = admin_client.get(url)
        assert page.status_code == 200 and b'name="_save"' not in page.content, url
        # A Save would write back the whole row as read, over what the device or the run wrote since.
        assert change_form(admin_client, url, form_id).status_code == 403, url


def test_a_device_types_window_is_changed_in_the_admin_through_the_service(admin_client, example):
    url = f"/admin/sites/devicetype/{example.nord.pk}/change/"
    response = admin_client.post(url, {"name": "Nord GSM", "expected_offline_seconds": "5"})
    assert response.status_code == 200 and b"greater than or equal to 10" in response.content
    response = admin_client.post(url, {"name": "Nord GSM", "expected_offline_seconds": "300"})
    assert response.status_code == 302
    example.nord.refresh_from_db()
    assert example.nord.expected_offline_seconds == 300
    assert LogEntry.objects.filter(object_id=str(example.nord.pk),
                                   change_message="Changed expected offline (seconds).").exists()


def test_a_webhook_asking_for_an_unknown_event_type_is_refused_with_the_known_ones(admin_client, example):
    response = admin_client.post("/admin/firmware_updates/webhook/add/", {
        "receiver": example.receiver.pk, "url": "https://console.example/hook", "secret": "s", "is_active": "on",
        "types": '["job.failed", "job.exploded"]'})
    assert response.status_code == 200 and b"Unknown event type job.exploded; known: job.queued" in response.content
    response = admin_client.post("/admin/firmware_updates/webhook/add/", {
        "receiver": example.receiver.pk, "url": "https://console.example/hook", "secret": "s", "is_active": "on",
        "types": '["job.failed", "device.not_returned"]'})
    assert response.status_code == 302
