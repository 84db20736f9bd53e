"""The three actions of the device type page: queue one site, update all sites, cancel."""

import pytest

from firmware_updates.models import JobState, Rollout, UpdateJob
from tests.factories import DeviceFactory, DeviceTypeFactory, ReleaseFactory

from .conftest import signed_in
from .html import find_all, text_of, texts_of

pytestmark = pytest.mark.django_db
S = JobState
HTMX = {"HTTP_HX_REQUEST": "true"}


def cancel_url(example):
    return f"/receivers/{example.receiver.code}/update-jobs/cancel/"


# --- Update using site number... ------------------------------------------------------------

def test_queueing_a_site_with_htmx_adds_it_and_says_so(example, as_engineer, engineer):
    response = as_engineer.post(example.page + "queue/", {"site_number": "1220"}, **HTMX)
    assert response.status_code == 200
    job = UpdateJob.objects.get(device=example.device(1220))
    assert (job.state, job.release, job.created_by) == (S.QUEUED, example.release, engineer)
    html = response.content.decode()
    assert texts_of(html, "message") == ["Site 1220 added to the update queue"]
    assert 'id="messages" class="messages" aria-live="polite" hx-swap-oob="true"' in html
    # The dialog closes and the list refreshes itself.
    assert "dialogs-close" in response["HX-Trigger"] and "panel-refresh" in response["HX-Trigger"]
    assert not find_all(html, "queue-site-error")


def test_after_queueing_the_site_is_yellow(example, as_engineer):
    as_engineer.post(example.page + "queue/", {"site_number": "1220"}, **HTMX)
    html = as_engineer.get(example.page, {"q": "1220"}).content
    [row] = find_all(html, "site-row")
    assert row["attrs"]["data-badge"] == "yellow"
    assert text_of(html, "job-state") == "Queued"
    assert text_of(html, "count-yellow") == "5" and text_of(html, "count-red") == "5"


def test_queueing_without_javascript_redirects_with_the_message(example, as_engineer):
    response = as_engineer.post(example.page + "queue/", {"site_number": "1220"}, follow=True)
    assert response.redirect_chain == [(example.page, 302)]
    assert texts_of(response.content, "message") == ["Site 1220 added to the update queue"]


@pytest.mark.parametrize(("number", "words"), [
    ("1215", "Site 1215 has no GPRS or Ethernet channel."),
    ("1216", "Hardware revision 1.0 of Site 1216 is not supported by Nord GSM 5.40 (supports 2.1, 2.2)."),
    ("1201", "Site 1201 already runs 5.40."),
    ("1213", "Site 1213 is already being updated."),
    ("9999", "Site 9999 does not exist on receiver north."),
    ("abc", "A site number is digits only."),
    ("", "Enter the site number."),
])
def test_a_refused_site_shows_the_reason_in_the_dialog(example, as_engineer, number, words):
    before = UpdateJob.objects.count()
    response = as_engineer.post(example.page + "queue/", {"site_number": number}, **HTMX)
    assert response.status_code == 200
    assert texts_of(response.content, "queue-site-error") == [words]
    assert "HX-Trigger" not in response  # the dialog stays open
    assert UpdateJob.objects.count() == before


def test_a_site_of_another_device_type_is_refused_not_updated_to_its_own_release(example, as_engineer):
    lan = DeviceTypeFactory(code="nord-lan", name="Nord LAN")
    ReleaseFactory(device_type=lan, version="3.12")
    DeviceFactory(site__receiver=example.receiver, site__number=3001, device_type=lan, firmware_version="3.10")
    response = as_engineer.post(example.page + "queue/", {"site_number": "3001"}, **HTMX)
    assert texts_of(response.content, "queue-site-error") == ["Site 3001 is a Nord LAN, not a Nord GSM."]


def test_refusal_without_javascript_renders_the_form_page_with_the_reason(example, as_engineer):
    response = as_engineer.post(example.page + "queue/", {"site_number": "1215"})
    assert response.status_code == 200
    assert texts_of(response.content, "queue-site-error") == ["Site 1215 has no GPRS or Ethernet channel."]
    assert b"<html" in response.content


def test_the_queue_form_is_a_page_of_its_own_without_javascript(example, as_engineer):
    response = as_engineer.get(example.page + "queue/")
    assert response.status_code == 200
    assert find_all(response.content, "queue-site-form")


# --- Update software at all sites -------------------------------------------------------------

