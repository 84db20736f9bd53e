"""`receivers/` and `device-types/`: natural keys, tokens shown once, firmware statistics."""

from datetime import time, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.tokens import token_digest
from receivers.models import Receiver
from sites.models import DeviceType
from tests.factories import (
    DeviceFactory,
    DeviceTypeFactory,
    ReceiverFactory,
    ReleaseFactory,
    UpdateJobFactory,
)

pytestmark = pytest.mark.django_db


def test_creating_a_receiver_returns_its_gateway_token_once(as_manager, manager):
    response = as_manager.post("/api/v1/receivers/", {"code": "north", "name": "North station",
                                                      "wakeup_url": "http://127.0.0.1:9/wake",
                                                      "poll_sleep": "00:02:00"}, format="json")
    assert response.status_code == 201
    body = response.json()
    token = body.pop("gateway_token")
    assert body == {"code": "north", "name": "North station", "wakeup_url": "http://127.0.0.1:9/wake",
                    "poll_sleep": "00:02:00", "time_zone": "UTC", "install_window": None,
                    "created_at": body["created_at"]}
    receiver = Receiver.objects.get(code="north")
    assert receiver.gateway_token_hash == token_digest(token) and token not in receiver.gateway_token_hash
    shown = as_manager.get("/api/v1/receivers/north/").json()
    assert "gateway_token" not in shown and shown["poll_sleep"] == "00:02:00"
    assert LogEntry.objects.get(object_id=str(receiver.pk)).user == manager


def test_receiver_poll_sleep_defaults_to_the_setting(as_manager):
    response = as_manager.post("/api/v1/receivers/", {"code": "north", "name": "North"}, format="json")
    assert response.json()["poll_sleep"] == "00:05:00"


