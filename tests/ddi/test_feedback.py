"""Feedback from unreliable links: duplicates, late and out-of-order reports, finished actions,
and bad input, which is refused with a reason and changes nothing."""

import pytest

from firmware_updates.models import JobState, UpdateJob, UpdateJobEvent
from sites.models import Device

pytestmark = pytest.mark.live
S = JobState


def snapshot(job):
    """Everything a report could change."""
    row = UpdateJob.objects.get(pk=job.pk)
    device = Device.objects.get(pk=row.device_id)
    return (
        row.state,
        row.state_before_cancel,
        row.bytes_downloaded,
        row.reason,
        list(row.warnings),
        UpdateJobEvent.objects.filter(job=row).count(),
        device.attributes,
        device.firmware_version,
        device.attributes_at,
    )


def test_duplicate_report_is_accepted_and_recorded_once(fleet):
    job = fleet.queue()
    client = fleet.client()

    assert client.feedback(job.pk, "downloaded").status == 200
    assert client.feedback(job.pk, "downloaded").status == 200

    job = fleet.job(job)
    assert job.state == S.DOWNLOADED
    assert job.events.filter(to_state=S.DOWNLOADED).count() == 1


def test_late_and_out_of_order_reports_never_move_a_job_backwards(fleet):
    job = fleet.queue()
    client = fleet.client()
    client.feedback(job.pk, "scheduled")  # `downloaded` got lost on the way
    assert fleet.job(job).state == S.READY

    for execution in ("downloaded", "download"):
        assert client.feedback(job.pk, execution).status == 200
        assert fleet.job(job).state == S.READY
    client.feedback(job.pk, "proceeding")
    assert fleet.job(job).state == S.INSTALLING
    assert client.feedback(job.pk, "scheduled").status == 200
    assert client.feedback(job.pk, "downloaded").status == 200
    assert fleet.job(job).state == S.INSTALLING


def test_failure_keeps_the_devices_details_as_reason(fleet):
    job = fleet.queue()
    client = fleet.client()

    client.feedback(
        job.pk, "closed", "failure", details=["hardware-compatibility: board 1.0 not in [2.1, 2.2]"]
    )

    job = fleet.job(job)
    assert job.state == S.FAILED
    assert job.reason == "hardware-compatibility: board 1.0 not in [2.1, 2.2]"


def test_rejected_keeps_the_state_and_records_a_warning(fleet):
    job = fleet.queue()
    client = fleet.client()
    client.feedback(job.pk, "download")

    assert client.feedback(job.pk, "rejected", details=["busy"]).status == 200

    job = fleet.job(job)
    assert job.state == S.DOWNLOADING
    assert job.events.filter(kind="warning").count() == 1


@pytest.mark.parametrize("ending", [("closed", "success"), ("closed", "failure")])
def test_any_report_for_a_finished_action_is_410(fleet, ending):
    job = fleet.queue()
    client = fleet.client()
    client.feedback(job.pk, *ending)
    before = snapshot(job)

    for execution, finished in [
        ("proceeding", "none"),
        ("closed", "success"),
        ("downloaded", "none"),
    ]:
        reply = client.feedback(job.pk, execution, finished)
        assert reply.status == 410
        assert reply.json()["errorCode"] == "ddi.action_gone"
    assert client.request("GET", f"/deploymentBase/{job.pk}").status == 404
    assert snapshot(job) == before


def test_unknown_fields_are_ignored(fleet):
    job = fleet.queue()
    client = fleet.client()

    reply = client.feedback(
        job.pk,
        "download",
        details=["started"],
        extra={"timestamp": 1627997501890, "vendor": {"x": 1}},
    )

    assert reply.status == 200
    assert fleet.job(job).state == S.DOWNLOADING


@pytest.mark.parametrize(
    ("progress", "held"),
    [
        ({}, 0),  # rauc-hawkbit without a percentage, @awesomeorganization/hawkbit-ddi always
        ({"percentage": 50}, 500),  # rauc-hawkbit
        ({"percentage": 12.5}, 120),
        ({"cnt": 300, "of": 1000}, 300),  # bytes
        ({"cnt": 40, "of": 100}, 400),  # percent
        ({"cnt": 9, "of": 5}, 0),  # impossible: ignored, not a reason to refuse the report
        ({"cnt": -1, "of": 5}, 0),
        ({"cnt": "1", "of": 5}, 0),
        ({"percentage": 150}, 0),
        ({"percentage": "half"}, 0),
        ({"bytes": 10}, 0),
        (None, 0),
    ],
)
def test_progress_of_any_shape_is_accepted_and_understood_where_it_means_something(fleet, progress, held):
    """hawkBit takes a `progress` object of any shape; rauc-hawkbit and
    @awesomeorganization/hawkbit-ddi send `{}` (answered 400 "Progress None of None is not
    possible" before). Not an object at all is refused (BAD_FEEDBACK)."""
    job = fleet.queue()
    UpdateJob.objects.filter(pk=job.pk).update(bytes_total=1000)
    client = fleet.client()
    client.feedback(job.pk, "download")
    body = {"status": {"execution": "proceeding", "result": {"finished": "none", "progress": progress},
                       "details": ["step"]}}

    reply = client.request("POST", f"/deploymentBase/{job.pk}/feedback", body=body, check_request=False)

    assert reply.status == 200
    job = fleet.job(job)
    assert job.state == S.DOWNLOADING
    assert job.bytes_downloaded == held