def test_update_all_starts_a_rollout_that_queues_the_eligible_outdated_sites(
    example, as_manager, manager, eager_celery, django_capture_on_commit_callbacks
):
    # One click, the default waves: of the 4 eligible red sites a canary of 1 first, then the other 3.
    with django_capture_on_commit_callbacks(execute=True):
        response = as_manager.post(example.page + "update-all/", **HTMX)
    assert response.status_code == 200
    assert "dialogs-close" in response["HX-Trigger"]
    [message] = texts_of(response.content, "message")
    assert message == ("Updating all sites to version 5.40 in 2 waves: wave 1 is being queued; each next wave "
                       "starts once the one before succeeded.")
    rollout = Rollout.objects.get()
    assert (rollout.state, rollout.created_by, rollout.eligible, rollout.queued, rollout.current_wave) == (
        Rollout.State.RUNNING, manager, 4, 1, 1)
    assert [(w.number, w.size) for w in rollout.waves.all()] == [(1, 1), (2, 3)]
    [canary] = UpdateJob.objects.filter(rollout=rollout).values_list("device__site__number", flat=True)
    assert canary in {1217, 1218, 1219, 1220}
    html = as_manager.get(example.page).content
    [panel] = find_all(html, "rollout-panel")
    assert panel["attrs"]["data-state"] == "running"
    assert text_of(html, "rollout-status") == "Running — wave 1 of 2"
    assert text_of(html, "rollout-queued") == "1"
    assert text_of(html, "count-yellow") == "5" and text_of(html, "count-red") == "5"


