"""The site page: panel facts, partitions, the active update and its timeline."""

from datetime import timedelta

import pytest
from django.utils import timezone

from firmware_updates import services
from firmware_updates.models import JobState
from sites.models import Device

from .html import find_all, text_of, texts_of

pytestmark = pytest.mark.django_db
S = JobState
HTMX = {"HTTP_HX_REQUEST": "true"}


def site_url(example, number):
    return f"/receivers/{example.receiver.code}/sites/{number}/"


def test_site_page_shows_the_panel_facts_and_partitions(example, as_viewer):
    html = as_viewer.get(site_url(example, 1213)).content
    assert text_of(html, "device-serial") == "NG001213"
    assert text_of(html, "device-hardware") == "2.1"
    assert text_of(html, "device-firmware") == "5.30"
    assert text_of(html, "partitions") == "Partition 1 Armed Partition 2 Disarmed"
    [badge] = find_all(html, "badge")
    assert badge["attrs"]["data-badge"] == "yellow"
    assert texts_of(html, "online") == ["Online"]


def test_site_page_says_when_the_panel_last_reported_its_version(example, as_viewer):
    Device.objects.filter(serial="NG001213").update(attributes_at=None)
    html = as_viewer.get(site_url(example, 1213)).content
    assert text_of(html, "device-firmware-reported") == "never reported by the panel"

    Device.objects.filter(serial="NG001213").update(attributes_at=timezone.now() - timedelta(hours=3))
    html = as_viewer.get(site_url(example, 1213)).content
    assert text_of(html, "device-firmware-reported") == "reported by the panel 3 hours ago"


def test_site_page_shows_the_active_update_with_progress(example, as_viewer):
    html = as_viewer.get(site_url(example, 1213)).content
    assert text_of(html, "job-state") == "Downloading"
    assert text_of(html, "job-percent") == "40%"
    [live] = find_all(html, "site-live")
    assert live["attrs"]["data-live"] == "true"
    assert live["attrs"]["hx-trigger"].startswith("every 4s")


def test_timeline_lists_every_event_with_who_and_what(example, as_engineer, engineer):
    job = services.update_job_create(receiver=example.receiver, site_number=1220, actor=engineer)
    services.job_deployment_fetched(job=job)
    services.job_apply_feedback(job=job, execution="proceeding", finished="none", progress=None, details=[])
    services.job_apply_feedback(job=job, execution="closed", finished="failure", progress=None,
                                details=["flash write error"])
    html = as_engineer.get(site_url(example, 1220)).content
    [entry] = find_all(html, "timeline-job")
    assert entry["attrs"]["data-job"] == str(job.pk)
    assert texts_of(html, "event-actor") == ["erik", "panel", "panel", "panel"]
    assert texts_of(html, "event-sentence") == [
        "Queued for update to 5.40", "Panel received the update command", "Panel started downloading",
        "Update failed"]
    events = texts_of(html, "timeline-event")
    assert "The panel says: flash write error" in events[3]
    assert text_of(html, "job-reason") == "flash write error"
    # What the panel sent is one click away, as it came.
    raw = texts_of(html, "raw-report")
    assert len(raw) == 2 and '"execution": "closed"' in raw[1] and '"flash write error"' in raw[1]


def test_the_devices_install_log_is_on_the_timeline_once(example, as_engineer, engineer):
    """SWUpdate forwards its install log as `proceeding` feedback that moves no state."""
    job = services.update_job_create(receiver=example.receiver, site_number=1220, actor=engineer)
    services.job_deployment_fetched(job=job)
    services.job_apply_feedback(job=job, execution="downloaded", finished="none", progress=None, details=[])
    report = dict(execution="proceeding", finished="none", progress=None)
    services.job_apply_feedback(job=job, **report, details=[])
    services.job_apply_feedback(job=job, **report, details=["Installing image rootfs.img"])
    services.job_apply_feedback(job=job, **report, details=["Installing image rootfs.img"])  # a GPRS retry
    services.job_apply_feedback(job=job, **report, details=[])  # progress only: on the bar, not here
    services.job_apply_feedback(job=job, **report, details=["Image rootfs.img installed"])
    html = as_engineer.get(site_url(example, 1220)).content
    events = texts_of(html, "timeline-event")
    assert texts_of(html, "event-sentence")[3] == "Partition disarmed: panel installs the update and restarts"
    assert ["Installing image rootfs.img" in e for e in events[4:]] == [True, False]
    assert "Image rootfs.img installed" in events[5]


def test_a_red_site_offers_update_to_an_engineer_and_the_dialog_queues_it(example, as_engineer):
    html = as_engineer.get(site_url(example, 1220)).content
    [button] = find_all(html, "open-queue-site")
    assert button["text"] == "Update site..."
    [number] = find_all(html, "queue-site-number")
    assert number["attrs"]["value"] == "1220"
    response = as_engineer.post(example.page + "queue/", {"site_number": "1220", "next": site_url(example, 1220)})
    assert response.status_code == 302 and response["Location"] == site_url(example, 1220)


def test_no_update_button_where_it_cannot_succeed(example, as_engineer):
    for number in (1201, 1213, 1215):  # current, updating, no IP channel
        assert not find_all(as_engineer.get(site_url(example, number)).content, "open-queue-site"), number


def test_not_eligible_site_says_why(example, as_viewer):
    html = as_viewer.get(site_url(example, 1215)).content
    assert text_of(html, "red-reason") == "Not eligible Site 1215 has no GPRS or Ethernet channel."


def test_cancel_from_the_site_page_is_offered_while_cancellable(example, as_engineer):
    html = as_engineer.get(site_url(example, 1212)).content
    [cancel] = find_all(html, "cancel-update")
    assert cancel["attrs"]["data-cancel-job"] == str(example.jobs[1212].pk)
    html = as_engineer.get(site_url(example, 1214)).content
    assert not find_all(html, "cancel-update")
    assert b"it can no longer be cancelled" in html


def test_site_page_htmx_refresh_returns_only_the_live_region(example, as_viewer):
    response = as_viewer.get(site_url(example, 1213), **HTMX)
    assert response.content.lstrip().startswith(b'<div id="site-live"')
    assert b"<html" not in response.content


def test_a_finished_site_stops_polling_quickly(example, as_viewer):
    [live] = find_all(as_viewer.get(site_url(example, 1201)).content, "site-live")
    assert live["attrs"]["data-live"] == "false"
    assert live["attrs"]["hx-trigger"].startswith("every 30s")


def test_site_page_flags_a_retry_storm_of_the_active_update(example, as_viewer, settings):
    settings.DDI_DOWNLOAD_BUDGET_ARCHIVES = 1
    job = example.jobs[1213]
    assert 'data-testid="download-storm"' not in as_viewer.get(site_url(example, 1213)).content.decode()
    size = job.bytes_total
    assert services.job_download_admit(job=job, size=size, first=0, last=size - 1) is None
    assert services.job_download_admit(job=job, size=size, first=0, last=size - 1) is not None
    assert services.job_download_admit(job=job, size=size, first=0, last=0) is not None

    html = as_viewer.get(site_url(example, 1213)).content.decode()
    assert 'data-testid="download-storm"' in html and "more than 1 archives" in html
    assert html.count("more than 1 archives") == 2  # the flag, and the one event on the timeline
