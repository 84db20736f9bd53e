"""Artifacts behind a real nginx (deploy/nginx/firmware.conf) with USE_X_ACCEL_REDIRECT: one
validator in both modes, resumes, refusals, and the short-lived go-ahead cache."""

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor, wait

import pytest
from django.db import transaction

from firmware_updates import services
from firmware_updates.models import JobState, UpdateJob

from ..ddi.client import eventually, raw_get
from .conftest import WINDOW

pytestmark = [pytest.mark.live, pytest.mark.nginx]


@pytest.fixture
def delivered(fleet, front, settings):
    """A delivered job, its device's client and the archive's URL, as the device found them
    in deploymentBase through nginx."""
    settings.DOWNLOAD_PROGRESS_WRITE_INTERVAL = 0.05
    job = fleet.queue()
    client = fleet.client()
    deployment = client.request("GET", client.poll().json()["_links"]["deploymentBase"]["href"]).json()
    url = deployment["deployment"]["chunks"][0]["artifacts"][0]["_links"]["download"]["href"]
    assert url.startswith(front.url), "links are built from the Host the device used"
    with fleet.release.archive.open("rb") as fh:
        content = fh.read()
    return job, client, url, content


def artifact_lines(front):
    return [line for line in front.access_log() if "/artifacts/" in line.path]


def from_cache(front) -> list[bool]:
    """For each artifact request so far: answered from the cache (True) or by Django."""
    return [line.cache == "HIT" for line in artifact_lines(front)]


def test_download_through_nginx_shows_djangos_etag_and_no_other_validator(fleet, front, delivered):
    job, client, url, content = delivered

    reply = client.request("GET", url)

    assert reply.status == 200 and reply.body == content
    assert reply.headers["ETag"] == f'"{fleet.release.sha256}"'  # not nginx's "mtime-size"
    assert "Last-Modified" not in reply.headers
    assert reply.headers["Accept-Ranges"] == "bytes"
    assert reply.headers["Content-Disposition"] == f'attachment; filename="{fleet.release.filename}"'
    assert "X-Accel-Redirect" not in reply.headers and "X-Accel-Expires" not in reply.headers
    assert fleet.job(job).state == JobState.DOWNLOADING


def test_nginx_follows_the_cached_go_ahead_within_the_window(fleet, front, delivered):
    _job, client, url, content = delivered

    first, second = client.request("GET", url), client.request("GET", url)
    head = client.request("HEAD", url)

    assert first.body == second.body == content
    assert head.status == 200 and head.headers["Content-Length"] == str(len(content))
    assert head.headers["ETag"] == f'"{fleet.release.sha256}"'
    assert [line.method for line in artifact_lines(front)] == ["GET", "GET", "HEAD"]
    assert from_cache(front) == [False, True, False]  # HEAD is its own key: Django sees it


def test_resume_with_range_and_if_range_gets_206_and_the_job_shows_the_confirmed_bytes(
    fleet, front, delivered
):
    job, client, url, content = delivered
    kept = 120_000
    status, headers, body = raw_get(url, client.authorization, keep=kept, rcvbuf=16384)
    assert status == 200 and len(body) == kept
    time.sleep(WINDOW + 1.2)  # the device comes back later: Django sees the resume

    resumed = client.request("GET", url, headers={"Range": f"bytes={kept}-", "If-Range": headers["ETag"]})

    assert resumed.status == 206
    assert resumed.headers["Content-Range"] == f"bytes {kept}-{len(content) - 1}/{len(content)}"
    assert hashlib.sha256(body + resumed.body).hexdigest() == fleet.release.sha256
    assert eventually(lambda: fleet.job(job).bytes_downloaded == kept)
    # Within the window nginx alone answers a further resume, and still honours If-Range.
    again = client.request("GET", url, headers={"Range": "bytes=200000-", "If-Range": headers["ETag"]})
    assert again.status == 206 and again.body == content[200_000:]
    assert from_cache(front)[-1]


def test_if_range_with_another_validator_gets_the_whole_archive_and_confirms_nothing(
    fleet, front, delivered
):
    job, client, url, content = delivered

    # nginx's own ETag shape, as devices got it before deploy/nginx switched it off.
    reply = client.request("GET", url, headers={"Range": "bytes=1000-", "If-Range": '"6571c0d3-7a000"'})

    assert reply.status == 200 and reply.body == content
    assert fleet.job(job).bytes_downloaded == 0


@pytest.mark.parametrize("token", ["wrong-token", None])
def test_wrong_or_absent_token_is_401_from_django_every_time(fleet, front, delivered, token):
    _job, client, url, content = delivered
    client.request("GET", url)  # the owner's go-ahead is in the cache
    stranger = fleet.client(token=token) if token else fleet.client(token="")

    replies = [stranger.request("GET", url) for _ in range(2)]

    # Django's own answer (the client checks its ExceptionInfo body against the spec), also
    # when nginx kept the refusal: a kept refusal only sends the request on to Django.
    assert [r.status for r in replies] == [401, 401]
    assert all(r.headers["WWW-Authenticate"].startswith("TargetToken") for r in replies)
    assert all(r.body != content and "X-Accel-Expires" not in r.headers for r in replies)
    assert from_cache(front) == [False, False, True]


