"""The update life cycle with Debian's swupdate 2022.12 (suricatta, hawkBit mode) as the panel.

What it does on the wire (DESIGN.md 4; every test below checks its part):
- poll `GET /{tenant}/controller/v1/{id}`, then `GET deploymentBase/{id}` whenever the poll
  links one, and `PUT configData` (its `identify` values, no `mode`) when the poll asks;
- `POST feedback` proceeding "Installing Update Chunk Artifacts.", `HEAD` then `GET` on the
  artifact, and while the download runs it polls again every sleep period (a
  `cancelAction` link aborts the download);
- a cut download is resumed on a new connection with `Range: bytes=<received>-` (no
  If-Range), waiting `-w` seconds; `-r` bounds the resumes of one download in total;
- from a second connection it forwards its log as `proceeding` feedback with progress
  `{"cnt": 1, "of": 0}`; then "Installed Chunk.", "All Chunks Installed." and, as it never
  says `downloaded` or `scheduled`, the job stays `downloading` until the panel restarts;
- after the restart, `-c 2` posts closed + success "Update Installed." and `-c 3` closed +
  failure "Update Failed."; a refused archive is closed + failure "No suitable .swu image
  found"; a cancel is acknowledged on `cancelAction/{id}/feedback` with closed + success.
"""

import json
import urllib.error
import urllib.request

import pytest

from firmware_updates import services
from firmware_updates.models import JobState

from .conftest import wait_for
from .device import CONFIRM_FAILURE, CONFIRM_SUCCESS, INSTALLED
from .link import Link

pytestmark = [pytest.mark.swupdate, pytest.mark.live]
S = JobState
CUT = 64 * 1024


@pytest.fixture
def links(world):
    opened = []

    def open_link(**kwargs) -> Link:
        link = Link(world.server.port, **kwargs)
        opened.append(link)
        return link

    yield open_link
    for link in opened:
        link.close()


def transitions(world, job) -> list[tuple[str, str, str]]:
    return [
        (frm, to, actor) for kind, frm, to, actor, _ in world.history(job) if kind == "transition"
    ]


def refused(link: Link) -> list:
    return [e for e in link.exchanges if e.status >= 400]


def install(world, link: Link, **power_on) -> None:
    """First power-on: swupdate downloads, checks and "installs"; then the panel reboots."""
    run = world.panel.power_on(link.url, sw_version="5.30", **power_on)
    run.wait_for(INSTALLED, timeout=40, link=link)
    run.power_off()


def test_update_succeeds_and_turns_green_once_swupdate_reports_the_new_version(world, links):
    link = links()
    job = world.queue()

    install(world, link)

    # SWUpdate reported only "proceeding" so far: the job is still downloading.
    assert world.job(job).state == S.DOWNLOADING
    artifact = [(e.method, e.status) for e in link.exchanges if e.is_artifact]
    assert artifact == [("HEAD", 200), ("GET", 200)], link.summary()
    assert link.artifact_gets()[0].body_bytes == world.release.size
    feedback = [json.loads(e.body) for e in link.exchanges if e.path.endswith("/feedback")]
    assert {f["id"] for f in feedback} == {job.pk} and all("time" in f for f in feedback)
    assert all(f["status"]["execution"] == "proceeding" for f in feedback)
    # Its log forwarder sends progress "0 of 0", "1 of 0" (DDI requires only cnt); all taken.
    assert any(f["status"]["result"].get("progress", {}).get("of") == 0 for f in feedback)
    config = [json.loads(e.body) for e in link.exchanges if e.path.endswith("/configData")]
    assert [c["data"]["sw_version"] for c in config] == ["5.30"]
    assert refused(link) == [], link.summary()

    # After the "reboot" the new firmware runs; hold its configData back for a moment.
    link.hold(lambda e: e.path.endswith("/configData"))
    world.panel.power_on(link.url, sw_version="5.40", confirm=CONFIRM_SUCCESS)
    wait_for(lambda: world.job(job).state == S.SUCCEEDED, timeout=20, what="closed + success",
             details=lambda: world.explain(link))  # fmt: skip
    assert world.job(job).confirmed_at is None
    assert world.badge() != "green"  # success claimed, 5.40 not reported yet

    link.release()
    wait_for(lambda: world.job(job).confirmed_at, timeout=20, what="the device to report 5.40",
             details=lambda: world.explain(link))  # fmt: skip
    job = world.job(job)
    assert job.device.firmware_version == "5.40" and world.badge() == "green"
    assert job.bytes_downloaded == job.bytes_total == world.release.size
    assert transitions(world, job) == [
        ("", S.QUEUED, "system"),
        (S.QUEUED, S.DELIVERED, "device"),
        (S.DELIVERED, S.DOWNLOADING, "device"),
        (S.DOWNLOADING, S.SUCCEEDED, "device"),
    ]
    reports = {
        to: details
        for kind, _frm, to, _actor, details in world.history(job)
        if kind == "transition"
    }
    assert reports[S.DOWNLOADING]["details"] == ["Installing Update Chunk Artifacts."]
    closing = reports[S.SUCCEEDED]
    assert (closing["execution"], closing["finished"]) == ("closed", "success")
    assert closing["details"] == ["Update Installed."]
    confirmed = [d for kind, *_, d in world.history(job) if kind == "confirmed"]
    assert confirmed == [{"message": "The device runs 5.40."}]
    assert refused(link) == [], link.summary()


