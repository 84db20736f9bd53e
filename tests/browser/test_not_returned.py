"""A panel that does not come back after its install turns red on the device type page and on
the site page by itself, and back when it returns (docs/security-center.md). Beat's
reconciliation is called in place here; through a real worker and beat:
tests/worker/test_alarm_centre.py."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from core.permissions import VIEWERS
from firmware_updates import services
from sites.models import Device, DeviceType

from .conftest import operator
from .panels import PANEL_FIELDS, SERIAL, live_fleet, panel_spec
from .ui import assert_accessible, sign_in, site_row

pytestmark = [pytest.mark.browser, pytest.mark.live]
WINDOW = 10  # seconds: the shortest window a device type may have


def test_a_panel_that_does_not_come_back_turns_red_and_back_by_itself(page, north):
    DeviceType.objects.filter(pk=north.device_type.pk).update(expected_offline_seconds=WINDOW)
    north.queue(101)
    # 40 simulated seconds off the line after the install: 20 s of the test's time.
    spec = panel_spec(north, **PANEL_FIELDS, faults={"offline_after_install": 40})
    with live_fleet(north, [spec]) as fleet:
        sign_in(page, operator(VIEWERS, "vera"))
        page.goto(north.page)
        row = site_row(page, 101)
        def window_over():
            until = Device.objects.get(serial=SERIAL).install_offline_until
            return until is not None and until < timezone.now()

        fleet.wait_until(window_over, timeout=60, what="the panel's window to pass")
        assert services.devices_not_returned() == 1  # beat's reconciliation
        since = timezone.localtime(Device.objects.get(serial=SERIAL).not_returned_since)
        words = f"did not come back after the update (since {since:%H:%M})"
        expect(row.get_by_test_id("not-returned")).to_have_text(f"Not back {words}", timeout=10_000)
        expect(page.get_by_test_id("not-returned-panel")).to_contain_text(words)
        assert_accessible(page, "device type page with a panel that did not come back")

        page.goto("/receivers/north/sites/101/")
        expect(page.get_by_test_id("not-returned")).to_have_text(f"Not back {words}")
        assert_accessible(page, "site page of a panel that did not come back")
        # It comes back, reports its success: the page says so without a reload.
        expect(page.get_by_test_id("not-returned")).to_have_count(0, timeout=45_000)
        expect(page.get_by_test_id("device-firmware")).to_have_text("5.40", timeout=30_000)
