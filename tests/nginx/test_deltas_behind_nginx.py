"""A delta behind nginx with X-Accel-Redirect: the same validator, resumes and progress as the
full archive, and the full archive is not this job's file."""

import hashlib
import time

import pytest

from ..ddi.client import eventually, raw_get
from ..ddi.test_deltas import releases  # noqa: F401 - fixture
from .conftest import WINDOW

pytestmark = [pytest.mark.live, pytest.mark.nginx]


def test_a_delta_is_served_by_nginx_and_resumed_with_range(fleet, front, releases, settings):  # noqa: F811
    settings.DOWNLOAD_PROGRESS_WRITE_INTERVAL = 0.05
    release, delta, content = releases
    job = fleet.queue()
    client = fleet.client()
    deployment = client.request("GET", client.poll().json()["_links"]["deploymentBase"]["href"]).json()
    artifact = deployment["deployment"]["chunks"][0]["artifacts"][0]
    url = artifact["_links"]["download"]["href"]
    assert url.startswith(front.url) and artifact["filename"] == delta.filename
    kept = 3000

    status, headers, body = raw_get(url, client.authorization, keep=kept, rcvbuf=4096)
    time.sleep(WINDOW + 1.2)  # the panel comes back later: Django sees the resume
    resumed = client.request("GET", url, headers={"Range": f"bytes={kept}-", "If-Range": headers["ETag"]})

    assert status == 200 and headers["ETag"] == f'"{delta.sha256}"'
    assert "X-Accel-Redirect" not in headers
    assert resumed.status == 206
    assert resumed.headers["Content-Range"] == f"bytes {kept}-{len(content) - 1}/{len(content)}"
    assert hashlib.sha256(body[:kept] + resumed.body).hexdigest() == delta.sha256
    assert eventually(lambda: fleet.job(job).bytes_downloaded == kept)
    assert fleet.job(job).bytes_total == delta.size
    full = url.rsplit("/", 1)[0] + "/" + release.filename
    assert client.request("GET", full).status == 404
