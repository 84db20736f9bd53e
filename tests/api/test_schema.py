"""The OpenAPI document: generated without warnings, served, and true to what the API answers."""

import json

import pytest
import yaml
from django.core.management import call_command
from openapi_core import OpenAPI
from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse
from openapi_spec_validator import validate

from firmware_updates import services
from tests.factories import DeviceFactory, DeviceTypeFactory, ReceiverFactory, ReleaseFactory

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings_and_validates(tmp_path):
    out = tmp_path / "schema.yaml"
    # --fail-on-warn turns every drf-spectacular warning (untyped field, missing serializer,
    # enum name clash...) into a failure.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    assert "/api/v1/update-jobs/{id}/cancel/" in schema["paths"]


def test_schema_is_served_and_names_every_endpoint(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate(schema)
    assert set(schema["paths"]) == {
        "/api/v1/auth/token/",
        "/api/v1/receivers/", "/api/v1/receivers/{code}/", "/api/v1/receivers/{code}/gateway-token/",
        "/api/v1/receivers/{code}/firmware-stats/",
        "/api/v1/device-types/", "/api/v1/device-types/{code}/",
        "/api/v1/sites/", "/api/v1/sites/{id}/", "/api/v1/sites/{id}/device/token/", "/api/v1/devices/",
        "/api/v1/releases/", "/api/v1/releases/{id}/", "/api/v1/releases/{id}/mark-current/",
        "/api/v1/releases/{id}/deltas/",
        "/api/v1/releases/{id}/archive/", "/api/v1/releases/{id}/restore/",
        "/api/v1/update-jobs/", "/api/v1/update-jobs/{id}/", "/api/v1/update-jobs/{id}/cancel/",
        "/api/v1/update-jobs/{id}/approve/",
        "/api/v1/rollouts/", "/api/v1/rollouts/{id}/", "/api/v1/rollouts/{id}/pause/",
        "/api/v1/rollouts/{id}/resume/", "/api/v1/rollouts/{id}/stop/", "/api/v1/rollouts/{id}/advance/",
        "/api/v1/rollouts/{id}/retry-failed/", "/api/v1/events/",
    }
    assert client.get("/api/docs/").status_code == 200


def test_answers_match_the_published_schema(client, as_manager):
    schema = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    openapi = OpenAPI.from_dict(schema)
    receiver = ReceiverFactory(code="north")
    nord = DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    DeviceFactory(site__receiver=receiver, site__number=1, device_type=nord)
    DeviceFactory(site__receiver=receiver, site__number=2, device_type=nord, channels=["sms"])
    job = services.update_job_create(receiver=receiver, site_number=1, actor=None)
    calls = [
        ("get", "/api/v1/receivers/", None),
        ("get", "/api/v1/receivers/north/firmware-stats/", None),
        ("post", "/api/v1/receivers/", {"code": "south", "name": "South"}),
        ("get", "/api/v1/sites/", None),
        ("get", "/api/v1/devices/?receiver=north&unassigned=1", None),
        ("get", "/api/v1/devices/", None),
        ("post", "/api/v1/sites/", {"receiver": "north", "number": 3, "device": {"serial": "S3",
                                                                                "device_type": "nord-gsm"}}),
        ("get", "/api/v1/releases/", None),
        ("get", f"/api/v1/update-jobs/{job.pk}/", None),
        ("post", "/api/v1/update-jobs/", {"receiver": "north", "site_number": 2}),
        ("post", f"/api/v1/update-jobs/{job.pk}/cancel/", None),
        ("patch", f"/api/v1/sites/{job.device.site_id}/", {"remote_update": "approval"}),
        ("post", "/api/v1/rollouts/", {"receiver": "north", "device_type": "nord-gsm"}),
        ("get", "/api/v1/rollouts/", None),
        ("get", "/api/v1/events/?limit=2", None),
        ("get", "/api/v1/events/?type=job.unknown", None),
        ("patch", "/api/v1/device-types/nord-gsm/", {"expected_offline_seconds": 240}),
        ("patch", "/api/v1/device-types/nord-gsm/", {"expected_offline_seconds": 0}),
    ]
    for method, path, body in calls:
        response = getattr(as_manager, method)(path, body, format="json")
        assert response.status_code < 500, (path, response.content)
        openapi.validate_response(DjangoOpenAPIRequest(response.wsgi_request), DjangoOpenAPIResponse(response))


def test_api_root_lists_the_resources(as_viewer):
    root = as_viewer.get("/api/v1/").json()
    assert set(root) == {"receivers", "device-types", "sites", "devices", "releases", "update-jobs", "rollouts",
                         "events"}
    assert root["update-jobs"] == "http://testserver/api/v1/update-jobs/"


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_their_scripts_from_our_own_static_files(as_viewer, path):
    page = as_viewer.get(path).content.decode()
    assert "/static/drf_spectacular_sidecar/" in page
    assert "cdn." not in page and "unpkg" not in page
