"""The seed's story with simulated panels on unstable links, against the live server.

Each test queues a site the way an operator does (services.update_job_create) and lets
fleetsim panels do the rest over HTTP: poll, download in parts, check, wait for a disarmed
partition (and the install window), reboot, report.
"""

import time

import pytest

from firmware_updates import services
from firmware_updates.errors import UpdateNotAllowed
from firmware_updates.models import JobState, UpdateJob
from fleetsim import Fleet
from sites.models import Device
from tests.ddi.conftest import install_window, set_receiver_window

from .conftest import SERIAL, add_panel, panel_spec, run_fleet

pytestmark = pytest.mark.live
S = JobState


def job_state(job) -> str:
    return UpdateJob.objects.values_list("state", flat=True).get(pk=job.pk)


def wait_job(fleet, job, *states, timeout=60):
    fleet.wait_until(lambda: job_state(job) in states, timeout=timeout)
    return UpdateJob.objects.get(pk=job.pk)


def test_panel_updates_over_a_link_dropping_every_64_kib(world):
    job = world.queue(101)
    spec = panel_spec(world, link={"preset": "unlimited", "bandwidth": 400_000, "drop_every_kib": 64})
    with run_fleet(world, [spec]) as fleet:
        panel = fleet.panel(SERIAL)
        job = wait_job(fleet, job, S.SUCCEEDED, S.FAILED)
        fleet.wait_until(lambda: UpdateJob.objects.get(pk=job.pk).confirmed_at, timeout=30)
    job = UpdateJob.objects.get(pk=job.pk)
    assert job.state == S.SUCCEEDED and job.warnings == []
    assert job.bytes_downloaded == world.release.size
    assert panel.drops >= 2, "the link must have dropped mid-download"
    assert panel.artifact_bytes_received <= 1.05 * world.release.size
    device = Device.objects.get(serial=SERIAL)
    assert device.firmware_version == "5.40"
    assert device.partitions == [{"number": 1, "armed": True}, {"number": 2, "armed": False}]
    path = [e.to_state for e in job.events.filter(kind="transition")]
    assert path[0] == S.QUEUED and path[-1] == S.SUCCEEDED
    assert {S.DOWNLOADING, S.DOWNLOADED, S.READY, S.INSTALLING} <= set(path)


def test_power_cut_mid_download_resumes_without_fetching_kept_bytes_again(world):
    job = world.queue(101)
    spec = panel_spec(world, link={"preset": "unlimited", "bandwidth": 300_000, "power_cut_at": 0.5})
    with run_fleet(world, [spec]) as fleet:
        panel = fleet.panel(SERIAL)
        wait_job(fleet, job, S.SUCCEEDED, S.FAILED)
    assert job_state(job) == S.SUCCEEDED
    assert panel.power_cuts == 1
    assert panel.artifact_bytes_received <= 1.05 * world.release.size


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (["corrupt_byte"], "does not match"),
        ({"wrong_board": "1.0"}, "hardware revision 1.0"),
        ({"wrong_device_type": "nord-lan"}, "nord-lan"),
    ],
)
def test_failed_archive_check_ends_the_job_with_the_panels_reason(world, fault, reason):
    job = world.queue(101)
    with run_fleet(world, [panel_spec(world, faults=fault)]) as fleet:
        job = wait_job(fleet, job, S.FAILED, S.SUCCEEDED)
    assert job.state == S.FAILED
    assert reason in job.reason
    assert Device.objects.get(serial=SERIAL).firmware_version == "5.30"


def test_panel_with_every_partition_armed_waits_ready_until_one_is_disarmed(world):
    job = world.queue(101)
    armed = [{"number": 1, "armed": True}, {"number": 2, "armed": True}]
    with run_fleet(world, [panel_spec(world, partitions=armed)]) as fleet:
        wait_job(fleet, job, S.READY)
        fleet.wait_until(lambda: fleet.panel(SERIAL).phase == "ready", timeout=10)
        # Several polls later it still has not installed: every partition is armed.
        polls = fleet.panel(SERIAL).polls
        fleet.wait_until(lambda: fleet.panel(SERIAL).polls >= polls + 2, timeout=30)
        assert job_state(job) == S.READY
        fleet.set_partition(SERIAL, 2, armed=False)
        job = wait_job(fleet, job, S.SUCCEEDED)
    assert Device.objects.get(serial=SERIAL).firmware_version == "5.40"


