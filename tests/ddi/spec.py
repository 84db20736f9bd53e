"""Checks every DDI exchange of the tests against hawkBit's published OpenAPI document.

The document is a copy of the shared spec (firmware_updates/ddi/hawkbit-ddi-openapi.json),
validated with openapi-core. Three errata of the generated document are corrected here,
each a bug of the generator rather than of the protocol:
- `DdiPolling.sleep` has `"pattern": "HH:MM:SS"`, a regex that matches only that literal
  text; hawkBit itself sends "00:05:00". Replaced by the pattern the description means.
- the artifact download's 200 body is typed `object` under `*/*`; it is the file's bytes.
- `servers` names the generator's own port; any host serves the API.

Statuses the document does not list (RFC 9110's 206/304/412/416 on the download, 404/410
on actions) are checked for what they must carry: an ExceptionInfo body for JSON errors.
"""

import copy
import json
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import jsonschema
from openapi_core import OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse

import firmware_updates.ddi

SPEC_FILE = Path(firmware_updates.ddi.__file__).parent / "hawkbit-ddi-openapi.json"
SLEEP_PATTERN = r"^[0-9]{2,}:[0-5][0-9]:[0-5][0-9]$"
DOWNLOAD = (
    "/{tenant}/controller/v1/{controllerId}/softwaremodules/{softwareModuleId}/artifacts/{fileName}"
)
RANGE_STATUSES = {206, 304, 412, 416}


@cache
def document() -> dict:
    spec = json.loads(SPEC_FILE.read_text())
    spec["servers"] = [{"url": "/"}]
    spec["components"]["schemas"]["DdiPolling"]["properties"]["sleep"]["pattern"] = SLEEP_PATTERN
    for content in (DOWNLOAD, DOWNLOAD + ".MD5SUM"):
        ok = spec["paths"][content]["get"]["responses"]["200"]
        ok["content"] = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    return spec


@cache
def openapi() -> OpenAPI:
    return OpenAPI.from_dict(copy.deepcopy(document()))


def schema(name: str) -> dict:
    """A component schema with its references resolvable (for jsonschema)."""
    return {**document()["components"]["schemas"][name], "components": document()["components"]}


def validate_schema(name: str, value) -> None:
    jsonschema.validate(value, schema(name))


def _mock_request(
    method: str, url: str, body: bytes | None, content_type: str | None
) -> MockRequest:
    parts = urlsplit(url)
    # The spec has no HEAD operations: a HEAD is the GET without its body.
    method = "get" if method.upper() == "HEAD" else method.lower()
    return MockRequest(
        f"{parts.scheme}://{parts.netloc}",
        method,
        parts.path,
        args=dict(parse_qsl(parts.query)),
        data=body or b"",
        content_type=content_type or "application/json",
    )


def check_request(
    *, method: str, url: str, body: bytes | None = None, content_type: str | None = None
):
    """The request the test sends is one the spec describes (path, parameters, body)."""
    openapi().validate_request(_mock_request(method, url, body, content_type))


def check_response(
    *, method: str, url: str, status: int, content_type: str | None, body: bytes, headers=None
) -> None:
    """Raises AssertionError when the answer does not follow the spec."""
    request = _mock_request(method, url, None, None)
    if method.upper() == "HEAD":
        assert body == b"", "a HEAD answer has no body"
        return
    if status >= 400 and status not in (416, 412):
        assert content_type and content_type.startswith("application/json"), (
            status,
            content_type,
            body,
        )
        info = json.loads(body)
        validate_schema("ExceptionInfo", info)
        assert info.get("message") and info.get("errorCode"), info
    if headers is not None and "X-Accel-Redirect" in headers:
        assert body == b"", "nginx sends the bytes"
        return
    response = MockResponse(
        body, status_code=status, content_type=(content_type or "").split(";")[0] or None
    )
    try:
        openapi().validate_response(request, response)
    except (ResponseNotFound, OperationNotFound):
        path = urlsplit(url).path
        if status in RANGE_STATUSES and "/artifacts/" in path:
            return
        assert status >= 400, f"{status} for {method} {path} is not in the spec"
