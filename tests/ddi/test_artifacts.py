"""Artifact download: Range, If-Range, ETag, 206/416 as RFC 9110 says, and download progress."""

import hashlib
import time

import pytest

from firmware_updates import services
from firmware_updates.models import JobState, UpdateJob

from .client import eventually, raw_get
from .conftest import make_release

pytestmark = pytest.mark.live


@pytest.fixture
def action(fleet):
    """A delivered job and the archive's links, as the device found them in deploymentBase."""
    job = fleet.queue()
    client = fleet.client()
    deployment = client.request(
        "GET", client.poll().json()["_links"]["deploymentBase"]["href"]
    ).json()
    artifact = deployment["deployment"]["chunks"][0]["artifacts"][0]
    with fleet.release.archive.open("rb") as fh:
        content = fh.read()
    return job, client, artifact, content


def test_full_download_carries_validators_and_length(fleet, action):
    job, client, artifact, content = action

    reply = client.request("GET", artifact["_links"]["download"]["href"])

    assert reply.status == 200
    assert reply.body == content
    assert (
        hashlib.sha256(reply.body).hexdigest()
        == artifact["hashes"]["sha256"]
        == fleet.release.sha256
    )
    assert reply.headers["ETag"] == f'"{fleet.release.sha256}"'
    assert reply.headers["Accept-Ranges"] == "bytes"
    assert reply.headers["Content-Length"] == str(len(content))
    assert reply.headers["Content-Type"] == "application/octet-stream"
    assert "Content-Range" not in reply.headers
    job = fleet.job(job)
    # Written to the socket is not received by the panel: nothing is confirmed yet.
    assert (job.state, job.bytes_downloaded) == (JobState.DOWNLOADING, 0)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-1023", 0, 1023),
        ("bytes=1000-", 1000, None),
        ("bytes=-500", -500, None),
        ("bytes=0-0", 0, 0),
        ("bytes=100-99999999", 100, None),  # last-pos past the end: up to the end
        ("BYTES=5-9", 5, 9),  # range units are case-insensitive
        ("bytes=, 7-8 ,", 7, 8),  # empty list elements and whitespace are allowed
    ],
)
def test_single_range_answers_206_with_content_range(action, header, first, last):
    _job, client, artifact, content = action
    size = len(content)
    first = first % size
    last = size - 1 if last is None else last

    reply = client.request("GET", artifact["_links"]["download"]["href"], headers={"Range": header})

    assert reply.status == 206
    assert reply.body == content[first : last + 1]
    assert reply.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
    assert reply.headers["Content-Length"] == str(last - first + 1)
    assert reply.headers["ETag"] == f'"{hashlib.sha256(content).hexdigest()}"'


@pytest.mark.parametrize("header", ["bytes=999999999-", "bytes=-0"])
def test_unsatisfiable_range_answers_416_with_the_size(action, header):
    _job, client, artifact, content = action

    reply = client.request("GET", artifact["_links"]["download"]["href"], headers={"Range": header})

    assert reply.status == 416
    assert reply.headers["Content-Range"] == f"bytes */{len(content)}"


@pytest.mark.parametrize(
    "header", ["bytes=0-1,5-6", "bytes=9-3", "items=0-10", "bytes=abc", "bytes 0-10"]
)
def test_a_range_we_do_not_honour_is_ignored_for_the_whole_file(action, header):
    _job, client, artifact, content = action

    reply = client.request("GET", artifact["_links"]["download"]["href"], headers={"Range": header})

    assert reply.status == 200
    assert reply.body == content


def test_if_range_with_the_current_etag_keeps_the_range(action):
    _job, client, artifact, content = action
    etag = f'"{artifact["hashes"]["sha256"]}"'

    reply = client.request(
        "GET",
        artifact["_links"]["download"]["href"],
        headers={"Range": "bytes=10-19", "If-Range": etag},
    )

    assert reply.status == 206
    assert reply.body == content[10:20]


@pytest.mark.parametrize(
    "validator",
    ['"another-archive"', "W/{etag}", "Fri, 27 Nov 2026 07:16:08 GMT"],
    ids=["other-etag", "weak-etag", "date"],
)
def test_if_range_that_does_not_match_strongly_sends_the_whole_file(action, validator):
    """A device resuming a file that changed must not glue two archives together."""
    _job, client, artifact, content = action
    validator = validator.format(etag=f'"{artifact["hashes"]["sha256"]}"')

    reply = client.request(
        "GET",
        artifact["_links"]["download"]["href"],
        headers={"Range": "bytes=10-19", "If-Range": validator},
    )

    assert reply.status == 200
    assert reply.body == content