def test_progress_is_optional_and_a_closed_success_without_it_succeeds(fleet):
    job = fleet.queue()
    client = fleet.client()
    body = {"id": str(job.pk), "time": "20260101T000000",
            "status": {"execution": "closed", "result": {"finished": "success", "progress": {}}, "details": []}}

    reply = client.request("POST", f"/deploymentBase/{job.pk}/feedback", body=body, check_request=False)

    assert reply.status == 200
    assert fleet.job(job).state == S.SUCCEEDED


def test_failure_the_device_has_not_closed_is_a_warning_and_the_job_goes_on(fleet):
    """rauc-hawkbit reports a transient error as proceeding + failure, then its verdict."""
    job = fleet.queue()
    client = fleet.client()
    client.feedback(job.pk, "download")

    for _ in range(2):  # a GPRS retry is kept once
        assert client.feedback(job.pk, "proceeding", "failure", details=["mount failed"]).status == 200

    job = fleet.job(job)
    assert job.state == S.DOWNLOADING
    assert job.reason == ""
    assert job.warnings == ["The device reported a failure (proceeding): mount failed"]
    assert job.events.filter(kind="warning").count() == 1

    client.feedback(job.pk, "proceeding")
    client.feedback(job.pk, "closed", "failure", details=["Installation failed"])
    job = fleet.job(job)
    assert job.state == S.FAILED
    assert job.reason == "Installation failed"


BAD_FEEDBACK = [
    (b'{"status": {"execution": "proceeding"', "ddi.body_not_readable", "not valid JSON"),
    (b"\xff\xfe not even text", "ddi.body_not_readable", "not valid JSON"),
    (
        b'{"status": {"execution": "proceeding", "result": {"finished": NaN}}}',
        "ddi.body_not_readable",
        "JSON",
    ),
    (b'[{"status": {}}]', "ddi.body_not_readable", "JSON object"),
    # core/json.py: refused before the decoder recurses into it
    (b'{"status": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "ddi.body_not_readable",
     "nested more than 32 levels"),
    (b'{"feedback": "done"}', "ddi.invalid", "status"),
    (b'{"status": "closed"}', "ddi.invalid", "status"),
    (
        b'{"status": {"execution": "exploded", "result": {"finished": "none"}}}',
        "ddi.invalid",
        "exploded",
    ),
    (
        b'{"status": {"execution": "closed", "result": {"finished": "maybe"}}}',
        "ddi.invalid",
        "maybe",
    ),
    (b'{"status": {"execution": "closed", "result": "success"}}', "ddi.invalid", "result"),
    (
        b'{"status": {"execution": "proceeding", "result": {"finished": "none"}, "details": "text"}}',
        "ddi.invalid",
        "details",
    ),
    # Odd JSON types where a word belongs: a list or an object is unhashable, and the lookup
    # among the known words answered 500 (TypeError).
    (b'{"status": {"execution": [], "result": {"finished": "none"}}}', "ddi.invalid", "execution []"),
    (b'{"status": {"execution": {}, "result": {"finished": "none"}}}', "ddi.invalid", "execution {}"),
    (b'{"status": {"execution": "closed", "result": {"finished": []}}}', "ddi.invalid", "result []"),
    (b'{"status": {"execution": "closed", "result": {"finished": {"a": 1}}}}', "ddi.invalid", "result {'a': 1}"),
    # ... and types the report was taken with before, as if absent: an empty list for its
    # result, an object for its details, a word or a list for its progress.
    (b'{"status": {"execution": "closed", "result": []}}', "ddi.invalid", "'result' must be an object"),
    (b'{"status": {"execution": "proceeding", "details": {}}}', "ddi.invalid", "list of strings"),
    (b'{"status": {"execution": "proceeding", "details": [1, 2.5]}}', "ddi.invalid", "list of strings"),
    (b'{"status": {"execution": "proceeding", "result": {"finished": "none", "progress": "x"}}}',
     "ddi.invalid", "'progress' must be an object"),
    (b'{"status": {"execution": "proceeding", "result": {"finished": "none", "progress": [1, 2]}}}',
     "ddi.invalid", "'progress' must be an object"),
]