def test_update_all_in_one_wave_queues_every_eligible_outdated_site_and_counts_the_skipped(
    example, as_manager, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        as_manager.post(example.page + "update-all/", {"waves": "100"}, **HTMX)
    rollout = Rollout.objects.get()
    assert (rollout.state, rollout.queued) == (Rollout.State.RUNNING, 4)
    queued = set(UpdateJob.objects.filter(rollout=rollout).values_list("device__site__number", flat=True))
    assert queued == {1217, 1218, 1219, 1220}
    html = as_manager.get(example.page).content
    assert text_of(html, "rollout-status") == "Running — wave 1 of 1"
    assert text_of(html, "rollout-queued") == "4"
    skipped = text_of(html, "rollout-skipped-reasons")
    assert "10 already current" in skipped and "4 already being updated" in skipped
    assert "1 no GPRS or Ethernet channel" in skipped and "1 hardware revision not supported" in skipped
    assert text_of(html, "count-yellow") == "8" and text_of(html, "count-red") == "2"


def test_rollout_panel_counts_finished_jobs_and_the_rest_as_in_progress(
    example, as_manager, eager_celery, django_capture_on_commit_callbacks
):
    from firmware_updates import services

    with django_capture_on_commit_callbacks(execute=True):
        as_manager.post(example.page + "update-all/", {"waves": "100"}, **HTMX)
    jobs = list(UpdateJob.objects.filter(rollout__isnull=False).order_by("pk"))
    assert len(jobs) == 4
    services.job_apply_feedback(job=jobs[0], execution="closed", finished="success", progress=None, details=[])
    services.job_apply_feedback(job=jobs[1], execution="closed", finished="failure", progress=None, details=["x"])
    services.update_job_cancel(job=jobs[2], actor=None)
    html = as_manager.get(example.page).content
    assert text_of(html, "rollout-done") == "1"
    assert " ".join(text_of(html, "rollout-outcomes").split()) == "1 in progress · 1 failed · 1 cancelled"


def test_update_all_twice_joins_the_open_rollout(example, as_manager):
    # Without an eager worker the rollout stays open: a second request joins it.
    as_manager.post(example.page + "update-all/", **HTMX)
    response = as_manager.post(example.page + "update-all/", **HTMX)
    assert Rollout.objects.count() == 1
    assert texts_of(response.content, "message") == [
        "An update of all sites is already running; its progress is shown below."]
    [panel] = find_all(as_manager.get(example.page).content, "rollout-panel")
    assert panel["attrs"]["data-state"] == "pending"


def test_update_all_without_a_current_release_is_refused_in_words(db, as_manager):
    nord = DeviceTypeFactory()
    ReleaseFactory(device_type=nord, is_current=False)
    device = DeviceFactory(device_type=nord)
    page = f"/receivers/{device.receiver.code}/software-update/{nord.code}/"
    response = as_manager.post(page + "update-all/", **HTMX)
    assert texts_of(response.content, "update-all-error") == ["Nord GSM has no current release."]
    assert not Rollout.objects.exists()


def test_update_all_is_a_page_of_its_own_without_javascript(example, as_manager, as_engineer):
    response = as_manager.get(example.page + "update-all/")
    assert response.status_code == 200
    assert text_of(response.content, "update-all-count") == "4"
    assert as_engineer.get(example.page + "update-all/").status_code == 403


def test_update_all_without_javascript_redirects_to_the_page(example, as_manager):
    response = as_manager.post(example.page + "update-all/")
    assert response.status_code == 302 and response["Location"] == example.page


# --- Cancel update... --------------------------------------------------------------------------

def test_cancelling_a_queued_update_cancels_it_at_once(example, as_engineer):
    job = example.jobs[1211]
    response = as_engineer.post(cancel_url(example), {"job": job.pk}, **HTMX)
    assert response.status_code == 200
    assert texts_of(response.content, "message") == ["Update of site 1211 cancelled."]
    assert "panel-refresh" in response["HX-Trigger"]
    job.refresh_from_db()
    assert job.state == S.CANCELLED


def test_cancelling_a_download_waits_for_the_device(example, as_engineer):
    job = example.jobs[1213]
    response = as_engineer.post(cancel_url(example), {"job": job.pk}, **HTMX)
    assert texts_of(response.content, "message") == [
        "Cancelling the update of site 1213; waiting for the device to confirm."]
    job.refresh_from_db()
    assert job.state == S.CANCELLING


def test_cancel_is_refused_once_the_device_has_downloaded_the_update(example, as_engineer):
    job = example.jobs[1214]
    response = as_engineer.post(cancel_url(example), {"job": job.pk}, **HTMX)
    assert response.status_code == 200
    assert texts_of(response.content, "cancel-error") == [
        "The device has already downloaded the update; it can no longer be cancelled."]
    assert "HX-Trigger" not in response
    job.refresh_from_db()
    assert job.state == S.DOWNLOADED


def test_cancel_refusal_without_javascript_shows_the_reason_on_the_page(example, as_engineer):
    response = as_engineer.post(cancel_url(example), {"job": example.jobs[1214].pk})
    assert texts_of(response.content, "cancel-error") == [
        "The device has already downloaded the update; it can no longer be cancelled."]


def test_cancel_confirmation_page_names_the_site_and_returns_there(example, as_engineer):
    job = example.jobs[1212]
    page = as_engineer.get(cancel_url(example), {"job": job.pk, "next": example.page})
    assert page.status_code == 200 and b"site 1212" in page.content
    response = as_engineer.post(cancel_url(example), {"job": job.pk, "next": example.page})
    assert response.status_code == 302 and response["Location"] == example.page


def test_cancel_of_another_receivers_job_is_refused(example, as_engineer):
    other = DeviceFactory(device_type=example.nord)
    job = UpdateJob.objects.create(device=other, release=example.release)
    response = as_engineer.post(cancel_url(example), {"job": job.pk}, **HTMX)
    assert texts_of(response.content, "cancel-error") == ["This update no longer exists."]
    job.refresh_from_db()
    assert job.state == S.QUEUED


# --- Permissions and CSRF -------------------------------------------------------------------------

def test_a_viewers_posts_are_refused(example, as_viewer):
    cases = [
        (example.page + "queue/", {"site_number": "1220"}),
        (example.page + "update-all/", {}),
        (cancel_url(example), {"job": example.jobs[1211].pk}),
        ("/releases/upload/", {}),
        (f"/releases/{example.release.pk}/mark-current/", {}),
    ]
    for url, data in cases:
        assert as_viewer.post(url, data).status_code == 403, url
        assert as_viewer.post(url, data, **HTMX).status_code == 403, url
    assert not UpdateJob.objects.filter(device=example.device(1220)).exists()
    assert not Rollout.objects.exists()
    assert UpdateJob.objects.get(pk=example.jobs[1211].pk).state == S.QUEUED


def test_an_engineer_may_not_update_all_sites(example, as_engineer):
    response = as_engineer.post(example.page + "update-all/")
    assert response.status_code == 403
    assert b"start rollouts" in response.content
    assert not Rollout.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(example, engineer):
    client = signed_in(engineer, enforce_csrf_checks=True)
    response = client.post(example.page + "queue/", {"site_number": "1220"}, **HTMX)
    assert response.status_code == 403
    assert not UpdateJob.objects.filter(device=example.device(1220)).exists()


def test_a_post_with_the_csrf_header_htmx_sends_is_accepted(example, engineer):
    client = signed_in(engineer, enforce_csrf_checks=True)
    page = client.get(example.page)
    # The token on <body hx-headers> is the one htmx sends as X-CSRFToken.
    [body_headers] = [line for line in page.content.decode().splitlines() if "<body hx-headers=" in line]
    token = body_headers.split('"X-CSRFToken": "')[1].split('"')[0]
    response = client.post(example.page + "queue/", {"site_number": "1220"}, HTTP_X_CSRFTOKEN=token, **HTMX)
    assert response.status_code == 200
    assert UpdateJob.objects.filter(device=example.device(1220)).exists()


def test_every_form_on_the_page_carries_the_csrf_token(example, as_manager):
    html = as_manager.get(example.page).content.decode()
    forms = html.count("<form")
    assert forms >= 4  # search (GET), queue, update all, cancel
    assert html.count('name="csrfmiddlewaretoken"') >= forms - 1  # all but the GET search