def test_conditional_requests_on_the_etag(action):
    _job, client, artifact, _content = action
    url = artifact["_links"]["download"]["href"]
    etag = f'"{artifact["hashes"]["sha256"]}"'

    assert client.request("GET", url, headers={"If-None-Match": etag}).status == 304
    assert client.request("GET", url, headers={"If-Match": '"something-else"'}).status == 412
    assert (
        client.request("GET", url, headers={"If-Match": etag, "Range": "bytes=0-3"}).status == 206
    )


def test_head_answers_the_headers_of_the_whole_file_and_moves_nothing(fleet, action):
    job, client, artifact, content = action
    url = artifact["_links"]["download"]["href"]

    reply = client.request("HEAD", url)
    ranged = client.request("HEAD", url, headers={"Range": "bytes=0-9"})

    assert reply.status == ranged.status == 200  # Range is defined for GET only (RFC 9110 14.2)
    assert reply.body == ranged.body == b""
    assert reply.headers["Content-Length"] == ranged.headers["Content-Length"] == str(len(content))
    assert reply.headers["ETag"] == f'"{fleet.release.sha256}"'
    assert reply.headers["Accept-Ranges"] == "bytes"
    job = fleet.job(job)
    assert (job.state, job.bytes_downloaded) == (JobState.DELIVERED, 0)


def test_md5sum_file_checks_the_archive(fleet, action):
    _job, client, artifact, content = action

    reply = client.request("GET", artifact["_links"]["md5sum"]["href"])
    head = client.request("HEAD", artifact["_links"]["md5sum-http"]["href"])

    assert reply.status == 200
    assert reply.body.decode() == f"{hashlib.md5(content).hexdigest()}  {artifact['filename']}\n"
    assert head.status == 200 and head.headers["Content-Length"] == str(len(reply.body))


def test_first_range_moves_a_delivered_job_to_downloading(fleet, action):
    job, client, artifact, _content = action
    assert fleet.job(job).state == JobState.DELIVERED

    client.request("GET", artifact["_links"]["download"]["href"], headers={"Range": "bytes=0-4095"})
    # Asking for the next part confirms the first.
    client.request("GET", artifact["_links"]["download"]["href"], headers={"Range": "bytes=4096-8191"})

    assert eventually(lambda: fleet.job(job).bytes_downloaded == 4096)
    job = fleet.job(job)
    assert job.state == JobState.DOWNLOADING
    assert (
        job.events.filter(from_state=JobState.DELIVERED, to_state=JobState.DOWNLOADING).count() == 1
    )


def test_progress_is_visible_on_the_job_while_downloading(fleet, action, settings):
    settings.DOWNLOAD_PROGRESS_WRITE_INTERVAL = 0.01
    job, client, artifact, content = action
    url = artifact["_links"]["download"]["href"]
    part = 64 * 1024

    seen = []
    for first in range(part, 4 * part, part):
        # Each part the panel asks for confirms everything before it.
        client.request("GET", url, headers={"Range": f"bytes={first}-{first + part - 1}"})
        seen.append(eventually(lambda first=first: _overlaid(job) == first and _overlaid(job)))
        time.sleep(1.05)  # the service writes the row at most once a second per job

    assert seen == [part, 2 * part, 3 * part]
    assert eventually(lambda: fleet.job(job).bytes_downloaded == 3 * part)  # the row caught up
    job = fleet.job(job)
    assert job.progress_percent == int(3 * part * 100 / len(content))


def _overlaid(job) -> int:
    """bytes_downloaded as the operator's views (API, panel) read it: row plus cache overlay."""
    fresh = UpdateJob.objects.get(pk=job.pk)
    services.job_progress_overlay([fresh])
    return fresh.bytes_downloaded


