"""One panel's whole update, step by step as the seed describes it, over real HTTP."""

import hashlib

import pytest

from firmware_updates.models import JobState
from sites.models import Device

from .client import eventually, raw_get
from .conftest import SERIAL, TENANT

pytestmark = pytest.mark.live
S = JobState
PART = 48 * 1024  # the panel fetches the archive in parts


def test_one_panel_from_queue_to_confirmed_new_version(fleet, settings):
    settings.DOWNLOAD_PROGRESS_WRITE_INTERVAL = 0.01
    client = fleet.client()

    # First contact: the server wants to know the panel.
    body = client.poll().json()
    assert body["config"]["polling"]["sleep"] == "00:05:00"
    assert set(body["_links"]) == {"configData"}
    reply = client.config_data(
        {
            "sw_version": "5.30",
            "hw_revision": "2.1",
            "device_type": "nord-gsm",
            "channels": "gprs,sms",
            "partitions": "1:armed,2:disarmed",
            "settings_digest": "sha256:aa11",
        }
    )
    assert reply.status == 200 and reply.body == b""
    device = Device.objects.get(serial=SERIAL)
    assert device.attributes_at is not None
    assert device.channels == ["gprs", "sms"] and device.settings_digest == "sha256:aa11"
    assert "_links" not in client.poll().json()

    # Queued by an operator ("Update using site number..."): the next poll carries it.
    job = fleet.queue(101)
    body = client.poll().json()
    assert body["config"]["polling"]["sleep"] == settings.DDI_ACTIVE_POLL_SLEEP
    deployment_href = body["_links"]["deploymentBase"]["href"]
    deployment = client.request("GET", deployment_href).json()
    assert fleet.job(job).state == S.DELIVERED

    assert deployment["id"] == str(job.pk)
    assert deployment["deployment"]["download"] == deployment["deployment"]["update"] == "forced"
    assert "maintenanceWindow" not in deployment["deployment"]
    [chunk] = deployment["deployment"]["chunks"]
    assert (chunk["part"], chunk["version"], chunk["name"]) == ("os", "5.40", "nord-gsm")
    [artifact] = chunk["artifacts"]
    release = fleet.release
    download = f"{fleet.base_url}/{TENANT}/controller/v1/{SERIAL}/softwaremodules/{release.pk}/artifacts/{release.filename}"
    assert artifact == {
        "filename": release.filename,
        "size": release.size,
        "hashes": {"sha1": release.sha1, "md5": release.md5, "sha256": release.sha256},
        "_links": {
            "download": {"href": download},
            "download-http": {"href": download},
            "md5sum": {"href": f"{download}.MD5SUM"},
            "md5sum-http": {"href": f"{download}.MD5SUM"},
        },
    }

    # Download in parts over a link that drops twice; each time resume from the last byte.
    assert client.feedback(job.pk, "download", details=["Download started"]).status == 200
    assert fleet.job(job).state == S.DOWNLOADING
    received = b""
    drops = {2: 5000, 5: 100}  # the 3rd and 6th request lose the link after n bytes
    requests = 0
    while len(received) < release.size:
        first = len(received)
        last = min(first + PART, release.size) - 1
        status, headers, data = raw_get(
            download,
            client.authorization,
            headers={"Range": f"bytes={first}-{last}"},
            keep=drops.pop(requests, None),
        )
        requests += 1
        assert status == 206
        assert headers["Content-Range"] == f"bytes {first}-{last}/{release.size}"
        received += data
        client.feedback(job.pk, "proceeding", progress={"cnt": len(received), "of": release.size})
        assert fleet.job(job).state == S.DOWNLOADING
    assert not drops
    assert hashlib.sha256(received).hexdigest() == release.sha256
    md5sum = client.request("GET", artifact["_links"]["md5sum"]["href"]).body.decode()
    assert md5sum.split() == [hashlib.md5(received).hexdigest(), release.filename]
    assert eventually(lambda: fleet.job(job).bytes_downloaded == release.size)

    # Archive checked: downloaded, then ready for installation.
    assert client.feedback(job.pk, "downloaded", details=["sha256 and signature ok"]).status == 200
    assert fleet.job(job).state == S.DOWNLOADED
    assert (
        client.feedback(job.pk, "scheduled", details=["waiting for a disarmed partition"]).status
        == 200
    )
    assert fleet.job(job).state == S.READY
    # Partition 2 is disarmed: install and reboot.
    assert client.feedback(job.pk, "proceeding", details=["installing"]).status == 200
    assert fleet.job(job).state == S.INSTALLING

    # Back after the reboot: the new version is reported, which confirms the update.
    assert (
        client.config_data({"sw_version": "5.40", "partitions": "1:armed,2:disarmed"}).status == 200
    )
    job_row = fleet.job(job)
    assert job_row.state == S.SUCCEEDED and job_row.confirmed_at is not None
    assert job_row.warnings == []  # partitions and settings as before the install
    # The device's own closing report arrives after that: the action is already closed.
    late = client.feedback(job.pk, "closed", "success", details=["running 5.40"])
    assert late.status == 410 and late.json()["errorCode"] == "ddi.action_gone"

    # Idle again: long sleep, nothing to do but the installed base.
    body = client.poll().json()
    assert body["config"]["polling"]["sleep"] == "00:05:00"
    assert set(body["_links"]) == {"installedBase"}
    assert client.request("GET", download).status == 404  # a finished job's archive is not served

    # The job's history tells the whole story, each step once, all by the device.
    job_row = fleet.job(job)
    transitions = [(e.from_state, e.to_state) for e in job_row.events.filter(kind="transition")]
    assert transitions == [
        ("", S.QUEUED),
        (S.QUEUED, S.DELIVERED),
        (S.DELIVERED, S.DOWNLOADING),
        (S.DOWNLOADING, S.DOWNLOADED),
        (S.DOWNLOADED, S.READY),
        (S.READY, S.INSTALLING),
        (S.INSTALLING, S.SUCCEEDED),
    ]
    assert {e.actor_label for e in job_row.events.exclude(to_state=S.QUEUED)} == {"device"}
    assert job_row.events.filter(kind="confirmed").count() == 1
    assert job_row.bytes_downloaded == job_row.bytes_total == release.size
    assert Device.objects.get(serial=SERIAL).firmware_version == "5.40"
