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

from .device import CONFIRM_FAILURE, CONFIRM_SUCCESS, INSTALLED

pytestmark = [pytest.mark.swupdate, pytest.mark.live]
S = JobState
CUT = 64 * 1024


def transitions(world, job) -> list[tuple[str, str, str]]:
    return [(frm, to, actor) for kind, frm, to, actor, _ in world.history(job)
            if kind == "transition"]  # fmt: skip


def refused(world) -> list:
    return [e for e in world.link.exchanges if e.status >= 400]


def feedback(exchanges) -> list[dict]:
    return [json.loads(e.body) for e in exchanges if e.path.endswith("/feedback")]


def install(world, **options):
    """First power-on: swupdate downloads, checks and "installs"; then the panel reboots.
    Returns the run that installed."""
    world.power_on(sw_version="5.30", **options)
    world.wait_for(lambda: INSTALLED in world.run.log(), timeout=40, what="swupdate to install")
    run = world.run
    run.power_off()
    return run


def test_update_succeeds_and_turns_green_once_swupdate_reports_the_new_version(world):
    link = world.open_link()
    job = world.queue()

    run = install(world)

    # SWUpdate reported only "proceeding" so far: the job is still downloading.
    assert world.job(job).state == S.DOWNLOADING
    artifact = [(e.method, e.status) for e in world.exchanges(run) if e.is_artifact]
    assert artifact == [("HEAD", 200), ("GET", 200)], world.explain()
    assert link.artifact_gets(since=run.first_exchange)[0].body_bytes == world.release.size
    reports = feedback(link.exchanges)
    assert {f["id"] for f in reports} == {job.pk} and all("time" in f for f in reports)
    assert all(f["status"]["execution"] == "proceeding" for f in reports)
    # Its log forwarder sends progress "0 of 0", "1 of 0" (DDI requires only cnt); all taken.
    assert any(f["status"]["result"].get("progress", {}).get("of") == 0 for f in reports)
    config = [json.loads(e.body) for e in link.exchanges if e.path.endswith("/configData")]
    assert [c["data"]["sw_version"] for c in config] == ["5.30"]
    assert refused(world) == [], world.explain()

    # After the "reboot" the new firmware runs; hold its configData back for a moment.
    link.hold(lambda e: e.path.endswith("/configData"))
    world.power_on(sw_version="5.40", confirm=CONFIRM_SUCCESS)
    world.wait_for(lambda: world.job(job).state == S.SUCCEEDED, timeout=20, what="closed + success")
    assert world.job(job).confirmed_at is None
    assert world.badge() != "green"  # success claimed, 5.40 not reported yet

    link.release()
    world.wait_for(lambda: world.job(job).confirmed_at, timeout=20, what="the panel to report 5.40")
    job = world.job(job)
    assert job.device.firmware_version == "5.40" and world.badge() == "green"
    assert job.bytes_downloaded == job.bytes_total == world.release.size
    assert transitions(world, job) == [
        ("", S.QUEUED, "system"),
        (S.QUEUED, S.DELIVERED, "device"),
        (S.DELIVERED, S.DOWNLOADING, "device"),
        (S.DOWNLOADING, S.SUCCEEDED, "device"),
    ]
    history = {to: details for kind, _frm, to, _actor, details in world.history(job)
               if kind == "transition"}  # fmt: skip
    assert history[S.DOWNLOADING]["details"] == ["Installing Update Chunk Artifacts."]
    closing = history[S.SUCCEEDED]
    assert (closing["execution"], closing["finished"], closing["details"]) == (
        "closed", "success", ["Update Installed."])  # fmt: skip
    # Every line of SWUpdate's forwarded log is on the timeline (once), not only the first.
    logged = {tuple(f["status"].get("details") or ()) for f in reports} - {()}
    kept = {tuple(d.get("details") or ()) for kind, *_, d in world.history(job) if kind in ("report", "transition")}
    assert logged and logged <= kept, (logged, kept)
    confirmed = [d for kind, *_, d in world.history(job) if kind == "confirmed"]
    assert confirmed == [{"message": "The device runs 5.40."}]
    assert refused(world) == [], world.explain()


def test_failure_after_reboot_fails_the_job_with_swupdates_words(world):
    job = world.queue()
    install(world)

    world.power_on(sw_version="5.30", confirm=CONFIRM_FAILURE)

    world.wait_for(lambda: world.job(job).state == S.FAILED, timeout=20, what="closed + failure")
    job = world.job(job)
    assert job.reason == "Update Failed."
    assert job.confirmed_at is None and world.badge() == "red"
    assert transitions(world, job)[-1] == (S.DOWNLOADING, S.FAILED, "device")
    assert refused(world) == [], world.explain()


