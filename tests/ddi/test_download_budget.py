"""Retry storms (issue 10): a job's archive asked for more than DDI_DOWNLOAD_BUDGET_ARCHIVES
times its size within a clock hour is refused with 429 and Retry-After until the hour ends,
once in the job's history; a cache out of reach refuses nothing. Over real HTTP."""

from unittest import mock

import pytest

from firmware_updates import services
from firmware_updates.models import UpdateJobEvent
from testing.servers import free_port

pytestmark = pytest.mark.live


@pytest.fixture
def action(fleet, settings):
    settings.DDI_DOWNLOAD_BUDGET_ARCHIVES = 2
    job = fleet.queue()
    client = fleet.client()
    deployment = client.request("GET", client.poll().json()["_links"]["deploymentBase"]["href"]).json()
    url = deployment["deployment"]["chunks"][0]["artifacts"][0]["_links"]["download"]["href"]
    return job, client, url, fleet.release.size


def budget_events(job):
    return UpdateJobEvent.objects.filter(job=job, kind=services.DOWNLOAD_BUDGET_EVENT)


def test_the_budget_is_served_to_the_byte_and_the_next_byte_refused(fleet, action):
    job, client, url, size = action
    served = [client.request("GET", url).status,  # the whole archive: size
              client.request("GET", url, headers={"Range": f"bytes=0-{size - 2}"}).status,  # 2 size - 1
              client.request("HEAD", url).status,  # no bytes
              client.request("GET", url, headers={"Range": "bytes=0-0"}).status]  # 2 size: the budget
    assert served == [200, 206, 200, 206]
    assert not budget_events(job).exists()

    refused = client.request("GET", url, headers={"Range": "bytes=0-0"})  # one byte past it

    assert refused.status == 429
    assert refused.json()["errorCode"] == "ddi.download_budget_exceeded"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert client.request("GET", url).status == 429
    assert client.request("HEAD", url).status == 200  # a HEAD costs nothing
    # Counted once in the job's history, not per refused request.
    assert budget_events(job).count() == 1
    assert "more than 2 archives' worth" in budget_events(job).get().details["message"]


def test_the_budget_is_the_jobs_own_and_the_hours(fleet, action, settings):
    job, client, url, size = action
    for _ in range(2):
        assert client.request("GET", url).status == 200
    assert client.request("GET", url).status == 429
    # The next hour starts afresh.
    later = services.device_reports.time.time() + 3600
    with mock.patch.object(services.device_reports.time, "time", return_value=later):
        assert client.request("GET", url).status == 200
    assert budget_events(job).count() == 1


def test_zero_means_no_limit(fleet, action, settings):
    _job, client, url, _size = action
    settings.DDI_DOWNLOAD_BUDGET_ARCHIVES = 0
    assert [client.request("GET", url).status for _ in range(4)] == [200] * 4


def test_a_cache_out_of_reach_refuses_nothing(fleet, action, settings):
    job, client, url, _size = action
    # Production's cache backend on a Redis nobody listens to (tests/test_outages.py).
    settings.CACHES = {"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    assert [client.request("GET", url).status for _ in range(4)] == [200] * 4
    assert not budget_events(job).exists()


def test_a_cache_failing_otherwise_refuses_nothing(fleet, action):
    job, _client, _url, _size = action
    failing = mock.Mock(**{"incr.side_effect": RuntimeError("down"), "add.side_effect": RuntimeError("down")})
    for _ in range(2):
        assert services.job_download_admit(job=job, size=10, first=0, last=9) is None
    assert services.job_download_admit(job=job, size=10, first=0, last=9) is not None
    with mock.patch.object(services.device_reports, "cache", failing):
        assert services.job_download_admit(job=job, size=10, first=0, last=9) is None


def test_resumes_are_charged_what_arrived_not_what_they_asked_for(fleet, action):
    """A link dropping every 1/20 of the archive: 20 resumes asking for the rest, about ten
    archives' worth asked, one archive received; then the same panel starting over twice more."""
    job, client, url, size = action
    step = size // 20
    resumes = [client.request("GET", url, headers={"Range": f"bytes={n * step}-"}).status for n in range(20)]
    assert resumes == [206] * 20 or resumes == [200] + [206] * 19
    assert client.request("GET", url).status == 200  # from the start again: a second archive
    assert client.request("GET", url, headers={"Range": "bytes=0-0"}).status == 429  # a third: past 2
    assert budget_events(job).count() == 1


def test_behind_nginx_the_authorised_ranges_are_counted(fleet, action, settings):
    settings.USE_X_ACCEL_REDIRECT = True
    settings.X_ACCEL_EXPIRES = 3
    job, client, url, size = action
    authorised = [client.request("GET", url, headers={"Range": f"bytes=0-{size - 1}"}),
                  client.request("GET", url, headers={"Range": f"bytes=0-{size - 2}"}),
                  client.request("GET", url, headers={"Range": "bytes=0-0"})]
    assert [r.status for r in authorised] == [200, 200, 200]
    assert all("X-Accel-Redirect" in r.headers for r in authorised)

    refused = client.request("GET", url, headers={"Range": "bytes=0-1"})

    assert refused.status == 429 and "Retry-After" in refused.headers
    assert "X-Accel-Redirect" not in refused.headers
    # Kept by nginx like the other refusals, so it replaces the go-ahead nginx holds.
    assert refused.headers["X-Accel-Expires"] == "3"
    assert budget_events(job).count() == 1
