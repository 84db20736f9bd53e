"""A panel's power report (issue 14): configData `power` (mains or battery) and `battery` (ok
or low), kept with its other attributes and read by the panel's pages; anything else is a 400
that names the attribute and stores nothing of the report."""

import pytest

from sites.models import Device

from .conftest import SERIAL

pytestmark = pytest.mark.live


def test_a_power_report_is_kept_with_the_other_attributes(fleet):
    reply = fleet.client().config_data({"sw_version": "5.30", "power": "battery", "battery": "low"})
    assert reply.status == 200
    device = Device.objects.get(serial=SERIAL)
    assert (device.on_battery, device.battery_low) == (True, True)

    fleet.client().config_data({"power": "mains", "battery": "ok"})
    device = Device.objects.get(serial=SERIAL)
    assert (device.on_battery, device.battery_low) == (False, False)


@pytest.mark.parametrize(("data", "words"), [
    ({"power": "solar"}, "Give power as mains or battery, not 'solar'."),
    ({"battery": "empty"}, "Give battery as ok or low, not 'empty'."),
])
def test_an_unknown_power_report_is_400_naming_it_and_nothing_is_stored(fleet, data, words):
    reply = fleet.client().config_data({"sw_version": "5.40", **data})
    assert reply.status == 400
    assert words in reply.json()["message"]
    device = Device.objects.get(serial=SERIAL)
    assert (device.firmware_version, device.attributes) == ("5.30", {})


def test_a_panel_that_reports_nothing_about_power_is_not_held_back(fleet):
    fleet.client().config_data({"sw_version": "5.30", "partitions": "1:disarmed"})
    device = Device.objects.get(serial=SERIAL)
    assert (device.on_battery, device.battery_low) == (False, False)