def test_another_devices_token_is_refused_even_right_after_the_owner_was_served(
    fleet, front, delivered, neighbour
):
    _job, client, url, content = delivered
    assert client.request("GET", url).body == content
    impostor = fleet.client(token=neighbour.authorization.split()[1])  # owner's URL, other token
    neighbour_url = url.replace(f"/{fleet.device.serial}/", f"/{neighbour.serial}/")

    impostor_reply = impostor.request("GET", url)
    neighbour_reply = neighbour.request("GET", neighbour_url)  # its own URL, not its job

    assert impostor_reply.status == 401 and impostor_reply.body != content
    assert neighbour_reply.status == 404 and neighbour_reply.body != content
    assert from_cache(front) == [False, False, False]


def test_cancelled_jobs_artifact_is_refused_once_the_window_has_passed(fleet, front, delivered):
    job, client, url, content = delivered
    assert client.request("GET", url).body == content

    services.update_job_cancel(job=fleet.job(job), actor=None)
    time.sleep(WINDOW + 1.2)
    # The first request after the window is still served on the expired go-ahead while
    # nginx asks Django again in the background; Django's refusal then replaces it.
    renewing = client.request("GET", url)
    started = time.monotonic()
    refused = eventually(lambda: (reply := client.request("GET", url)).status == 404 and reply, timeout=5)
    refused_after = time.monotonic() - started

    assert renewing.status == 200 and renewing.body == content
    assert fleet.job(job).state == JobState.CANCELLING
    assert refused and refused_after < 2, "the refusal did not replace the expired go-ahead"
    # The kept refusal only sends the device on to Django: once the device acknowledged
    # and a new job was queued, the very same request is served at once.
    assert client.cancel_feedback(job.pk, "closed").status == 200
    fleet.queue()
    client.request("GET", client.poll().json()["_links"]["deploymentBase"]["href"])
    assert client.request("GET", url).body == content
    statuses = [line.status for line in artifact_lines(front)]
    assert statuses[:2] == [200, 200] and statuses[-2:] == [404, 200], statuses


def test_preconditions_are_answered_as_without_nginx(fleet, front, delivered):
    _job, client, url, content = delivered
    etag = f'"{fleet.release.sha256}"'
    client.request("GET", url)  # a go-ahead in the cache must not answer these

    assert client.request("GET", url, headers={"If-None-Match": etag}).status == 304
    assert client.request("GET", url, headers={"If-None-Match": '"other"'}).body == content
    matched = client.request("GET", url, headers={"If-Match": etag, "Range": "bytes=10-19"})
    assert (matched.status, matched.body) == (206, content[10:20])
    assert client.request("GET", url, headers={"If-Match": '"other"'}).status == 412
    # Straight to Django: the go-ahead cache was not even asked.
    assert {line.cache for line in artifact_lines(front)[1:]} == {"-"}


def test_unsatisfiable_range_is_djangos_416_not_the_subrequests_500(fleet, front, delivered):
    _job, client, url, content = delivered

    # No go-ahead stored yet: Django answers the subrequest 416, which auth_request alone
    # would turn into 500; the device must get Django's answer.
    reply = client.request("GET", url, headers={"Range": f"bytes={len(content) + 10}-"})

    assert reply.status == 416
    assert reply.headers["Content-Range"] == f"bytes */{len(content)}"
    assert reply.headers["ETag"] == f'"{fleet.release.sha256}"'


def test_while_django_renews_a_go_ahead_the_devices_requests_are_served_and_ask_it_once(
    fleet, front, delivered
):
    job, client, url, content = delivered
    assert client.request("GET", url).body == content
    time.sleep(WINDOW + 1.2)  # the go-ahead has expired

    with ThreadPoolExecutor(5) as pool:
        # Django is slow to renew: the renewal's progress write waits on this lock.
        with transaction.atomic():
            UpdateJob.objects.select_for_update().filter(pk=job.pk).exists()
            burst = [pool.submit(client.request, "GET", url) for _ in range(5)]
            done, waiting = wait(burst, timeout=15)
            # No request waited for the renewal: all were served on the expired go-ahead.
            assert not waiting
        replies = [future.result() for future in burst]

    assert all(reply.status == 200 and reply.body == content for reply in replies)
    # Django asked once (nginx logs the request that started the renewal when it is done).
    asked = lambda: sorted(line.cache for line in artifact_lines(front)[1:])  # noqa: E731
    assert eventually(lambda: asked() == ["STALE"] + ["UPDATING"] * 4), asked()
    # Once the renewal is through, nginx answers alone again.
    assert eventually(lambda: client.request("GET", url).body == content and from_cache(front)[-1])


def test_a_retry_storm_is_refused_once_nginx_renews_the_go_ahead(fleet, front, delivered, settings):
    """Django counts the ranges it authorises (one request per window reaches it); past the
    budget the renewal's 429 replaces the go-ahead, and the device gets Django's 429 with
    Retry-After from then on, not the archive."""
    settings.DDI_DOWNLOAD_BUDGET_ARCHIVES = 1
    job, client, url, content = delivered
    assert client.request("GET", url).body == content  # Django: one archive, the budget
    assert client.request("GET", url).body == content  # nginx alone, within the window
    time.sleep(WINDOW + 1.2)

    renewing = client.request("GET", url)  # served on the stale go-ahead; Django refuses the renewal
    refused = eventually(lambda: (reply := client.request("GET", url)).status == 429 and reply, timeout=5)

    assert renewing.status == 200
    assert refused and int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["errorCode"] == "ddi.download_budget_exceeded"
    assert UpdateJob.objects.get(pk=job.pk).events.filter(kind=services.DOWNLOAD_BUDGET_EVENT).count() == 1
