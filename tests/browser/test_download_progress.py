"""Download progress as an engineer watches it: the row shows the speed and the time left,
measured from the bytes the panel confirmed (its resumes and its progress reports), and after
a cancel what the panel had actually received."""

import re

import pytest
from django.template.defaultfilters import filesizeformat
from playwright.sync_api import expect

from core.permissions import ENGINEERS
from firmware_updates import services
from firmware_updates.models import JobState, UpdateJob

from .conftest import operator
from .panels import SERIAL, live_fleet, panel_spec
from .ui import open_cancel_dialog, sign_in, site_row

pytestmark = [pytest.mark.browser, pytest.mark.live]
ALL_ARMED = [{"number": 1, "armed": True}, {"number": 2, "armed": True}]
# About 20 KB/s, the link dropping every 32 KiB (so the panel resumes and confirms often): the
# 300 KiB archive takes some 15 s.
SLOW_LINK = {"preset": "gprs", "bandwidth": 20_000, "latency": 0.05, "drop_every_kib": 32}
RATE = re.compile(r"^(\d+(?:\.\d+)?)\sKB/s · (less than a minute|about \d+ min) left$")


def test_the_row_shows_speed_and_time_left_and_after_a_cancel_what_was_received(page, north):
    engineer = operator(ENGINEERS, "erik")
    job = services.update_job_create(receiver=north.receiver, site_number=101, actor=engineer)
    sign_in(page, engineer)
    page.goto(north.page)
    row = site_row(page, 101)

    spec = panel_spec(north, partitions=ALL_ARMED, link=SLOW_LINK, reboot_seconds=2)
    with live_fleet(north, [spec]) as fleet:
        rate = row.get_by_test_id("job-rate")
        expect(rate).to_have_text(RATE, timeout=30_000)
        speed = float(RATE.match(rate.inner_text().strip()).group(1))
        assert 8 <= speed <= 25, f"{speed} KB/s measured on a link of about 19.5 KB/s"
        fleet.wait_until(lambda: UpdateJob.objects.get(pk=job.pk).bytes_downloaded > 64 * 1024, timeout=30,
                         what="a good part downloaded")

        dialog = open_cancel_dialog(page, 101)
        dialog.get_by_test_id("cancel-submit").click()
        fleet.wait_until(lambda: UpdateJob.objects.get(pk=job.pk).state == JobState.CANCELLED, timeout=30,
                         what="the panel acknowledged the cancel")
        job.refresh_from_db()
        assert 64 * 1024 < job.bytes_downloaded < job.bytes_total
        expect(row).to_have_attribute("data-badge", "red")
        expect(row.get_by_test_id("red-reason")).to_have_text(
            f"Last update was cancelled after {filesizeformat(job.bytes_downloaded)} of "
            f"{filesizeformat(job.bytes_total)} were received.".replace("\xa0", " "))
        assert fleet.panels[SERIAL].firmware_version == "5.30"
