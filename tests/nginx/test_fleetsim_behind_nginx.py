"""A fleetsim panel through its whole life cycle behind nginx, as in production."""

import pytest

from firmware_updates.models import JobState, UpdateJob
from sites.models import Device

from ..fleet.conftest import SERIAL, panel_spec, run_fleet

pytestmark = [pytest.mark.live, pytest.mark.nginx]
S = JobState


def test_panel_updates_behind_nginx_over_a_link_dropping_every_64_kib(world, world_front):
    job = world.queue(101)
    spec = panel_spec(world, link={"preset": "unlimited", "bandwidth": 400_000, "drop_every_kib": 64})

    with run_fleet(world, [spec]) as fleet:
        panel = fleet.panel(SERIAL)
        fleet.wait_until(lambda: UpdateJob.objects.get(pk=job.pk).state in (S.SUCCEEDED, S.FAILED), timeout=60)
        fleet.wait_until(lambda: UpdateJob.objects.get(pk=job.pk).confirmed_at, timeout=30)

    job = UpdateJob.objects.get(pk=job.pk)
    assert job.state == S.SUCCEEDED and job.warnings == []
    assert job.bytes_downloaded == world.release.size
    assert panel.drops >= 2, "the link must have dropped mid-download"
    # Every resume got only the missing bytes: nginx honoured Range and If-Range with the
    # ETag the panel saw first.
    assert panel.artifact_bytes_received <= 1.05 * world.release.size
    assert Device.objects.get(serial=SERIAL).firmware_version == "5.40"
    # Each of its artifact requests, first and resumes, went through the go-ahead cache.
    fetched = [line for line in world_front.access_log() if "/artifacts/" in line.path]
    assert len(fetched) == panel.stats.requests_by_kind["artifact"] >= 2
    # The first from byte 0, every resume a 206 of the rest (nginx's answers, as logged).
    assert fetched[0].status == 200 and {line.status for line in fetched[1:]} == {206}
