"""Hostile and broken input to the management API: every JSON body goes through one parser
with size and depth limits (core/json.py)."""

import json

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework import parsers as drf_parsers

from core.json import JSONBodyError, JSONBodyTooLarge, json_loads, json_too_deep
from core.parsers import JSONParser
from tests.factories import DeviceFactory, DeviceTypeFactory, ReceiverFactory, SiteFactory

from .conftest import client_for

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


# --- the parser itself ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "deeper_than_3"), [
    ("[[[1]]]", False),
    ("[[[[1]]]]", True),
    ('{"a": {"b": {"c": {"d": 1}}}}', True),
    ('["[[[[[[", "{{{{{{"]', False),  # brackets in strings do not count
    (r'["\"[[[[[[", "\\", [[1]]]', False),  # nor after an escaped quote
    ('[[["unterminated [[[[[[', False),  # the decoder stops there too
    ("[]" * 1000, False),
    ("[1]," * 50 + "[[[[" + "]]]]", True),
])
def test_depth_is_counted_outside_strings(text, deeper_than_3):
    assert json_too_deep(text, limit=3) is deeper_than_3


def test_json_loads_refuses_depth_size_constants_and_bad_text_with_reasons():
    assert json_loads(b'{"a": [1, {"b": null}]}', max_depth=3) == {"a": [1, {"b": None}]}
    with pytest.raises(JSONBodyError, match="nested more than 32 levels"):
        json_loads(DEEP, max_depth=32)
    with pytest.raises(JSONBodyTooLarge, match="larger than 10 bytes") as too_large:
        json_loads(b'{"a": "0123456789"}', max_bytes=10)
    assert too_large.value.status == 413
    with pytest.raises(JSONBodyError, match="NaN is not a JSON value"):
        json_loads(b'{"a": NaN}')
    with pytest.raises(JSONBodyError, match="not valid JSON: Expecting"):
        json_loads(b'{"a": ')
    with pytest.raises(JSONBodyError, match="not UTF-8"):
        json_loads(b'{"a": "\xff"}')


# --- the management API -------------------------------------------------------------------


@pytest.fixture
def fleet():
    receiver = ReceiverFactory(code="north")
    device_type = DeviceTypeFactory()
    site = SiteFactory(receiver=receiver, number=101)
    DeviceFactory(site=site, receiver=receiver, device_type=device_type)
    return site


# Every endpoint that reads a body (the actions without one, e.g. mark-current, never parse it).
POST_URLS = ["/api/v1/receivers/", "/api/v1/device-types/", "/api/v1/sites/", "/api/v1/update-jobs/",
             "/api/v1/rollouts/", "/api/v1/releases/"]


def test_deeply_nested_json_is_400_on_every_endpoint(fleet, as_manager):
    for url in POST_URLS:
        response = as_manager.post(url, DEEP, content_type="application/json")
        assert response.status_code == 400, (url, response.content[:200])
        assert "nested more than" in response.json()["detail"], url


def test_deeply_nested_json_is_400_on_the_token_endpoint_before_sign_in():
    response = client_for(None).post("/api/v1/auth/token/", DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "The body's JSON is nested more than 32 levels deep."}


def test_a_body_past_the_size_limit_is_413_whether_declared_or_not(fleet, as_manager, settings):
    settings.JSON_MAX_BYTES = 1000
    body = json.dumps({"code": "south", "name": "x" * 2000})
    response = as_manager.post("/api/v1/receivers/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than 1000 bytes."}
    # A client that understates its Content-Length is cut off while reading.
    response = as_manager.post("/api/v1/receivers/", body, content_type="application/json",
                               CONTENT_LENGTH="900")
    assert response.status_code in (400, 413)  # 900 bytes read: cut JSON, never decoded whole
    assert "detail" in response.json()


@pytest.mark.parametrize(("body", "words"), [
    ('{"code": "south",', "not valid JSON: Expecting"),
    ('{"code": "south", "name": NaN}', "NaN is not a JSON value"),
    (b'{"code": "\xff"}', "not UTF-8"),
])
def test_malformed_json_is_400_with_the_reason(as_manager, body, words):
    response = as_manager.post("/api/v1/receivers/", body, content_type="application/json")
    assert response.status_code == 400
    assert words in response.json()["detail"]


def _api_views(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _api_views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and prefix.startswith("api/"):
            view = getattr(pattern.callback, "cls", None)
            if view is not None:
                yield prefix + str(pattern.pattern), view


def test_every_api_view_parses_json_with_the_one_parser():
    views = list(_api_views(get_resolver().url_patterns))
    assert len(views) > 10
    for route, view in views:
        json_parsers = [p for p in view.parser_classes if issubclass(p, drf_parsers.JSONParser)]
        assert all(p is JSONParser for p in json_parsers), (route, view.parser_classes)
