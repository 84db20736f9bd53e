"""The management API over real HTTP, as Security Center uses it: token auth end to end."""

import json
import secrets
import urllib.error
import urllib.request

import pytest

from core.permissions import MANAGERS, VIEWERS
from firmware_updates.models import JobState, UpdateJob

from .conftest import operator, swu_archive

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


class Api:
    """A minimal HTTP client on the standard library: nothing of Django or DRF in between."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/") + "/api/v1/"
        self.token = None

    def call(self, method: str, path: str, body=None, *, files=None) -> tuple[int, dict]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        data = None
        if files is not None:
            boundary = secrets.token_hex(16)
            data = multipart(boundary, files)
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def multipart(boundary: str, files: dict[str, tuple[str, bytes]]) -> bytes:
    parts = []
    for field, (filename, content) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def login(api: Api, username: str, password: str = "correct horse battery") -> None:
    status, body = api.call("POST", "auth/token/", {"username": username, "password": password})
    assert status == 200, body
    api.token = body["token"]


def test_security_center_sets_up_a_fleet_queues_a_site_and_cancels(live_server):
    operator(MANAGERS, username="anna")
    api = Api(live_server.url)
    assert api.call("GET", "sites/")[0] == 401

    status, body = api.call("POST", "auth/token/", {"username": "anna", "password": "wrong"})
    assert status == 400 and body["detail"] == "Unable to log in with provided credentials."
    login(api, "anna")

    status, receiver = api.call("POST", "receivers/", {"code": "north", "name": "North station"})
    assert status == 201 and receiver["gateway_token"]
    assert api.call("POST", "device-types/", {"code": "nord-gsm", "name": "Nord GSM"})[0] == 201
    status, site = api.call("POST", "sites/", {
        "receiver": "north", "number": 1204, "name": "Pharmacy",
        "device": {"serial": "NG1204", "device_type": "nord-gsm", "hardware_revision": "2.1",
                   "firmware_version": "5.30", "channels": ["gprs"]},
    })
    assert status == 201 and site["device"]["target_token"] and site["badge"] == "red"

    archive = swu_archive(version="5.40")
    status, release = api.call("POST", "releases/", files={"archive": ("nord-gsm-5.40.swu", archive.getvalue())})
    assert status == 201, release
    assert (release["device_type"], release["version"], release["size"]) == ("nord-gsm", "5.40",
                                                                             len(archive.getvalue()))
    assert api.call("POST", f"releases/{release['id']}/mark-current/")[1]["is_current"] is True

    stats = api.call("GET", "receivers/north/firmware-stats/")[1]
    assert stats[0]["current_version"] == "5.40" and stats[0]["not_planned"] == 1

    status, job = api.call("POST", "update-jobs/", {"receiver": "north", "site_number": 1204})
    assert status == 201 and job["state"] == "queued" and job["created_by"] == "anna"
    assert api.call("GET", "sites/?badge=yellow")[1]["results"][0]["active_job"]["id"] == job["id"]

    status, cancelled = api.call("POST", f"update-jobs/{job['id']}/cancel/")
    assert status == 200 and cancelled["state"] == "cancelled"
    assert [(h["to_state"], h["actor"]) for h in cancelled["history"]] == [("queued", "anna"), ("cancelled", "anna")]
    assert UpdateJob.objects.get(pk=job["id"]).state == JobState.CANCELLED

    status, body = api.call("POST", f"update-jobs/{job['id']}/cancel/")
    assert status == 409 and body["code"] == "finished"


def test_a_viewer_token_reads_but_cannot_act(live_server):
    operator(VIEWERS, username="victor")
    api = Api(live_server.url)
    login(api, "victor")
    assert api.call("GET", "update-jobs/")[0] == 200
    status, body = api.call("POST", "rollouts/", {"receiver": "north", "device_type": "nord-gsm"})
    assert status == 403 and "managers" in body["detail"]
    api.token = "not-a-token"
    assert api.call("GET", "update-jobs/") == (401, {"detail": "Invalid token."})


def test_the_api_root_links_every_collection_of_the_api(live_server):
    """Each link answers the collection's JSON list: DRF's own root reversed the routes' names,
    which the panel's pages share, and sent receivers and releases to the panel's HTML."""
    operator(VIEWERS, username="vera")
    api = Api(live_server.url)
    assert api.call("GET", "")[0] == 401
    login(api, "vera")

    status, links = api.call("GET", "")

    assert status == 200
    assert set(links) == {"receivers", "device-types", "sites", "devices", "releases", "update-jobs", "rollouts",
                          "events"}
    for name, url in links.items():
        assert url == f"{api.base_url}{name}/"
        status, listed = api.call("GET", url.removeprefix(api.base_url))
        assert status == 200 and "results" in listed, (name, status, listed)