def test_receiver_takes_a_time_zone_and_an_install_window_across_midnight(as_manager):
    response = as_manager.post("/api/v1/receivers/", {
        "code": "north", "name": "North", "time_zone": "Europe/Berlin",
        "install_window": {"start": "22:00", "end": "05:00"}}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["time_zone"] == "Europe/Berlin"
    assert body["install_window"] == {"start": "22:00", "end": "05:00"}
    receiver = Receiver.objects.get(code="north")
    assert (receiver.install_window_start, receiver.install_window_end) == (time(22), time(5))
    assert as_manager.get("/api/v1/receivers/north/").json()["install_window"] == {"start": "22:00", "end": "05:00"}


def test_receiver_time_zone_defaults_to_the_setting(as_manager, settings):
    settings.TIME_ZONE = "Europe/Oslo"
    response = as_manager.post("/api/v1/receivers/", {"code": "north", "name": "North", "install_window": None},
                               format="json")
    assert response.status_code == 201
    assert response.json()["time_zone"] == "Europe/Oslo" and response.json()["install_window"] is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": "../etc/passwd"}, "time_zone"),
        ({"install_window": {"start": "02:00"}}, "install_window"),
        ({"install_window": {"start": "02:00", "end": "02:00"}}, "install_window"),
        ({"install_window": {"start": "2 am", "end": "05:00"}}, "install_window"),
    ],
)
def test_bad_time_zone_or_install_window_is_400(as_manager, payload, field):
    response = as_manager.post("/api/v1/receivers/", {"code": "north", "name": "North", **payload}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Receiver.objects.exists()


def test_receiver_install_window_is_both_or_neither_in_the_database():
    receiver = ReceiverFactory(code="north")
    receiver.install_window_start = time(2)
    with pytest.raises(ValidationError, match="both a start and an end"):
        receiver.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Receiver.objects.filter(pk=receiver.pk).update(install_window_start=time(2))
    with pytest.raises(IntegrityError), transaction.atomic():
        Receiver.objects.filter(pk=receiver.pk).update(install_window_start=time(2), install_window_end=time(2))
    Receiver.objects.filter(pk=receiver.pk).update(install_window_start=time(22), install_window_end=time(5))


def test_rotating_the_gateway_token_invalidates_the_old_one(as_manager, manager):
    receiver = ReceiverFactory(code="north", gateway_token_hash=token_digest("old"))
    response = as_manager.post("/api/v1/receivers/north/gateway-token/")
    assert response.status_code == 200
    new = response.json()["gateway_token"]
    receiver.refresh_from_db()
    assert receiver.gateway_token_hash == token_digest(new) != token_digest("old")
    assert LogEntry.objects.filter(user=manager, change_message="Gateway token rotated.").exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"code": "North Station", "name": "x"}, "code"),
        ({"code": "north", "name": ""}, "name"),
        ({"code": "north", "name": "x", "wakeup_url": "not a url"}, "wakeup_url"),
    ],
)
def test_bad_receiver_fields_are_named(as_manager, payload, field):
    response = as_manager.post("/api/v1/receivers/", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert field in body and body["detail"].startswith(f"{field}: ")


def test_duplicate_receiver_code_is_400(as_manager):
    ReceiverFactory(code="north")
    response = as_manager.post("/api/v1/receivers/", {"code": "north", "name": "again"}, format="json")
    assert response.status_code == 400
    assert "code" in response.json()


def test_unknown_receiver_in_the_url_is_404(as_manager):
    for path in ("/api/v1/receivers/nowhere/", "/api/v1/receivers/nowhere/firmware-stats/"):
        response = as_manager.get(path)
        assert response.status_code == 404 and response.json()["detail"]
    assert as_manager.post("/api/v1/receivers/nowhere/gateway-token/").status_code == 404


def test_firmware_stats_rows_match_the_seed_example(as_viewer):
    """20 Nord GSM panels, current 5.40: 10 current, 10 outdated of which 4 updating, 6 not planned."""
    receiver = ReceiverFactory(code="north")
    nord = DeviceTypeFactory()
    release = ReleaseFactory(device_type=nord, version="5.40")
    now = timezone.now()
    for _ in range(10):
        DeviceFactory(site__receiver=receiver, device_type=nord, firmware_version="5.40", last_seen=now)
    for _ in range(4):
        UpdateJobFactory(device=DeviceFactory(site__receiver=receiver, device_type=nord, last_seen=now),
                         release=release)
    for channels in (["gsm_voice"], ["gprs"], ["gprs"], ["gprs"], ["gprs"], ["gprs"]):
        DeviceFactory(site__receiver=receiver, device_type=nord, channels=channels,
                      last_seen=now - timedelta(days=1))
    rows = as_viewer.get("/api/v1/receivers/north/firmware-stats/").json()
    assert rows == [{
        "device_type": "nord-gsm", "device_type_name": "Nord GSM", "current_version": "5.40", "total": 20,
        "current": 10, "outdated": 10, "updating": 4, "not_planned": 6, "not_eligible": 1,
            "not_eligible_reasons": {"no_ip_channel": 1},
        # Disjoint: the one without an IP channel is offline too, but counted once, as not eligible.
        "offline": 5, "red_reasons": {"no_ip_channel": 1, "offline": 5},
    }]


def test_device_types_are_created_and_looked_up_by_code(as_manager, as_viewer):
    nord = {"code": "nord-gsm", "name": "Nord GSM", "expected_offline_seconds": 180}
    response = as_manager.post("/api/v1/device-types/", {"code": "nord-gsm", "name": "Nord GSM"}, format="json")
    assert response.status_code == 201 and response.json() == nord
    assert as_viewer.get("/api/v1/device-types/nord-gsm/").json() == nord
    assert as_viewer.get("/api/v1/device-types/").json()["results"] == [nord]
    assert as_viewer.get("/api/v1/device-types/nord-lte/").status_code == 404
    again = as_manager.post("/api/v1/device-types/", {"code": "nord-gsm", "name": "Other"}, format="json")
    assert again.status_code == 400 and "code" in again.json()
    assert DeviceType.objects.count() == 1
    lan = as_manager.post("/api/v1/device-types/", {"code": "nord-lan", "name": "Nord LAN",
                                                    "expected_offline_seconds": 60}, format="json")
    assert lan.status_code == 201 and lan.json()["expected_offline_seconds"] == 60


def test_a_device_types_expected_offline_window_is_changed_by_a_manager_and_audited(as_manager, as_viewer,
                                                                                     manager):
    DeviceTypeFactory(code="nord-gsm", name="Nord GSM")
    changed = as_manager.patch("/api/v1/device-types/nord-gsm/", {"expected_offline_seconds": 300}, format="json")
    assert changed.status_code == 200 and changed.json() == {"code": "nord-gsm", "name": "Nord GSM",
                                                             "expected_offline_seconds": 300}
    assert DeviceType.objects.get(code="nord-gsm").expected_offline_seconds == 300
    entry = LogEntry.objects.get(object_repr="Nord GSM")
    assert (entry.user, entry.change_message) == (manager, "Changed expected offline (seconds).")
    refused = as_viewer.patch("/api/v1/device-types/nord-gsm/", {"expected_offline_seconds": 30}, format="json")
    assert refused.status_code == 403 and "change device types" in refused.json()["detail"]


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"expected_offline_seconds": 5}, "expected_offline_seconds", "greater than or equal to 10"),
    ({"expected_offline_seconds": 86401}, "expected_offline_seconds", "less than or equal to 86400"),
    ({"expected_offline_seconds": "soon"}, "expected_offline_seconds", "valid integer"),
    ({"code": "nord-lte"}, "non_field_errors", "not code"),
    ({}, "non_field_errors", "Give name or expected_offline_seconds"),
])
def test_a_bad_expected_offline_window_is_refused_with_the_reason_and_changes_nothing(as_manager, body, field,
                                                                                      words):
    DeviceTypeFactory(code="nord-gsm", name="Nord GSM")
    response = as_manager.patch("/api/v1/device-types/nord-gsm/", body, format="json")
    assert response.status_code == 400 and field in response.json() and words in response.json()["detail"], \
        response.json()
    stored = DeviceType.objects.get()
    assert (stored.code, stored.expected_offline_seconds) == ("nord-gsm", 180)


def test_lists_are_paginated(as_viewer):
    for n in range(7):
        ReceiverFactory(code=f"r{n}")
    page = as_viewer.get("/api/v1/receivers/?page_size=3&page=2").json()
    assert page["count"] == 7 and [r["code"] for r in page["results"]] == ["r3", "r4", "r5"]
    assert page["next"] and page["previous"]
