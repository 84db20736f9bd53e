"""Text that is no text, over real HTTP: a NUL character (PostgreSQL refuses it in text and
jsonb) and a lone surrogate such as `\\ud800` (UTF-8 cannot encode it). Spelled as JSON
escapes in a body, as `%00` in an address or a form field, each is a 400 with the reason in
the management API, the device protocol and the panel, never a 500, and never stored (a
stored one made the job that held it unreadable: every later read answered 500)."""

import http.client
import json
from urllib.parse import urlsplit

import pytest

from core.permissions import MANAGERS
from firmware_updates.models import Rollout
from sites.models import Device
from tests.ddi.conftest import SERIAL, TENANT, build_fleet

from .conftest import operator

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def send(base_url: str, method: str, path: str, body: bytes | None = None, headers=None):
    """Raw HTTP: the body and the path exactly as given (no client re-encodes them)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


@pytest.fixture
def fleet(live_server, settings, tmp_path):
    """tests/ddi's receiver `north` with panel NG00000001 on site 101 (an unsigned release)."""
    return build_fleet(settings, None, tmp_path, live_server.url)


@pytest.fixture
def token(live_server):
    operator(MANAGERS, username="anna")
    status, _type, body = send(live_server.url, "POST", "/api/v1/auth/token/",
                               json.dumps({"username": "anna", "password": "correct horse battery"}).encode(),
                               {"Content-Type": "application/json"})
    assert status == 200
    return json.loads(body)["token"]


def api(live_server, token, method, path, body: bytes | None = None, content_type="application/json"):
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    status, kind, answer = send(live_server.url, method, path, body, headers)
    return status, kind, json.loads(answer) if answer else None


def device(fleet, method, path, body: bytes | None = None, *, gateway=False):
    scheme, secret = ("GatewayToken", fleet.gateway_token) if gateway else ("TargetToken", fleet.token)
    headers = {"Authorization": f"{scheme} {secret}", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    status, _kind, answer = send(fleet.base_url, method, path, body, headers)
    return status, json.loads(answer) if answer else None


UNSTORABLE = [
    (rb"a\u0000b", "a NUL character"),
    (rb"\ud800", "an unpaired surrogate (\\ud800)"),
    (rb"\udfff and more", "an unpaired surrogate (\\udfff)"),
    (rb"\udc00\ud800", "an unpaired surrogate (\\udc00)"),  # a pair the wrong way round
]


@pytest.mark.parametrize(("text", "words"), UNSTORABLE)
def test_a_panels_report_with_unstorable_text_is_400_and_its_job_stays_readable(fleet, token, live_server,
                                                                               text, words):
    job = fleet.queue()
    body = b'{"status": {"execution": "proceeding", "result": {"finished": "none"}, "details": ["' + text + b'"]}}'

    status, answer = device(fleet, "POST", f"/{TENANT}/controller/v1/{SERIAL}/deploymentBase/{job.pk}/feedback", body)

    assert status == 400
    assert answer["errorCode"] == "ddi.body_not_readable"
    assert f"status.details[0] holds {words}" in answer["message"]
    # Nothing of it was kept: the operator still reads the job and its history.
    status, kind, shown = api(live_server, token, "GET", f"/api/v1/update-jobs/{job.pk}/")
    assert status == 200 and kind == "application/json"
    assert shown["state"] == "queued"


@pytest.mark.parametrize(("data", "words"), [
    (rb'{"settings_digest": "a\u0000"}', "data.settings_digest holds a NUL character"),
    (rb'{"vendor\u0000": "acme"}', "a name in the object at data holds a NUL character"),
    (rb'{"\ud800": "acme"}', "a name in the object at data holds an unpaired surrogate"),
    (rb'{"vendor": "\udbff"}', "data.vendor holds an unpaired surrogate (\\udbff)"),
])
def test_a_panels_description_with_unstorable_text_is_400_and_changes_nothing(fleet, data, words):
    before = Device.objects.get(serial=SERIAL).attributes

    status, answer = device(fleet, "PUT", f"/{TENANT}/controller/v1/{SERIAL}/configData",
                            b'{"mode": "merge", "data": ' + data + b"}")

    assert status == 400
    assert words in answer["message"]
    assert Device.objects.get(serial=SERIAL).attributes == before


def test_a_surrogate_pair_is_a_character_and_taken(fleet):
    status, _answer = device(fleet, "PUT", f"/{TENANT}/controller/v1/{SERIAL}/configData",
                             rb'{"data": {"vendor": "acme \ud83d\udd12"}}')

    assert status == 200
    assert Device.objects.get(serial=SERIAL).attributes["vendor"] == "acme \N{LOCK}"


@pytest.mark.parametrize("path", [
    f"/{TENANT}/controller/v1/NG%00",  # a gateway registering a new serial looks it up
    f"/nor%00th/controller/v1/{SERIAL}",
    f"/{TENANT}/controller/v1/{SERIAL}%00/configData",
])
def test_a_nul_in_a_device_address_is_a_400_exception_info(fleet, path):
    status, answer = device(fleet, "GET", path, gateway=True)

    assert status == 400
    assert answer == {"message": "The address holds a NUL character, which no address may hold.",
                      "errorCode": "ddi.invalid"}


@pytest.mark.parametrize("path", [
    "/api/v1/sites/?receiver=%00",
    "/api/v1/sites/?device_type=nord%00",
    "/api/v1/sites/?search=pharmacy%00",
    "/api/v1/update-jobs/?receiver=%00",
    "/api/v1/releases/?device_type=%00",
    "/api/v1/rollouts/?receiver=%00",
    "/api/v1/receivers/north%00/",
    "/api/v1/receivers/north%00/firmware-stats/",
    "/api/v1/device-types/nord%00gsm/",
])
def test_a_nul_in_an_api_address_is_a_json_400(fleet, token, live_server, path):
    status, kind, answer = api(live_server, token, "GET", path)

    assert (status, kind) == (400, "application/json")
    assert answer == {"detail": "The address holds a NUL character, which no address may hold."}


@pytest.mark.parametrize(("body", "content_type"), [
    (rb'{"receiver": "north", "device_type": "nord\u0000gsm"}', "application/json"),
    (rb'{"receiver": "north", "device_type": "nord\ud800"}', "application/json"),
    (b"receiver=north&device_type=nord%00gsm", "application/x-www-form-urlencoded"),
    (b'--b\r\nContent-Disposition: form-data; name="receiver"\r\n\r\nnorth\r\n'
     b'--b\r\nContent-Disposition: form-data; name="device_type"\r\n\r\nnord\x00gsm\r\n--b--\r\n',
     "multipart/form-data; boundary=b"),
])
def test_unstorable_text_in_an_api_body_is_400_whatever_its_encoding(fleet, token, live_server, body, content_type):
    """The rollout's device type is looked up by code: PostgreSQL refused the NUL (500)."""
    status, kind, answer = api(live_server, token, "POST", "/api/v1/rollouts/", body, content_type)

    assert (status, kind) == (400, "application/json")
    assert "device_type" in answer["detail"]
    assert "NUL character" in answer["detail"] or "unpaired surrogate" in answer["detail"]
    assert not Rollout.objects.exists()


def test_a_nul_in_a_panel_address_is_a_400(fleet, live_server):
    for path in ["/login/?next=%00", f"/receivers/{TENANT}/sites/?q=ab%00cd", "/admin/%00/"]:
        status, kind, answer = send(live_server.url, "GET", path)
        assert status == 400, path
        assert answer == b"The address holds a NUL character, which no address may hold.", path
