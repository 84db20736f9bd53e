"""The pictures the README shows, taken from the real pages of a seeded receiver.

With UPDATE_SCREENSHOTS=1 they are written to docs/ (commit them); otherwise to the test's
tmp_path, so ordinary runs leave the repository clean.
"""

import os
import struct
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.permissions import ENGINEERS, MANAGERS

from .conftest import VIEWPORT, operator
from .showcase import seed_showcase
from .ui import counts, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.live]
DOCS = Path(__file__).resolve().parents[2] / "docs"


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_screenshots_of_the_site_software_update_tab_and_the_device_type_page(page, eager_celery, tmp_path):
    manager = operator(MANAGERS, "maria")
    seed_showcase(manager=manager, engineer=operator(ENGINEERS, "erik"))
    folder = DOCS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    sign_in(page, manager)

    page.goto("/receivers/central/software-update/")
    rows = page.get_by_test_id("stats-row")
    expect(rows).to_have_count(5)
    gsm = counts(rows.filter(has_text="Nord GSM"))
    assert int(gsm["green"]) and int(gsm["yellow"]) and int(gsm["red"]), gsm
    tab = folder / "screenshot.png"
    page.screenshot(path=tab, animations="disabled")

    rows.filter(has_text="Nord GSM").get_by_test_id("update-device-type").click()
    expect(page.get_by_test_id("rollout-panel")).to_be_visible()
    expect(page.get_by_test_id("job-bytes").first).to_be_visible()
    device_type = folder / "screenshot-device-type.png"
    page.screenshot(path=device_type, animations="disabled")

    for path in (tab, device_type):
        assert png_size(path) == (VIEWPORT["width"], VIEWPORT["height"])
