"""A receiver's gateway polling for its panels: unknown controllers are registered on their
first poll, as hawkBit does, even when hundreds arrive in the same second."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from sites.models import Device

from .conftest import TENANT

pytestmark = pytest.mark.live


def test_first_gateway_poll_registers_an_unknown_controller(fleet):
    reply = fleet.gateway("NG00000777").poll()

    assert reply.status == 200
    assert set(reply.json()["_links"]) == {"configData"}
    device = Device.objects.get(serial="NG00000777")
    assert device.receiver == fleet.receiver and device.site is None and device.token_hash is None
    assert device.last_seen is not None


def test_a_registered_controller_reports_itself_through_the_gateway(fleet):
    gateway = fleet.gateway("NG00000778")
    gateway.poll()

    reply = gateway.config_data(
        {
            "device_type": "nord-gsm",
            "hw_revision": "2.2",
            "sw_version": "5.30",
            "channels": "ethernet",
            "site_number": "440",
        }
    )

    assert reply.status == 200
    device = Device.objects.get(serial="NG00000778")
    assert (device.device_type.code, device.hardware_revision, device.site.number) == (
        "nord-gsm",
        "2.2",
        440,
    )
    assert "_links" not in gateway.poll().json()


def test_only_the_poll_registers(fleet):
    reply = fleet.gateway("NG00000779").config_data({"sw_version": "5.30"})

    assert reply.status == 401
    assert not Device.objects.filter(serial="NG00000779").exists()


def test_a_controller_id_that_cannot_be_a_serial_is_400(fleet):
    reply = fleet.gateway("X" * 65).poll()

    assert reply.status == 400
    assert "controllerId" in reply.json()["message"]
    assert (
        not Device.objects.filter(receiver=fleet.receiver).exclude(serial__startswith="NG").exists()
    )


@pytest.mark.parametrize(
    ("path_segment", "words"),
    [
        ("%2e%2e", "names a folder"),  # the server decodes the segment: ".."
        ("%2e", "names a folder"),
        ("a%20b", "a space"),
        ("NG1%0A", "U+000A"),
        ("NG%E2%80%AE1", "U+202E (right-to-left override)"),
        ("NG%F0%9F%98%80", "U+1F600"),
        ("a%3Fq=1", "'?'"),
        ("a%23b", "'#'"),
        ("%252e%252e", "'%'"),
    ],
)
def test_a_gateway_cannot_register_a_serial_the_rule_refuses(fleet, path_segment, words):
    reply = fleet.gateway(path_segment).poll(check_request=False)

    assert reply.status == 400
    assert reply.json()["errorCode"] == "ddi.controller_id"
    assert "controllerId cannot be a serial" in reply.json()["message"]
    assert words in reply.json()["message"]
    assert list(Device.objects.values_list("serial", flat=True)) == [fleet.device.serial]


def test_two_hundred_new_controllers_at_once_are_all_registered_exactly_once(fleet):
    """20 threads, every serial polled twice at the same time: no 5xx, no duplicate rows."""
    serials = [f"GW{n:06d}" for n in range(200)]
    work = serials + serials[::-1]  # each serial from two threads, racing on the insert

    def poll(serial):
        reply = fleet.gateway(serial).poll()
        return serial, reply.status, reply.json()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(poll, work))

    statuses = {status for _serial, status, _body in results}
    assert statuses == {200}, [(s, st) for s, st, _ in results if st != 200][:5]
    for serial, _status, body in results:
        assert body["_links"]["configData"]["href"].endswith(
            f"/{TENANT}/controller/v1/{serial}/configData"
        )
    assert Device.objects.filter(serial__startswith="GW").count() == 200
    assert set(
        Device.objects.filter(serial__startswith="GW").values_list("serial", flat=True)
    ) == set(serials)
    assert set(
        Device.objects.filter(serial__startswith="GW").values_list("receiver__code", flat=True)
    ) == {TENANT}
