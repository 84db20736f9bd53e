"""`sites/`: a site with its panel, badge and active job; created by number on a receiver."""

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from firmware_updates import services
from sites.models import Device, Site
from tests.factories import (
    DeviceFactory,
    DeviceTypeFactory,
    ReceiverFactory,
    ReleaseFactory,
    SiteFactory,
    UpdateJobFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def north():
    receiver = ReceiverFactory(code="north")
    DeviceTypeFactory()
    return receiver


def new_site(**overrides):
    device = {"serial": "NG00001204", "device_type": "nord-gsm", "hardware_revision": "2.1",
              "firmware_version": "5.30", "channels": ["gprs", "sms"],
              "partitions": [{"number": 1, "armed": True}, {"number": 2, "armed": False}],
              **overrides.pop("device", {})}
    return {"receiver": "north", "number": 1204, "name": "Pharmacy", "address": "Fjord Way 7", "device": device,
            **overrides}


def test_creating_a_site_returns_the_panel_token_once(north, as_manager, manager):
    response = as_manager.post("/api/v1/sites/", new_site(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    token = body["device"].pop("target_token")
    assert body == {
        "id": body["id"], "receiver": "north", "number": 1204, "name": "Pharmacy", "address": "Fjord Way 7", "remote_update": "allowed",
        "badge": "red",
        "device": {"serial": "NG00001204", "device_type": "nord-gsm", "hardware_revision": "2.1",
                   "firmware_version": "5.30", "channels": ["gprs", "sms"],
                   "partitions": [{"number": 1, "armed": True}, {"number": 2, "armed": False}],
                   "last_seen": None, "online": False},
        "active_job": None, "created_at": body["created_at"],
    }
    device = Device.objects.get(serial="NG00001204")
    assert device.token_hash and token not in device.token_hash and device.has_ip_channel
    assert "target_token" not in as_manager.get(f"/api/v1/sites/{body['id']}/").json()["device"]
    assert LogEntry.objects.get(object_id=str(body["id"])).user == manager


def test_rotating_the_panel_token_replaces_it(north, as_manager):
    site = as_manager.post("/api/v1/sites/", new_site(), format="json").json()
    old = Device.objects.get(serial="NG00001204").token_hash
    response = as_manager.post(f"/api/v1/sites/{site['id']}/device/token/")
    assert response.status_code == 200
    assert Device.objects.get(serial="NG00001204").token_hash not in ("", old)
    assert as_manager.post("/api/v1/sites/999999/device/token/").status_code == 404


def test_duplicate_site_number_on_a_receiver_is_400(north, as_manager):
    assert as_manager.post("/api/v1/sites/", new_site(), format="json").status_code == 201
    response = as_manager.post("/api/v1/sites/", new_site(device={"serial": "OTHER"}), format="json")
    assert response.status_code == 400
    assert response.json()["number"] == ["Site 1204 already exists on receiver north."]
    assert Site.objects.count() == 1


def test_same_site_number_on_another_receiver_is_fine(north, as_manager):
    ReceiverFactory(code="south")
    as_manager.post("/api/v1/sites/", new_site(), format="json")
    response = as_manager.post("/api/v1/sites/", new_site(receiver="south", device={"serial": "S1"}), format="json")
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"receiver": "nowhere"}, "receiver: No receiver has the code nowhere."),
        ({"device": {"device_type": "nord-lte"}}, "device.device_type: No device type has the code nord-lte."),
        ({"device": {"firmware_version": "five"}}, "device.firmware_version: 'five' is not a firmware version"),
        ({"device": {"channels": ["carrier-pigeon"]}}, "device.channels"),
        ({"number": 0}, "number: Ensure this value is greater than or equal to 1."),
    ],
)
def test_bad_site_fields_are_400_naming_the_field(north, as_manager, overrides, detail):
    response = as_manager.post("/api/v1/sites/", new_site(**overrides), format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)
    assert not Site.objects.exists()


def test_duplicate_serial_is_400(north, as_manager):
    DeviceFactory(serial="NG00001204")
    response = as_manager.post("/api/v1/sites/", new_site(), format="json")
    assert response.status_code == 400 and "serial" in response.json()


def test_badges_and_active_job_with_freshest_progress(north, as_viewer):
    nord = DeviceTypeFactory()
    release = ReleaseFactory(device_type=nord, version="5.40", size=1000)
    DeviceFactory(site__receiver=north, site__number=1, firmware_version="5.40", last_seen=timezone.now())
    updating = DeviceFactory(site__receiver=north, site__number=2)
    DeviceFactory(site__receiver=north, site__number=3)
    job = UpdateJobFactory(device=updating, release=release, state="downloading", bytes_downloaded=100)
    # The device API keeps the latest offset in the cache between row writes.
    services.job_download_progress(job=job, offset=640)
    services.job_download_progress(job=job, offset=700)

    rows = as_viewer.get("/api/v1/sites/?receiver=north").json()["results"]
    assert [(r["number"], r["badge"]) for r in rows] == [(1, "green"), (2, "yellow"), (3, "red")]
    assert rows[0]["device"]["online"] is True and rows[2]["device"]["online"] is False
    assert rows[1]["active_job"] == {"id": job.pk, "state": "downloading",
                                     "release": {"id": release.pk, "version": "5.40"},
                                     "progress": {"bytes": 700, "of": 1000, "percent": 70}}
    assert rows[0]["active_job"] is None
    detail = as_viewer.get(f"/api/v1/sites/{rows[1]['id']}/").json()
    assert detail["active_job"]["progress"]["bytes"] == 700


