"""The device protocol's quotas (DEVELOPERS.md "Quotas"), over real HTTP: a panel flooding its
feedback or its attributes is refused with the spec's 429, naming the quota, and stores
nothing more; each tested at its boundary with the setting shrunk."""

import pytest

from firmware_updates.models import JobState
from sites.models import Device

from .conftest import SERIAL
from .test_feedback import snapshot

pytestmark = pytest.mark.live
S = JobState


def refused_by(reply, quota: str) -> bool:
    body = reply.json()
    return reply.status == 429 and body["errorCode"] == "ddi.quota_exceeded" and quota in body["message"]


def test_status_entries_are_kept_up_to_the_quota_then_refused_but_the_outcome_is_taken(fleet, settings):
    settings.JOB_MAX_STATUS_ENTRIES = 4
    job = fleet.queue()  # entry 1: queued
    client = fleet.client()
    assert client.feedback(job.pk, "download").status == 200  # 2: downloading
    assert client.feedback(job.pk, "proceeding", details=["Installing Update Chunk Artifacts."]).status == 200  # 3
    assert client.feedback(job.pk, "rejected", details=["busy"]).status == 200  # 4: exactly the quota
    assert fleet.job(job).events.count() == 4
    before = snapshot(job)

    progress = {"cnt": 1000, "of": fleet.release.size}
    assert refused_by(client.feedback(job.pk, "proceeding", progress=progress, details=["one more line"]),
                      "JOB_MAX_STATUS_ENTRIES")
    assert refused_by(client.feedback(job.pk, "rejected", details=["busy again"]), "JOB_MAX_STATUS_ENTRIES")
    assert snapshot(job) == before  # the refused report's progress was not taken either

    # What would add no entry is still taken: a repeat of the last line (a GPRS retry), progress.
    assert client.feedback(job.pk, "proceeding", details=["Installing Update Chunk Artifacts."]).status == 200
    assert client.feedback(job.pk, "proceeding", progress=progress).status == 200
    assert fleet.job(job).bytes_downloaded == 1000
    # A report that moves the job always is: a chatty panel can still finish.
    assert client.feedback(job.pk, "closed", "success", details=["Update Installed."]).status == 200
    assert fleet.job(job).state == S.SUCCEEDED


def attributes() -> dict:
    return Device.objects.get(serial=SERIAL).attributes


def test_attributes_are_kept_up_to_the_quota_then_refused(fleet, settings):
    settings.DEVICE_MAX_ATTRIBUTES = 4
    client = fleet.client()
    assert client.config_data({"sw_version": "5.30", "hw_revision": "2.1"}).status == 200
    assert client.config_data({"vendor": "acme", "modem": "bg96"}).status == 200  # merged: exactly 4
    before = attributes()
    assert len(before) == 4

    assert refused_by(client.config_data({"imei": "356938035643809"}), "DEVICE_MAX_ATTRIBUTES")
    assert refused_by(client.config_data({f"k{n}": "v" for n in range(5)}, mode="replace"), "DEVICE_MAX_ATTRIBUTES")
    assert attributes() == before

    assert client.config_data({"sw_version": "5.40"}).status == 200  # a kept one may change
    assert client.config_data({"vendor": "", "modem": ""}, mode="remove").status == 200
    assert client.config_data({"imei": "356938035643809", "iccid": "8944"}).status == 200  # room again
    assert client.config_data({f"k{n}": "v" for n in range(4)}, mode="replace").status == 200
    assert sorted(attributes()) == ["k0", "k1", "k2", "k3"]


@pytest.mark.parametrize(("data", "words"), [
    ({"n" * 129: "v"}, "Attribute names are 1 to 128 characters"),
    ({"note": "x" * 1025}, "note: Attribute values are text of at most 1024 characters"),
])
def test_an_attribute_too_long_is_400_and_nothing_is_stored(fleet, data, words):
    client = fleet.client()
    assert client.config_data({"vendor": "acme"}).status == 200
    before = attributes()
    reply = client.config_data(data)
    assert reply.status == 400 and words in reply.json()["message"]
    assert attributes() == before
