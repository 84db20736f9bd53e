"""Delta archives over DDI: a panel on a delta's base version is sent the delta, any other the
full archive; a panel whose delta failed gets the full archive on its next attempt; resume
works on the delta as on a full archive."""

import hashlib

import pytest
from django.core.files import File

from firmware_updates import services
from firmware_updates.models import JobState
from sites.models import Device
from tests.panel.html import find_all

from .conftest import delta_archive, evolve_image, firmware_image, release_from_image

pytestmark = pytest.mark.live


@pytest.fixture
def releases(fleet, signing_identity, tmp_path):
    """5.30 (what the panel runs) and 5.50, current, with a delta from 5.30."""
    base = firmware_image(seed=530)
    image = evolve_image(base, seed=550)
    release_from_image(fleet.device_type, "5.30", base, signing_identity=signing_identity, tmp_path=tmp_path)
    new = release_from_image(fleet.device_type, "5.50", image, signing_identity=signing_identity,
                             tmp_path=tmp_path, compress="zstd")
    services.release_mark_current(release=new)
    path = delta_archive(fleet.device_type, "5.50", base_version="5.30", base=base, image=image,
                         signing_identity=signing_identity, tmp_path=tmp_path)
    with open(path, "rb") as fh:
        delta = services.release_delta_create(release=new, archive=File(fh, name=path.name))
    return new, delta, path.read_bytes()


def _deployment(fleet, client):
    return client.request("GET", client.poll().json()["_links"]["deploymentBase"]["href"]).json()


def test_panel_on_the_base_version_is_sent_the_delta_and_resumes_it(fleet, releases, admin_client):
    release, delta, content = releases
    job = fleet.queue()
    client = fleet.client()

    artifact = _deployment(fleet, client)["deployment"]["chunks"][0]["artifacts"][0]

    assert artifact["filename"] == delta.filename
    assert artifact["size"] == len(content) < release.size / 4
    assert artifact["hashes"]["sha256"] == hashlib.sha256(content).hexdigest()
    href = artifact["_links"]["download-http"]["href"]
    assert f"/softwaremodules/{release.pk}/artifacts/" in href
    first = client.request("GET", href, headers={"Range": "bytes=0-4095"})
    rest = client.request("GET", href, headers={"Range": "bytes=4096-",
                                                "If-Range": first.headers["ETag"]})
    assert (first.status, rest.status) == (206, 206)
    assert first.body + rest.body == content
    job = fleet.job(job)
    assert (job.state, job.delta_id, job.bytes_total, job.bytes_downloaded) == (
        JobState.DOWNLOADING, delta.pk, len(content), 4096)
    # The full archive is not this action's artifact.
    full = href.rsplit("/", 1)[0] + "/" + release.filename
    assert client.request("GET", full).status == 404
    # The operator sees which archive the panel is sent.
    assert admin_client.get(f"/api/v1/update-jobs/{job.pk}/").json()["artifact"] == {
        "kind": "delta", "filename": delta.filename, "size": delta.size, "base_version": "5.30"}
    [sent] = find_all(admin_client.get("/receivers/north/software-update/nord-gsm/").content, "job-artifact")
    assert sent["attrs"]["data-kind"] == "delta"
    assert sent["text"].startswith("delta, ") and "instead of" in sent["text"]


def test_panel_on_another_version_is_sent_the_full_archive(fleet, releases, admin_client):
    release, _delta, _content = releases
    Device.objects.filter(pk=fleet.device.pk).update(firmware_version="5.20")
    job = fleet.queue()
    assert admin_client.get(f"/api/v1/update-jobs/{job.pk}/").json()["artifact"] is None  # not chosen yet

    artifact = _deployment(fleet, fleet.client())["deployment"]["chunks"][0]["artifacts"][0]

    assert (artifact["filename"], artifact["size"], artifact["hashes"]["sha256"]) == (
        release.filename, release.size, release.sha256)
    assert admin_client.get(f"/api/v1/update-jobs/{job.pk}/").json()["artifact"]["kind"] == "full"


def test_after_a_failed_delta_the_next_attempt_is_the_full_archive(fleet, releases):
    release, delta, _content = releases
    client = fleet.client()
    first = fleet.queue()
    deployment = _deployment(fleet, client)
    assert deployment["deployment"]["chunks"][0]["artifacts"][0]["filename"] == delta.filename
    client.feedback(first.pk, "closed", "failure",
                    details=["Delta refused: it patches 5.30, and /dev/fw-a holds another image"])
    first = fleet.job(first)
    assert first.state == JobState.FAILED
    assert "the next attempt sends the full archive" in first.reason

    second = fleet.queue()
    artifact = _deployment(fleet, client)["deployment"]["chunks"][0]["artifacts"][0]

    assert (artifact["filename"], artifact["size"]) == (release.filename, release.size)
    assert fleet.job(second).delta_id is None
