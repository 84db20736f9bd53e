"""Late feedback: a report of an earlier stage delivered after a later one (a GPRS link
delivers a retried or delayed POST after the ones sent since; fleetsim once cancelled a
progress report it had already sent, and the server read it after `downloaded`). It moves
nothing, is answered 200 and goes on the timeline as a late report; and what the server
takes as the installation starting (docs/ddi.md, Feedback)."""

import pytest
from django.utils import translation

from firmware_updates import services
from firmware_updates.models import JobState
from firmware_updates.services.device_reports import LATE_REPORT_EVENT
from firmware_updates.views.history import event_view

pytestmark = pytest.mark.live
S = JobState


def downloaded(fleet):
    """A job whose panel read its action, reported byte progress, then `downloaded`."""
    job = fleet.queue()
    client = fleet.client()
    assert client.request("GET", f"/deploymentBase/{job.pk}").status == 200
    size = fleet.release.size
    assert client.feedback(job.pk, "download", progress={"cnt": 0, "of": size}).status == 200
    assert client.feedback(job.pk, "proceeding", progress={"cnt": 8192, "of": size}).status == 200
    assert fleet.job(job).state == S.DOWNLOADING
    assert client.feedback(job.pk, "downloaded", progress={"cnt": size, "of": size}).status == 200
    assert fleet.job(job).state == S.DOWNLOADED
    return job, client


def late_reports(job):
    return list(job.events.filter(kind=LATE_REPORT_EVENT).values_list("details", flat=True))


@pytest.mark.parametrize("execution", ["proceeding", "resumed", "download"])
def test_byte_progress_delivered_after_downloaded_is_a_late_report_not_the_install(fleet, execution):
    job, client = downloaded(fleet)
    size = fleet.release.size

    reply = client.feedback(job.pk, execution, progress={"cnt": 65536, "of": size})

    assert reply.status == 200
    job = fleet.job(job)
    assert job.state == S.DOWNLOADED
    assert job.bytes_downloaded == size
    [late] = late_reports(job)
    assert late["execution"] == execution and late["late"] is True
    assert late["progress"] == {"cnt": 65536, "of": size}
    assert late["message"].startswith(f"Late report ({execution})")
    # The panel goes on as it would: ready, then the installation starts.
    client.feedback(job.pk, "scheduled")
    assert fleet.job(job).state == S.READY
    client.feedback(job.pk, "proceeding", details=["installing firmware 5.40"])
    assert fleet.job(job).state == S.INSTALLING


def test_the_timeline_says_the_report_came_late_in_the_operators_language(fleet):
    job, client = downloaded(fleet)
    client.feedback(job.pk, "proceeding", progress={"cnt": 4096, "of": fleet.release.size}, details=["4 KiB"])

    event = fleet.job(job).events.get(kind=LATE_REPORT_EVENT)
    with translation.override("ru"):
        view = event_view(event)

    assert view.sentence == "Запоздавшее сообщение прибора, не учтено"
    assert any(line.startswith("Запоздавшее сообщение (proceeding): ") for line in view.lines)
    assert '"execution": "proceeding"' in view.raw


def test_late_byte_progress_after_ready_and_installing_moves_nothing(fleet):
    job, client = downloaded(fleet)
    progress = {"cnt": 100_000, "of": fleet.release.size}
    client.feedback(job.pk, "scheduled")

    assert client.feedback(job.pk, "proceeding", progress=progress).status == 200
    assert fleet.job(job).state == S.READY

    client.feedback(job.pk, "proceeding", details=["installing"])
    assert fleet.job(job).state == S.INSTALLING
    assert client.feedback(job.pk, "proceeding", progress={"cnt": 200_000, "of": fleet.release.size}).status == 200
    assert client.feedback(job.pk, "download").status == 200
    assert client.feedback(job.pk, "scheduled").status == 200
    job = fleet.job(job)
    assert job.state == S.INSTALLING
    assert [r["execution"] for r in late_reports(job)] == ["proceeding", "proceeding", "download", "scheduled"]


