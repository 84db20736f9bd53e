"""What a rollout would send, on the device type page and in "Update software at all sites":
bytes with deltas against full archives, and one panel's time on GPRS."""

import pytest

from firmware_updates import services
from firmware_updates.models import JobState, ReleaseDelta
from firmware_updates.selectors import receiver_firmware_stats, rollout_transfer
from tests.factories import DeviceFactory, DeviceTypeFactory, ReceiverFactory, ReleaseFactory

from .html import find_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def delta_fleet(settings):
    """Not the shared `fleet`: panels on three versions, a delta from 5.30, one not eligible."""
    settings.FIRMWARE_GPRS_BYTES_PER_SECOND = 5000
    receiver = ReceiverFactory(code="north")
    nord = DeviceTypeFactory(code="nord-gsm", name="Nord GSM")
    release = ReleaseFactory(device_type=nord, version="5.40", is_current=True, size=300_000)
    ReleaseDelta.objects.create(release=release, base_version="5.30", base_sha256="0" * 64, filename="d.swu",
                                archive="releases/d.swu", size=30_000, sha256="1" * 64, sha1="2" * 40, md5="3" * 32)
    on_base = [DeviceFactory(site__receiver=receiver, device_type=nord, firmware_version="5.30") for _ in range(3)]
    DeviceFactory(site__receiver=receiver, device_type=nord, firmware_version="5.20")
    DeviceFactory(site__receiver=receiver, device_type=nord, firmware_version="5.40")  # current: not sent anything
    DeviceFactory(site__receiver=receiver, device_type=nord, firmware_version="5.30", channels=["sms"])  # not eligible
    return receiver, nord, release, on_base


def test_device_type_page_and_update_all_say_what_the_rollout_sends(delta_fleet, as_manager):
    receiver, nord, release, _ = delta_fleet
    page = as_manager.get(f"/receivers/north/software-update/{nord.code}/").content
    dialog = as_manager.get(f"/receivers/north/software-update/{nord.code}/update-all/").content

    [summary] = find_all(page, "transfer")
    [plan] = find_all(dialog, "update-all-bytes")
    for found in (summary, plan):
        # Three panels on 5.30 get the delta, the one on 5.20 the full archive.
        assert found["attrs"]["data-bytes"] == str(3 * 30_000 + 300_000)
        assert found["attrs"]["data-full-bytes"] == str(4 * 300_000)
        text = " ".join(found["text"].split())
        assert "deltas save 68 % of the bytes" in text
        assert "3 panels get a delta of at most 29.3 KB: about 6 s each on GPRS." in text
        assert "1 panel gets the full archive of 293.0 KB: about 1 min on GPRS." in text


def test_a_panel_whose_delta_failed_is_counted_with_the_full_archive(delta_fleet, as_manager):
    receiver, nord, release, on_base = delta_fleet
    job = services.update_job_create(receiver=receiver, site_number=on_base[0].site.number, actor=None)
    # As the device's closing failure leaves it (job_transition also clears the active job).
    services.job_transition(job_id=job.pk, to_state=JobState.FAILED, actor=services.ACTOR_DEVICE,
                            delta=release.deltas.get())

    page = as_manager.get(f"/receivers/north/software-update/{nord.code}/").content

    [summary] = find_all(page, "transfer")
    assert summary["attrs"]["data-bytes"] == str(2 * 30_000 + 2 * 300_000)


def test_a_panel_without_a_site_is_sent_the_release_but_not_counted_as_a_site(delta_fleet, as_manager):
    """A rollout queues a panel a gateway registered without a site (it has no site to forbid
    it): the transfer counts it, from the statistics' own pass, which count sites only."""
    receiver, nord, release, _ = delta_fleet
    DeviceFactory(site=None, receiver=receiver, device_type=nord, firmware_version="5.30")

    [stats] = receiver_firmware_stats(receiver=receiver, device_type=nord, facets=True, transfer=True)

    assert stats.total == 6
    assert (stats.transfer.panels, stats.transfer.delta_panels) == (5, 4)
    assert stats.transfer == rollout_transfer(receiver=receiver, device_type=nord, release=release)
    page = as_manager.get(f"/receivers/north/software-update/{nord.code}/").content
    [summary] = find_all(page, "transfer")
    assert summary["attrs"]["data-bytes"] == str(4 * 30_000 + 300_000)


def test_the_statistics_transfer_equals_the_transfer_asked_alone(delta_fleet):
    receiver, nord, release, on_base = delta_fleet
    job = services.update_job_create(receiver=receiver, site_number=on_base[1].site.number, actor=None)
    services.job_transition(job_id=job.pk, to_state=JobState.FAILED, actor=services.ACTOR_DEVICE,
                            delta=release.deltas.get())

    [stats] = receiver_firmware_stats(receiver=receiver, device_type=nord, facets=True, transfer=True)

    assert (stats.transfer.panels, stats.transfer.delta_panels, stats.transfer.largest_delta) == (4, 2, 30_000)
    assert stats.transfer == rollout_transfer(receiver=receiver, device_type=nord, release=release)