@pytest.mark.parametrize(("body", "code", "words"), BAD_FEEDBACK)
def test_bad_feedback_is_400_with_the_reason_and_changes_nothing(fleet, body, code, words):
    job = fleet.queue()
    client = fleet.client()
    client.feedback(job.pk, "download")
    before = snapshot(job)

    reply = client.request(
        "POST", f"/deploymentBase/{job.pk}/feedback", body=body, check_request=False
    )

    assert reply.status == 400
    assert reply.json()["errorCode"] == code
    assert words in reply.json()["message"]
    assert snapshot(job) == before


@pytest.mark.parametrize("report_id", ["999999", 999999, [], {"id": 1}, True, 1.5])
def test_a_report_naming_another_action_is_400_and_changes_nothing(fleet, report_id):
    job = fleet.queue()
    client = fleet.client()
    client.feedback(job.pk, "download")
    before = snapshot(job)
    body = {"id": report_id, "status": {"execution": "closed", "result": {"finished": "success"}}}

    reply = client.request("POST", f"/deploymentBase/{job.pk}/feedback", body=body, check_request=False)

    assert reply.status == 400
    assert reply.json()["errorCode"] == "ddi.invalid"
    assert f"is not the id of action {job.pk}" in reply.json()["message"]
    assert snapshot(job) == before


@pytest.mark.parametrize("same", [lambda pk: pk, str, lambda pk: "", lambda pk: None])
def test_a_report_naming_its_own_action_is_taken(fleet, same):
    """SWUpdate names it as a number, the others as text; absent, empty or null is fine."""
    job = fleet.queue()
    client = fleet.client()
    body = {"id": same(job.pk), "status": {"execution": "closed", "result": {"finished": "success"}}}

    reply = client.request("POST", f"/deploymentBase/{job.pk}/feedback", body=body, check_request=False)

    assert reply.status == 200
    assert fleet.job(job).state == S.SUCCEEDED


def test_feedback_past_the_size_limit_is_413(fleet, settings):
    settings.JSON_MAX_BYTES = 1000
    job = fleet.queue()
    client = fleet.client()

    reply = client.feedback(job.pk, "download", details=["x" * 2000])

    assert reply.status == 413
    assert reply.json() == {"message": "The request body is larger than 1000 bytes.",
                            "errorCode": "ddi.too_large"}
    assert fleet.job(job).state == S.QUEUED


BAD_CONFIG = [
    (b'{"data": {"sw_version": "5.40"', "not valid JSON"),
    (b'{"mode": "merge"}', "'data'"),
    (b'{"data": "sw_version=5.40"}', "'data'"),
    (b'{"data": {"sw_version": 5.4}}', "sw_version"),
    (b'{"data": {"partitions": ["1:armed"]}}', "partitions"),
    (b'{"data": {"sw_version": "5.40"}, "mode": "overwrite"}', "overwrite"),
    (b'{"data": {"sw_version": "five"}}', "sw_version"),
    # Not 5.40: a panel reporting it would never be confirmed (an archive's version may not end so either).
    (b'{"data": {"sw_version": "5.40\\n"}}', "sw_version"),
    (b'{"data": {"partitions": "1:open"}}', "partition"),
    (b'{"data": {"channels": "gprs,pigeon"}}', "pigeon"),
]


@pytest.mark.parametrize(("body", "words"), BAD_CONFIG)
def test_bad_config_data_is_400_with_the_reason_and_changes_nothing(fleet, body, words):
    job = fleet.queue()
    before = snapshot(job)

    reply = fleet.client().request("PUT", "/configData", body=body, check_request=False)

    assert reply.status == 400
    assert words in reply.json()["message"]
    assert snapshot(job) == before


def test_feedback_for_another_devices_action_is_404_and_changes_nothing(fleet, neighbour):
    job = fleet.queue()
    before = snapshot(job)

    reply = neighbour.feedback(job.pk, "closed", "failure", details=["not mine"])

    assert reply.status == 404
    assert "not an action of this controller" in reply.json()["message"]
    assert snapshot(job) == before
    # Same answer as for an action that does not exist at all.
    missing = neighbour.feedback(job.pk + 1000, "closed", "failure")
    assert (missing.status, missing.json()["message"]) == (
        404,
        reply.json()["message"].replace(str(job.pk), str(job.pk + 1000)),
    )


def test_non_json_media_types_are_refused(fleet):
    job = fleet.queue()
    reply = fleet.client().request(
        "POST",
        f"/deploymentBase/{job.pk}/feedback",
        body=b"\xa1",
        headers={"Content-Type": "application/cbor"},
        check_request=False,
    )
    assert reply.status == 415
    assert fleet.job(job).state == S.QUEUED


def test_wrong_method_is_405_with_allow(fleet):
    reply = fleet.client().request("DELETE", "", check_request=False)
    assert reply.status == 405
    assert reply.headers["Allow"] == "GET"