def test_panel_downloads_outside_the_install_window_and_installs_once_it_opens(world):
    set_receiver_window(world.receiver, install_window(open_now=False))
    job = world.queue(101)
    with run_fleet(world, [panel_spec(world)]) as fleet:
        panel = fleet.panel(SERIAL)
        wait_job(fleet, job, S.READY)
        fleet.wait_until(lambda: panel.phase == "ready", timeout=10)
        # Several polls later: downloaded in full, a partition disarmed, and still not installed.
        polls = panel.polls
        fleet.wait_until(lambda: panel.polls >= polls + 3, timeout=30)
        assert job_state(job) == S.READY and panel.phase == "ready"
        assert panel.kept_bytes == world.release.size and panel.firmware_version == "5.30"
        assert UpdateJob.objects.get(pk=job.pk).bytes_downloaded == world.release.size

        # The operator widens the receiver's window to include the present.
        set_receiver_window(world.receiver, install_window(open_now=True))
        job = wait_job(fleet, job, S.SUCCEEDED, S.FAILED)
        fleet.wait_until(lambda: UpdateJob.objects.get(pk=job.pk).confirmed_at, timeout=30)
    assert job.state == S.SUCCEEDED
    assert Device.objects.get(serial=SERIAL).firmware_version == "5.40"
    path = [e.to_state for e in UpdateJob.objects.get(pk=job.pk).events.filter(kind="transition")]
    assert path[-3:] == [S.READY, S.INSTALLING, S.SUCCEEDED]
    assert any("allows the installation now" in e.detail for e in panel.events.of("window"))


def test_cancel_during_download_is_acknowledged_by_the_panel(world):
    job = world.queue(101)
    slow = {"preset": "unlimited", "bandwidth": 20_000}
    with run_fleet(world, [panel_spec(world, link=slow)]) as fleet:
        fleet.wait_until(lambda: UpdateJob.objects.get(pk=job.pk).bytes_downloaded > 20_000, timeout=60)
        job = services.update_job_cancel(job=job, actor=None)
        assert job.state == S.CANCELLING
        fleet.poll_now([SERIAL])
        job = wait_job(fleet, job, S.CANCELLED)
        fleet.wait_until(lambda: fleet.panel(SERIAL).phase == "idle", timeout=20)
    assert Device.objects.get(serial=SERIAL).firmware_version == "5.30"
    assert job.events.filter(actor_label="device", to_state=S.CANCELLED).exists()


def test_cancel_refused_once_the_panel_has_the_file(world):
    job = world.queue(101)
    # The panel refuses the cancel (it says it already has the file): the update goes on.
    slow = {"preset": "unlimited", "bandwidth": 20_000}
    with run_fleet(world, [panel_spec(world, link=slow, faults=["refuse_cancel"])]) as fleet:
        fleet.wait_until(lambda: UpdateJob.objects.get(pk=job.pk).bytes_downloaded > 20_000, timeout=60)
        services.update_job_cancel(job=job, actor=None)
        fleet.poll_now([SERIAL])
        job = wait_job(fleet, job, S.SUCCEEDED, timeout=90)
        # From downloaded on the server refuses a cancel itself, before asking the panel.
    warnings = [e.details.get("message", "") for e in job.events.filter(kind="warning")]
    assert any("refused the cancel" in w for w in warnings)
    with pytest.raises(UpdateNotAllowed):
        services.update_job_cancel(job=job, actor=None)


def test_several_panels_at_once_with_one_queued_by_site_number(world):
    tokens = {f"NG0000010{i}": add_panel(world, 200 + i, f"NG0000010{i}") for i in range(4)}
    specs = [panel_spec(world)] + [panel_spec(world, serial=s, token=t, link="gprs") for s, t in tokens.items()]
    job = world.queue(101)
    with run_fleet(world, specs) as fleet:
        wait_job(fleet, job, S.SUCCEEDED)
        # The other panels keep polling and stay on 5.30: nothing was queued for them.
        assert all(fleet.panel(s).firmware_version == "5.30" for s in tokens)
    assert not UpdateJob.objects.exclude(pk=job.pk).exists()


def test_online_panel_is_woken_by_its_receiver_and_starts_within_seconds(world, eager_celery):
    """Queued while the panel sleeps for five minutes: the wake-up push makes it poll now."""
    with Fleet(world.base_url, [panel_spec(world)], time_scale=1.0, start_spread=0, seed=7,
               wakeup_listen="127.0.0.1:0") as fleet:
        fleet.wait_until(lambda: Device.objects.get(serial=SERIAL).last_seen is not None, timeout=20)
        host, port = fleet.wakeup_address
        world.receiver.wakeup_url = f"http://{host}:{port}/"
        world.receiver.save()
        polls = fleet.panel(SERIAL).polls
        job = world.queue(101)
        started = time.monotonic()
        fleet.wait_until(lambda: job_state(job) != S.QUEUED, timeout=20)
        assert time.monotonic() - started < 10
        assert fleet.panel(SERIAL).polls > polls
        assert UpdateJob.objects.get(pk=job.pk).wakeup_sent_at is not None


def test_progress_on_the_job_follows_what_a_slow_panel_really_has(world):
    """On a GPRS-like link the job's byte count stays close to what the panel has kept."""
    job = world.queue(101)
    spec = panel_spec(world, link={"preset": "unlimited", "bandwidth": 40_000})
    size = world.release.size
    with run_fleet(world, [spec]) as fleet:
        panel = fleet.panel(SERIAL)
        fleet.wait_until(lambda: panel.kept_bytes > size // 3, timeout=60)
        server = UpdateJob.objects.get(pk=job.pk).bytes_downloaded
        kept = panel.kept_bytes
        assert 0 < server < size
        assert abs(server - kept) < 0.25 * size, (server, kept)
        wait_job(fleet, job, S.SUCCEEDED)