def test_failure_after_reboot_fails_the_job_with_swupdates_words(world, links):
    link = links()
    job = world.queue()
    install(world, link)

    world.panel.power_on(link.url, sw_version="5.30", confirm=CONFIRM_FAILURE)

    wait_for(lambda: world.job(job).state == S.FAILED, timeout=20, what="closed + failure",
             details=lambda: world.explain(link))  # fmt: skip
    job = world.job(job)
    assert job.reason == "Update Failed."
    assert job.confirmed_at is None and world.badge() == "red"
    assert transitions(world, job)[-1] == (S.DOWNLOADING, S.FAILED, "device")
    assert refused(link) == [], link.summary()


def test_download_cut_every_64_kib_resumes_with_range_and_completes(world, links):
    link = links(cut_every=CUT)
    job = world.queue()
    size = world.release.size
    cuts = list(range(CUT, size, CUT))
    assert len(cuts) == 3  # a ~200 KB archive crosses the link in four pieces

    # -r counts every resume of one download (a run gives up after that many cuts in all).
    install(world, link, retries=len(cuts) + 2)

    # The device side: one full GET, then each resume asks for exactly what is missing.
    gets = link.artifact_gets()
    assert [(e.headers.get("range"), e.status) for e in gets] == [(None, 200)] + [
        (f"bytes={cut}-", 206) for cut in cuts
    ], link.summary()
    assert [e.cut for e in gets] == [True] * len(cuts) + [False]
    assert sum(e.body_bytes for e in gets) <= 1.1 * size  # each byte crossed the link once
    # The server's own account: the same requests, and no answer longer than what was left.
    served = [r for r in world.server.served() if r.is_artifact and r.method == "GET"]
    assert [(r.range, r.status) for r in served] == [
        (e.headers.get("range"), e.status) for e in gets
    ]
    for record, first in zip(served, [0, *cuts], strict=True):
        assert 0 < record.sent <= size - first
    # The last piece went out whole; the rest of each answer died with its connection. (The
    # bytes written to a socket count what sat in kernel buffers when the link dropped too.)
    assert served[-1].sent == size - cuts[-1]
    # swupdate checked the resumed stream itself: a wrong byte is "HASH mismatch".
    assert "HASH mismatch" not in world.panel.runs[0].log()

    world.panel.power_on(link.url, sw_version="5.40", confirm=CONFIRM_SUCCESS)
    wait_for(lambda: world.job(job).confirmed_at, timeout=20, what="success and 5.40",
             details=lambda: world.explain(link))  # fmt: skip
    assert world.job(job).state == S.SUCCEEDED
    assert refused(link) == [], link.summary()


def test_cancel_during_a_slow_download_is_acknowledged_by_swupdate(world, links):
    link = links(rate=20_000)  # ~10 s for the archive: a poor GPRS link
    job = world.queue()
    run = world.panel.power_on(link.url, sw_version="5.30")
    wait_for(lambda: any(e.body_bytes >= 16 * 1024 for e in link.artifact_gets()), timeout=20,
             what="the download to start", details=lambda: world.explain(link))  # fmt: skip

    job = services.update_job_cancel(job=job, actor=None)
    assert job.state == S.CANCELLING

    wait_for(lambda: world.job(job).state == S.CANCELLED, timeout=20,
             what="swupdate to acknowledge the cancel", details=lambda: world.explain(link))  # fmt: skip
    # It learnt of the cancel by polling mid-download, and dropped the download.
    paths = [(e.method, e.path.rsplit("/", 2)[-2:]) for e in link.exchanges]
    assert ("GET", ["cancelAction", str(job.pk)]) in paths
    ack = next(e for e in link.exchanges if e.path.endswith(f"/cancelAction/{job.pk}/feedback"))
    status = json.loads(ack.body)["status"]
    assert (status["execution"], status["result"]["finished"]) == ("closed", "success")
    assert status["details"] == ["cancellation acknowledged."] and ack.status == 200
    wait_for(
        lambda: all(e.ended for e in link.artifact_gets()), timeout=10, what="the download to stop"
    )
    assert sum(e.body_bytes for e in link.artifact_gets()) < world.release.size
    assert INSTALLED not in run.log()
    assert transitions(world, job)[-2:] == [
        (S.DOWNLOADING, S.CANCELLING, "system"),
        (S.CANCELLING, S.CANCELLED, "device"),
    ]
    assert world.job(job).reason == "Cancelled; the device acknowledged."

    # The archive is no longer served to the panel, with its own token.
    for method in ("GET", "HEAD"):
        request = urllib.request.Request(world.artifact_url(), method=method,
                                         headers={"Authorization": f"TargetToken {world.panel.token}"})  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 - loopback
        assert answer.value.code == 404


def test_wrong_board_revision_is_refused_by_swupdate_and_fails_the_job(world, links):
    link = links()
    job = world.queue()  # our records say board 2.1; the panel is a 1.0

    run = world.panel.power_on(link.url, sw_version="5.30", hw_revision="1.0")

    wait_for(lambda: world.job(job).state == S.FAILED, timeout=30, what="swupdate's refusal",
             details=lambda: world.explain(link))  # fmt: skip
    job = world.job(job)
    # Its closing words; the error lines it logged meanwhile come along when its log
    # forwarder was quick enough, else in the `proceeding` reports just before.
    assert job.reason.endswith("No suitable .swu image found"), job.reason
    assert "SW not compatible with hardware" in run.log()
    heard = [e for e in link.exchanges if b"SW not compatible with hardware" in e.body]
    assert any(e.status == 200 for e in heard), link.summary()
    assert job.device.hardware_revision == "1.0"  # from its configData
    assert INSTALLED not in run.log()
    assert transitions(world, job)[-1] == (S.DOWNLOADING, S.FAILED, "device")
    # Log lines forwarded after the closing report find the action gone: 410, as DDI says.
    assert all(e.status == 410 and e.path.endswith("/feedback") for e in refused(link)), (
        link.summary()
    )
