"""Django admin: every model's list renders; writes go through the services."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from firmware_updates.models import JobState, Release, Rollout, UpdateJobEvent
from firmware_updates.swu import build_archive

from .conftest import operator, signed_in

pytestmark = pytest.mark.django_db
S = JobState


@pytest.fixture
def admin_client(example):
    return signed_in(operator(None, username="root", is_staff=True, is_superuser=True))


CHANGELISTS = ["receivers/receiver", "sites/devicetype", "sites/site", "sites/device", "firmware_updates/release",
               "firmware_updates/updatejob", "firmware_updates/rollout"]


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
    old = Release.objects.get(version="5.30")
    admin_client.post("/admin/firmware_updates/release/", {"action": "mark_current", "_selected_action": [old.pk]})
    assert Release.objects.get(is_current=True) == old


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