def test_filters_by_receiver_number_device_type_and_badge(north, as_viewer):
    nord = DeviceTypeFactory()
    lte = DeviceTypeFactory(code="nord-lte", name="Nord LTE")
    ReleaseFactory(device_type=nord, version="5.40")
    south = ReceiverFactory(code="south")
    DeviceFactory(site__receiver=north, site__number=1, firmware_version="5.40")
    DeviceFactory(site__receiver=north, site__number=2, device_type=lte)
    DeviceFactory(site__receiver=south, site__number=1)

    def numbers(query):
        response = as_viewer.get(f"/api/v1/sites/?{query}")
        assert response.status_code == 200, response.json()
        return [(r["receiver"], r["number"]) for r in response.json()["results"]]

    assert numbers("receiver=north") == [("north", 1), ("north", 2)]
    assert numbers("number=1") == [("north", 1), ("south", 1)]
    assert numbers("device_type=nord-lte") == [("north", 2)]
    assert numbers("badge=green") == [("north", 1)]
    assert numbers("badge=red&receiver=north") == [("north", 2)]


@pytest.mark.parametrize(
    ("query", "field"),
    [("receiver=nowhere", "receiver"), ("device_type=x", "device_type"), ("badge=blue", "badge"),
     ("number=abc", "number")],
)
def test_bad_filters_are_400_naming_the_parameter(north, as_viewer, query, field):
    response = as_viewer.get(f"/api/v1/sites/?{query}")
    assert response.status_code == 400 and field in response.json()


def test_site_list_takes_a_constant_number_of_queries(north, as_viewer, django_assert_max_num_queries):
    nord = DeviceTypeFactory()
    release = ReleaseFactory(device_type=nord, version="5.40")
    for n in range(50):
        device = DeviceFactory(site__receiver=north, site__number=n + 1)
        if n % 2:
            UpdateJobFactory(device=device, release=release)
    # session/auth (user permissions + group permissions), count, page, active jobs
    with django_assert_max_num_queries(6):
        response = as_viewer.get("/api/v1/sites/?page_size=50")
    assert len(response.json()["results"]) == 50
    assert sum(1 for r in response.json()["results"] if r["active_job"]) == 25


def test_site_without_a_panel_shows_no_device_and_is_red(north, as_viewer):
    site = SiteFactory(receiver=north, number=5)
    body = as_viewer.get(f"/api/v1/sites/{site.pk}/").json()
    assert (body["device"], body["badge"], body["active_job"]) == (None, "red", None)


def gateway_registered(receiver, serial="NG00001204", **fields):
    """A panel a receiver's gateway registered on its first poll and that then described itself."""
    from sites.services import device_apply_attributes, device_register_via_gateway

    device = device_register_via_gateway(receiver=receiver, serial=serial)
    return device_apply_attributes(device=device, data={"sw_version": "5.31", "hw_revision": "2.2", **fields},
                                   mode="merge")


def test_unassigned_panels_of_a_receiver_are_listed(north, as_viewer):
    gateway_registered(north)
    gateway_registered(ReceiverFactory(code="south"), serial="SG00000001")
    DeviceFactory(site=SiteFactory(receiver=north, number=7), serial="NG00000007")

    response = as_viewer.get("/api/v1/devices/?receiver=north&unassigned=1")

    assert response.status_code == 200, response.json()
    rows = response.json()["results"] if "results" in response.json() else response.json()
    assert [(r["serial"], r["site"], r["receiver"], r["firmware_version"]) for r in rows] == [
        ("NG00001204", None, "north", "5.31")]
    everything = as_viewer.get("/api/v1/devices/?receiver=north").json()
    everything = everything["results"] if "results" in everything else everything
    assert [r["serial"] for r in everything] == ["NG00000007", "NG00001204"]
    assert as_viewer.get("/api/v1/devices/?unassigned=maybe").status_code == 400


def test_creating_a_site_adopts_a_panel_the_gateway_registered(north, as_manager):
    """Refused before ("already registered"): such a panel could never be put on a site."""
    gateway_registered(north)

    response = as_manager.post("/api/v1/sites/", new_site(device={"hardware_revision": "", "firmware_version": ""}),
                               format="json")

    assert response.status_code == 201, response.json()
    device = Device.objects.get(serial="NG00001204")
    assert device.site.number == 1204
    assert (device.firmware_version, device.hardware_revision) == ("5.31", "2.2")  # as the panel reported
    assert device.channels == ["gprs", "sms"] and device.device_type.code == "nord-gsm"
    assert device.token_hash and response.json()["device"]["target_token"]
    assert Device.objects.filter(serial="NG00001204").count() == 1


def test_a_serial_on_a_site_or_another_receivers_is_still_refused(north, as_manager):
    DeviceFactory(site=SiteFactory(receiver=north, number=7), serial="NG00001204")
    gateway_registered(ReceiverFactory(code="south"), serial="SG00000001")

    taken = as_manager.post("/api/v1/sites/", new_site(), format="json")
    elsewhere = as_manager.post("/api/v1/sites/", new_site(number=1205, device={"serial": "SG00000001"}),
                                format="json")

    assert taken.status_code == 400 and "already registered" in str(taken.json())
    assert elsewhere.status_code == 400 and "south" in str(elsewhere.json())
    assert not Site.objects.filter(number__in=[1204, 1205]).exists()