def test_download_cut_every_64_kib_resumes_with_range_and_completes(world):
    link = world.open_link(cut_every=CUT)
    job = world.queue()
    size = world.release.size
    cuts = list(range(CUT, size, CUT))
    assert len(cuts) == 3  # a ~200 KB archive crosses the link in four pieces

    # -r counts every resume of one download (a run gives up after that many cuts in all).
    run = install(world, retries=len(cuts) + 2)

    # The panel's side: one full GET, then each resume asks for exactly what is missing.
    gets = link.artifact_gets(since=run.first_exchange)
    assert [(e.headers.get("range"), e.status) for e in gets] == [(None, 200)] + [
        (f"bytes={cut}-", 206) for cut in cuts
    ], world.explain()
    assert [e.cut for e in gets] == [True] * len(cuts) + [False]
    assert sum(e.body_bytes for e in gets) <= 1.1 * size  # each byte crossed the link once
    # The server's own account (gunicorn's access log): the same requests, the same answers.
    served = [r for r in world.server.served() if r.is_artifact and r.method == "GET"]
    assert [(r.range, r.status) for r in served[-len(gets) :]] == [
        (e.headers.get("range"), e.status) for e in gets
    ]
    # swupdate checked the resumed stream itself: a wrong byte is "HASH mismatch".
    assert "HASH mismatch" not in run.log()

    world.power_on(sw_version="5.40", confirm=CONFIRM_SUCCESS)
    world.wait_for(lambda: world.job(job).confirmed_at, timeout=20, what="success and 5.40")
    assert world.job(job).state == S.SUCCEEDED
    assert refused(world) == [], world.explain()


def test_cancel_during_a_slow_download_is_acknowledged_by_swupdate(world):
    link = world.open_link(rate=20_000)  # ~10 s for the archive: a poor GPRS link
    job = world.queue()
    world.power_on(sw_version="5.30")
    world.wait_for(lambda: any(e.body_bytes >= 16 * 1024 for e in link.artifact_gets()),
                   timeout=20, what="the download to start")  # fmt: skip

    job = services.update_job_cancel(job=job, actor=None)
    assert job.state == S.CANCELLING

    world.wait_for(lambda: world.job(job).state == S.CANCELLED, timeout=20,
                   what="swupdate to acknowledge the cancel")  # fmt: skip
    # It learnt of the cancel by polling mid-download, and dropped the download.
    paths = [(e.method, e.path.rsplit("/", 2)[-2:]) for e in link.exchanges]
    assert ("GET", ["cancelAction", str(job.pk)]) in paths
    ack = next(e for e in link.exchanges if e.path.endswith(f"/cancelAction/{job.pk}/feedback"))
    # The job is cancelled as the server commits; its answer may still be on its way back.
    world.wait_for(lambda: ack.ended, timeout=10, what="our answer to the acknowledgement")
    status = json.loads(ack.body)["status"]
    assert (status["execution"], status["result"]["finished"]) == ("closed", "success")
    assert status["details"] == ["cancellation acknowledged."] and ack.status == 200
    world.wait_for(lambda: all(e.ended for e in link.artifact_gets()), timeout=10,
                   what="the download to stop")  # fmt: skip
    assert all(e.body_bytes < world.release.size for e in link.artifact_gets())
    assert not any(INSTALLED in run.log() for run in world.panel.runs)
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
        answer.value.close()
        assert answer.value.code == 404


def test_wrong_board_revision_is_refused_by_swupdate_and_fails_the_job(world):
    link = world.open_link()
    job = world.queue()  # our records say board 2.1; the panel is a 1.0

    world.power_on(sw_version="5.30", hw_revision="1.0")

    world.wait_for(lambda: world.job(job).state == S.FAILED, timeout=30, what="swupdate's refusal")
    job = world.job(job)
    # Its closing words; the error lines it logged meanwhile come along when its log
    # forwarder was quick enough, else in the `proceeding` reports just before.
    assert job.reason.endswith("No suitable .swu image found"), job.reason
    assert "SW not compatible with hardware" in world.run.log()

    def heard():  # the reports that carried its reason (the last may still be on its way back)
        return [e for e in link.exchanges if b"SW not compatible with hardware" in e.body]

    world.wait_for(
        lambda: heard() and all(e.ended for e in heard()), timeout=10, what="our answers"
    )
    assert any(e.status == 200 for e in heard()), world.explain()
    assert job.device.hardware_revision == "1.0"  # from its configData
    assert INSTALLED not in world.run.log()
    assert transitions(world, job)[-1] == (S.DOWNLOADING, S.FAILED, "device")
    # Log lines forwarded after the closing report find the action gone: 410, as DDI says.
    assert all(e.status == 410 and e.path.endswith("/feedback") for e in refused(world)), (
        world.explain()
    )