def test_downloaded_twice_is_a_duplicate_and_after_ready_a_late_report(fleet):
    job, client = downloaded(fleet)
    size = fleet.release.size

    assert client.feedback(job.pk, "downloaded", progress={"cnt": size, "of": size}).status == 200
    assert fleet.job(job).state == S.DOWNLOADED
    assert late_reports(fleet.job(job)) == []  # the same stage: a duplicate, not late

    client.feedback(job.pk, "scheduled")
    assert client.feedback(job.pk, "downloaded", progress={"cnt": size, "of": size}).status == 200
    job = fleet.job(job)
    assert job.state == S.READY
    assert job.events.filter(to_state=S.DOWNLOADED).count() == 1
    assert [r["execution"] for r in late_reports(job)] == ["downloaded"]


def test_an_identical_late_report_repeated_is_kept_once(fleet):
    job, client = downloaded(fleet)
    progress = {"cnt": 4096, "of": fleet.release.size}

    for _ in range(3):
        assert client.feedback(job.pk, "proceeding", progress=progress).status == 200

    assert len(late_reports(fleet.job(job))) == 1


def test_a_late_report_past_the_status_entry_quota_is_answered_200(fleet, settings):
    job, client = downloaded(fleet)
    client.feedback(job.pk, "scheduled")
    settings.JOB_MAX_STATUS_ENTRIES = fleet.job(job).events.count()

    # With details it would be a line on the timeline: the quota would refuse it (429) and the
    # panel send it again and again; a late report is only logged past the quota.
    reply = client.feedback(job.pk, "download", progress={"cnt": 10, "of": fleet.release.size},
                            details=["downloading 10 bytes"])

    assert reply.status == 200
    job = fleet.job(job)
    assert job.state == S.READY
    assert late_reports(job) == []


def test_a_late_progress_report_while_cancelling_is_not_taken_as_the_install(fleet):
    job = fleet.queue()
    client = fleet.client()
    size = fleet.release.size
    assert client.request("GET", f"/deploymentBase/{job.pk}").status == 200
    client.feedback(job.pk, "proceeding", progress={"cnt": 8192, "of": size})
    services.update_job_cancel(job=fleet.job(job), actor=None)
    assert fleet.job(job).state == S.CANCELLING
    client.feedback(job.pk, "downloaded", progress={"cnt": size, "of": size})
    assert fleet.job(job).state_before_cancel == S.DOWNLOADED

    assert client.feedback(job.pk, "proceeding", progress={"cnt": 16384, "of": size}).status == 200
    assert fleet.job(job).state_before_cancel == S.DOWNLOADED

    client.cancel_feedback(job.pk, "rejected", details=["the download is complete"])
    job = fleet.job(job)
    assert job.state == S.DOWNLOADED
    assert [r["execution"] for r in late_reports(job)] == ["proceeding"]


@pytest.mark.parametrize(("progress", "state"), [
    (None, S.INSTALLING),  # @awesomeorganization/hawkbit-ddi: `downloaded`, then `proceeding`
    ({}, S.INSTALLING),  # rauc-hawkbit without a percentage
    ({"percentage": 0}, S.INSTALLING),  # rauc-hawkbit: RAUC's install progress
    ({"cnt": 40, "of": 100}, S.INSTALLING),  # a percentage
    ({"cnt": 1, "of": 0}, S.INSTALLING),  # SWUpdate's install log: total unknown
    ("whole archive", S.DOWNLOADED),  # a byte count of the whole archive: the download, again
])
def test_what_starts_the_installation_after_downloaded(fleet, progress, state):
    job, client = downloaded(fleet)
    if progress == "whole archive":
        progress = {"cnt": fleet.release.size, "of": fleet.release.size}

    body = {"status": {"execution": "proceeding", "result": {"finished": "none", "progress": progress},
                       "details": ["step"]}}  # rauc-hawkbit's shapes are outside the spec's
    reply = client.request("POST", f"/deploymentBase/{job.pk}/feedback", body=body, check_request=False)

    assert reply.status == 200

    job = fleet.job(job)
    assert job.state == state
    assert late_reports(job) == []
