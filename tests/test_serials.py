"""One serial rule (sites/serials.py) for every way a panel's serial comes in: the API's site
create, the admin's forms, a gateway registering an unknown controller; and
`manage.py serials_check` for serials stored before the rule."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from sites.models import Device
from sites.serials import serial_problem
from sites.services import device_register_via_gateway, site_create
from tests.api.conftest import client_for, operator
from tests.factories import (
    DeviceFactory,
    DeviceTypeFactory,
    ReceiverFactory,
    SiteFactory,
    UserFactory,
)

REFUSED = {
    "a/b": "'/' is not allowed",
    "..": "names a folder",
    ".": "names a folder",
    "x y": "a space is not allowed",
    "\n": "U+000A (a control character)",
    "NG1\n": "U+000A (a control character)",
    "a\tb": "U+0009 (a control character)",
    "NG\u202e10": "U+202E (right-to-left override)",
    "NG\U0001f600": "U+1F600 (grinning face)",
    "%2e%2e": "'%' is not allowed",
    "?q=1": "'?' is not allowed",
    "a#b": "'#' is not allowed",
    "-NG1": "starts with a letter or a digit",
    ".hidden": "starts with a letter or a digit",
    "X" * 65: "at most 64 characters",
    "": "cannot be empty",
    "Ｎ1": "U+FF2E (fullwidth latin capital letter n)",
}
ACCEPTED = ["NG00000001", "nord-gsm_01", "A.B-7", "00:1A:2B:3C:4D:5E", "panel@site+2", "7", "X" * 64]


@pytest.mark.parametrize(("serial", "words"), REFUSED.items())
def test_the_rule_refuses_with_the_reason(serial, words):
    assert words in serial_problem(serial)


@pytest.mark.parametrize("serial", ACCEPTED)
def test_the_rule_accepts_real_serials(serial):
    assert serial_problem(serial) is None


# --- the API ------------------------------------------------------------------------------


@pytest.fixture
def north(db):
    receiver = ReceiverFactory(code="north")
    DeviceTypeFactory()
    return receiver


def new_site(serial: str, number: int = 1204) -> dict:
    return {"receiver": "north", "number": number,
            "device": {"serial": serial, "device_type": "nord-gsm", "channels": ["gprs"]}}


@pytest.mark.parametrize("serial", [s for s in REFUSED if s])
def test_creating_a_site_with_a_bad_serial_is_400_on_the_serial(north, serial):
    api = client_for(operator("managers"))
    response = api.post("/api/v1/sites/", new_site(serial), format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["detail"].startswith("device.serial: ")
    assert any(REFUSED[serial] in message for message in body["device"]["serial"]), body
    assert not Device.objects.exists()


@pytest.mark.parametrize("serial", ACCEPTED)
def test_creating_a_site_with_a_real_serial_is_201(north, serial):
    api = client_for(operator("managers"))
    response = api.post("/api/v1/sites/", new_site(serial), format="json")
    assert response.status_code == 201, response.json()
    assert Device.objects.get().serial == serial


def test_the_services_refuse_a_bad_serial_whoever_calls_them(north):
    with pytest.raises(ValidationError) as refused:
        site_create(receiver=north, number=1, serial="a/b", device_type=DeviceTypeFactory())
    assert "'/' is not allowed" in refused.value.message_dict["serial"][0]
    with pytest.raises(ValidationError):
        device_register_via_gateway(receiver=north, serial="..")
    assert not Device.objects.exists()


# --- the admin ----------------------------------------------------------------------------


def test_the_admin_refuses_a_bad_serial_with_the_reason(north, client):
    device = DeviceFactory(site=SiteFactory(receiver=north), serial="NG00000001")
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    url = f"/admin/sites/device/{device.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: "" if form[name].value() is None else form[name].value() for name in form.fields}

    response = client.post(url, {**data, "serial": "NG\u202e10"})

    assert response.status_code == 200  # the form again, with the reason
    assert "U+202E (right-to-left override)" in response.content.decode()
    assert Device.objects.get(pk=device.pk).serial == "NG00000001"
    assert client.post(url, {**data, "serial": "NG00000002"}).status_code == 302
    assert Device.objects.get(pk=device.pk).serial == "NG00000002"


# --- serials stored before the rule -------------------------------------------------------


def test_serials_check_lists_each_bad_serial_and_fails(north, db):
    site = SiteFactory(receiver=north, number=17)
    DeviceFactory(site=site, serial="NG00000001")
    # Written past the services, as an old database holds them.
    Device.objects.create(site=SiteFactory(receiver=north, number=18), receiver=north, serial="x y")
    Device.objects.create(receiver=north, serial="NG\u202e1")
    out = io.StringIO()

    with pytest.raises(CommandError, match="2 panel serial"):
        call_command("serials_check", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "receiver\tsite\tserial\twhy"
    assert lines[1:] == [
        "north\t-\t'NG\\u202e1'\tA serial holds only letters A-Z, digits and . _ : @ + -, starting "
        "with a letter or a digit; U+202E (right-to-left override) is not allowed.",
        "north\t18\t'x y'\tA serial holds only letters A-Z, digits and . _ : @ + -, starting with a "
        "letter or a digit; a space is not allowed.",
    ]
    assert Device.objects.count() == 3  # nothing is changed


def test_serials_check_passes_when_every_serial_follows_the_rule(north):
    DeviceFactory(site=SiteFactory(receiver=north))
    out = io.StringIO()
    call_command("serials_check", stdout=out)
    assert out.getvalue() == "Every panel serial follows the rule.\n"
