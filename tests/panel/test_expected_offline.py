"""The device type's expected offline window and the panels that did not come back, on the
device type page and the site page (docs/security-center.md). The same red notice on pages
driven by real panels, a worker and beat: tests/worker/test_alarm_centre.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sites.models import Device, DeviceType

from .html import find_all, text_of

pytestmark = pytest.mark.django_db


def test_a_manager_changes_the_window_from_the_device_type_page(example, as_manager):
    page = as_manager.get(example.page).content
    assert "Expected off the line for 180 s after an install" in text_of(page, "expected-offline")
    [link] = find_all(page, "change-expected-offline")
    form = as_manager.get(link["attrs"]["href"]).content
    [field] = find_all(form, "expected-offline-seconds")
    assert field["attrs"]["value"] == "180"
    response = as_manager.post(link["attrs"]["href"], {"expected_offline_seconds": "240"})
    assert response.status_code == 302 and response["Location"] == example.page
    assert DeviceType.objects.get(pk=example.nord.pk).expected_offline_seconds == 240
    assert "Expected off the line for 240 s" in text_of(as_manager.get(example.page).content, "expected-offline")


@pytest.mark.parametrize(("value", "words"), [("5", "At least 10 seconds"), ("86401", "At most 86400 seconds"),
                                              ("soon", "Seconds are a whole number."), ("", "Enter the seconds.")])
def test_a_bad_window_is_refused_with_the_reason(example, as_manager, value, words):
    response = as_manager.post(example.page + "expected-offline/", {"expected_offline_seconds": value})
    assert response.status_code == 400 and words in text_of(response.content, "expected-offline-error")
    assert DeviceType.objects.get(pk=example.nord.pk).expected_offline_seconds == 180


def test_a_viewer_sees_the_window_but_may_not_change_it(example, as_viewer):
    page = as_viewer.get(example.page).content
    assert "180 s" in text_of(page, "expected-offline") and not find_all(page, "change-expected-offline")
    assert as_viewer.post(example.page + "expected-offline/", {"expected_offline_seconds": "60"}).status_code == 403


def test_a_panel_that_did_not_come_back_is_red_on_both_pages(example, as_viewer):
    since = timezone.now() - timedelta(minutes=7)
    Device.objects.filter(pk=example.device(1211).pk).update(
        install_offline_since=since, install_offline_until=since + timedelta(seconds=180), not_returned_since=since)
    words = f"did not come back after the update (since {timezone.localtime(since):%H:%M})"
    page = as_viewer.get(example.page).content
    [panel] = find_all(page, "not-returned-panel")
    assert panel["attrs"]["data-serial"] == "NG001211" and words in panel["text"]
    assert [n["text"] for n in find_all(page, "not-returned")] == [f"Not back {words}"]
    site = as_viewer.get("/receivers/north/sites/1211/").content
    assert text_of(site, "not-returned") == f"Not back {words}"
    assert not find_all(as_viewer.get("/receivers/north/sites/1212/").content, "not-returned")