def test_progress_counts_only_what_the_device_confirms(fleet, signing_identity, tmp_path):
    """The server cannot see what the modem received: a body cut mid-way counts nothing
    until the device resumes, and then exactly what it says it holds."""
    big = make_release(
        fleet.device_type,
        "5.41",
        signing_identity=signing_identity,
        tmp_path=tmp_path,
        size=12 * 1024 * 1024,
    )
    job = fleet.queue(release=big)
    client = fleet.client()
    client.request("GET", client.poll().json()["_links"]["deploymentBase"]["href"])
    url = f"{client.root}/softwaremodules/{big.pk}/artifacts/{big.filename}"

    status, _headers, body = raw_get(url, client.authorization, keep=100_000, rcvbuf=4096)

    assert status == 200 and len(body) == 100_000
    assert fleet.job(job).bytes_downloaded == 0

    # The device resumes from what it has, and the job completes its count.
    status, headers, rest = raw_get(
        url, client.authorization, headers={"Range": f"bytes={len(body)}-"}
    )
    assert (
        status == 206 and headers["Content-Range"] == f"bytes {len(body)}-{big.size - 1}/{big.size}"
    )
    assert hashlib.sha256(body + rest).hexdigest() == big.sha256
    assert eventually(lambda: fleet.job(job).bytes_downloaded == len(body))
    # Its feedback tells the rest.
    client.feedback(job.pk, "proceeding", progress={"cnt": big.size, "of": big.size})
    assert eventually(lambda: fleet.job(job).bytes_downloaded == big.size)


def test_x_accel_redirect_hands_the_bytes_to_nginx(fleet, action, settings):
    settings.USE_X_ACCEL_REDIRECT = True
    settings.X_ACCEL_REDIRECT_PREFIX = "/protected-artifacts/"
    job, client, artifact, _content = action
    url = artifact["_links"]["download"]["href"]

    reply = client.request("GET", url, headers={"Range": "bytes=0-1023"})

    assert reply.headers["X-Accel-Redirect"] == f"/protected-artifacts/{fleet.release.archive.name}"
    assert reply.body == b""
    assert reply.headers["ETag"] == f'"{fleet.release.sha256}"'
    job = fleet.job(job)
    assert (job.state, job.bytes_downloaded) == (JobState.DOWNLOADING, 0)  # nothing confirmed yet
    assert "X-Accel-Redirect" in client.request("HEAD", url).headers


def test_artifact_list_of_the_jobs_module(fleet, action):
    _job, client, artifact, _content = action

    reply = client.request("GET", f"/softwaremodules/{fleet.release.pk}/artifacts")

    assert reply.status == 200
    assert reply.json() == [artifact]


def test_x_accel_go_ahead_says_how_long_nginx_may_reuse_it(fleet, action, settings):
    settings.USE_X_ACCEL_REDIRECT = True
    _job, client, artifact, _content = action
    url = artifact["_links"]["download"]["href"]

    settings.X_ACCEL_EXPIRES = 7
    reused = client.request("GET", url)
    settings.X_ACCEL_EXPIRES = 0
    asked_each_time = client.request("GET", url)

    assert reused.headers["X-Accel-Expires"] == "7"
    assert "X-Accel-Expires" not in asked_each_time.headers
    # nginx states Accept-Ranges of the file itself; ours would come out twice.
    assert "Accept-Ranges" not in reused.headers


def test_refusals_say_nginx_may_keep_them_for_the_window_but_not_a_416(
    fleet, action, settings, neighbour
):
    settings.USE_X_ACCEL_REDIRECT = True
    settings.X_ACCEL_EXPIRES = 3
    job, client, artifact, content = action
    url = artifact["_links"]["download"]["href"]
    beyond = client.request("GET", url, headers={"Range": f"bytes={len(content) + 1}-"})
    services.update_job_cancel(job=fleet.job(job), actor=None)

    refused = [client.request("GET", url), fleet.client(token="wrong").request("GET", url),
               neighbour.request("GET", url.replace(fleet.device.serial, neighbour.serial))]
    settings.X_ACCEL_EXPIRES = 0
    asked_each_time = client.request("GET", url)

    assert [r.status for r in refused] == [404, 401, 404]
    # nginx keeps a refusal as it keeps a go-ahead: a refused renewal replaces the go-ahead.
    assert [r.headers["X-Accel-Expires"] for r in refused] == ["3", "3", "3"]
    assert not any("X-Accel-Redirect" in r.headers for r in refused)
    # A 416 depends on the Range, which nginx's key leaves out: never kept.
    assert beyond.status == 416 and "X-Accel-Expires" not in beyond.headers
    assert asked_each_time.status == 404 and "X-Accel-Expires" not in asked_each_time.headers


def test_if_match_behind_nginx_is_answered_with_the_bytes_by_django(fleet, action, settings):
    # nginx's static module would check If-Match against no ETag of its own and answer 412.
    settings.USE_X_ACCEL_REDIRECT = True
    _job, client, artifact, content = action
    etag = f'"{fleet.release.sha256}"'

    reply = client.request("GET", artifact["_links"]["download"]["href"], headers={"If-Match": etag})

    assert reply.status == 200 and reply.body == content
    assert "X-Accel-Redirect" not in reply.headers
