"""A hostile-input sweep of the management API over real HTTP, kept as a test: every list of
the schema with odd query parameters (pages, page sizes, orderings and filters that are not
numbers, not known, too long or too large), every object URL with odd ids, HEAD and OPTIONS,
every create with each field given each wrong JSON type. No answer may be a 5xx, and every
answer under /api/ is JSON. (The full sweep, 6,116 requests on SQLite and PostgreSQL, is in
the commit that added this file; this keeps its shape at a size the suite can afford.)"""

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from core.permissions import MANAGERS
from tests.factories import DeviceFactory, DeviceTypeFactory, ReceiverFactory, ReleaseFactory

from .conftest import operator
from .test_live_http import Api, login

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

ODD = ["abc", "-1", "0", "99999999999999999999999", "1.5", "", "x" * 3000, "\u0663", "\u202e", "[]", "%", "a,,b"]
WRONG = [None, True, -1, 10**30, 1.5, "", "x" * 5000, [], {}, ["a"], {"a": 1}, [[[]]]]


def raw(base_url: str, token: str, method: str, path: str, *, params=None, body=None):
    """(status, content type, body bytes)."""
    url = base_url + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


@pytest.fixture
def api(live_server):
    receiver, nord = ReceiverFactory(code="north"), DeviceTypeFactory(code="nord-gsm")
    ReleaseFactory(device_type=nord, version="5.40")
    for number in (1, 2):
        DeviceFactory(site__receiver=receiver, site__number=number, device_type=nord)
    operator(MANAGERS, username="anna")
    client = Api(live_server.url)
    login(client, "anna")
    return client


def sweep(api, calls) -> dict:
    """Runs `calls` ((method, path, params, body)); returns those answered 5xx or not in JSON."""
    wrong = {}
    for method, path, params, body in calls:
        status, kind, content = raw(api.base_url.removesuffix("/api/v1/"), api.token, method, path,
                                    params=params, body=body)
        if status >= 500 or (method != "HEAD" and content and kind != "application/json"):
            wrong[(method, path, json.dumps(params)[:80], json.dumps(body)[:80])] = (status, content[:200])
    return wrong


LISTS = {
    "/api/v1/receivers/": [], "/api/v1/device-types/": [], "/api/v1/devices/": ["receiver", "unassigned"],
    "/api/v1/sites/": ["receiver", "number", "device_type", "badge", "reason", "version", "hardware", "q", "sort"],
    "/api/v1/releases/": ["device_type", "archived"], "/api/v1/update-jobs/": ["receiver", "state", "site_number"],
    "/api/v1/rollouts/": ["receiver", "device_type", "state"], "/api/v1/events/": ["after", "limit", "receiver", "type"],
}


def test_odd_query_parameters_never_fail_a_list(api):
    calls = [("GET", path, {name: value}, None)
             for path, filters in LISTS.items()
             for name in [*filters, "page", "page_size", "ordering"]
             for value in ODD]
    calls += [(method, path, None, None) for path in LISTS for method in ("HEAD", "OPTIONS")]

    assert sweep(api, calls) == {}


def test_odd_ids_never_fail_an_object_url(api):
    odd_ids = ["abc", "0", "-1", "99999999999999999999999", "1.5", "%20", "..", "a" * 300, "%F0%9F%94%92"]
    templates = ["/api/v1/receivers/{}/", "/api/v1/receivers/{}/firmware-stats/", "/api/v1/device-types/{}/",
                 "/api/v1/sites/{}/", "/api/v1/releases/{}/", "/api/v1/update-jobs/{}/", "/api/v1/rollouts/{}/"]
    calls = [(method, template.format(odd), None, None)
             for template in templates for odd in odd_ids for method in ("GET", "HEAD", "OPTIONS", "DELETE")]
    calls += [("POST", path.format(odd), None, {}) for odd in odd_ids for path in
              ["/api/v1/update-jobs/{}/cancel/", "/api/v1/releases/{}/mark-current/", "/api/v1/rollouts/{}/pause/",
               "/api/v1/sites/{}/device/token/", "/api/v1/receivers/{}/gateway-token/"]]

    assert sweep(api, calls) == {}


CREATES = {
    "/api/v1/receivers/": (lambda n: {"code": f"r{n}", "name": "x"},
                           ["code", "name", "wakeup_url", "poll_sleep", "time_zone", "install_window"]),
    "/api/v1/sites/": (lambda n: {"receiver": "north", "number": 100 + n, "name": "x",
                                  "device": {"serial": f"S{n}", "device_type": "nord-gsm"}},
                       ["receiver", "number", "name", "address", "remote_update", "device"]),
    "/api/v1/update-jobs/": (lambda n: {"receiver": "north", "site_number": 1}, ["receiver", "site_number", "release"]),
    "/api/v1/rollouts/": (lambda n: {"receiver": "north", "device_type": "nord-gsm"},
                          ["receiver", "device_type", "waves", "success_threshold_percent", "error_threshold_percent",
                           "error_threshold_min", "approve_each_wave", "install_window"]),
}


def test_each_field_of_a_create_given_a_wrong_type_never_fails_it(api):
    calls, n = [], 0
    for path, (base, fields) in CREATES.items():
        for field in fields:
            for value in WRONG:
                n += 1
                calls.append(("POST", path, None, {**base(n), field: value}))

    assert sweep(api, calls) == {}


@pytest.mark.parametrize("zone", ["x" * 300, "../../../../etc/passwd", "Europe/" + "x" * 250])
def test_a_time_zone_too_long_for_a_file_name_is_a_400(api, zone):
    """ZoneInfo looks for the name as a file: a long one raised OSError (a 500)."""
    status, body = api.call("POST", "receivers/", {"code": "south", "name": "South", "time_zone": zone})

    assert status == 400
    assert "not a time zone name" in body["time_zone"][0]
