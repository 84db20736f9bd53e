"""Issue 12 on the Releases page: a manager adds a delta to a release from the browser; the
page lists it with its share of the full archive, and passes axe-core's WCAG 2.1 AA checks."""

import io
import random

import pytest
from playwright.sync_api import expect

from core.permissions import MANAGERS
from firmware_updates import services
from firmware_updates.swu import build_archive, build_delta_archive
from sites.models import DeviceType

from .conftest import operator
from .ui import assert_accessible, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_a_manager_adds_a_delta_and_sees_it_listed(page, tmp_path, transactional_db):
    from django.core.files.base import ContentFile

    DeviceType.objects.create(code="nord-gsm", name="Nord GSM")
    base = random.Random(530).randbytes(120_000)
    image = base[:60_000] + b"fixed" * 100 + base[60_000:]
    for version, data in (("5.30", base), ("5.40", image)):
        out = io.BytesIO()
        build_archive(out, device_type="nord-gsm", version=version, hardware_revisions=["2.1"],
                      images=[("fw.bin", data)])
        release = services.release_create(archive=ContentFile(out.getvalue(), name=f"nord-gsm-{version}.swu"))
    delta = tmp_path / "nord-gsm-5.40-from-5.30.swu"
    with open(delta, "wb") as out:
        build_delta_archive(out, device_type="nord-gsm", version="5.40", hardware_revisions=["2.1"],
                            base_version="5.30", base_image=base, image=image, filename="fw.bin.rdiff",
                            base_device="/dev/mmcblk0p2")
    sign_in(page, operator(MANAGERS, "maria"))
    page.goto("/releases/")
    row = page.locator('[data-testid="release-row"][data-version="5.40"]')

    row.get_by_test_id("add-delta").locator("summary").click()
    row.get_by_test_id("delta-archive").set_input_files(str(delta))
    assert_accessible(page, "releases page, adding a delta")
    row.get_by_test_id("delta-submit").click()

    expect(page.get_by_test_id("message").first).to_contain_text("Delta from 5.30 added to Nord GSM 5.40")
    listed = page.locator('[data-testid="release-row"][data-version="5.40"] [data-testid="release-delta"]')
    expect(listed).to_contain_text("Delta from 5.30")
    assert release.deltas.count() == 1
    assert_accessible(page, "releases page with a delta")
