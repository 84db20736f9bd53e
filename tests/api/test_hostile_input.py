"""Hostile and broken input to the management API: every JSON body goes through one parser
with size and depth limits (core/json.py), and every answer under /api/ is JSON, Django's own
errors (unknown URL, 500) included."""

import json

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework import parsers as drf_parsers

from core.json import JSONBodyError, JSONBodyTooLarge, json_loads, json_too_deep
from core.parsers import JSONParser

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
    limits = {"max_depth": 32, "max_bytes": 1 << 20}
    assert json_loads(b'{"a": [1, {"b": null}]}', **{**limits, "max_depth": 3}) == {"a": [1, {"b": None}]}
    with pytest.raises(JSONBodyError, match="nested more than 32 levels"):
        json_loads(DEEP, **limits)
    with pytest.raises(JSONBodyTooLarge, match="larger than 10 bytes") as too_large:
        json_loads(b'{"a": "0123456789"}', **{**limits, "max_bytes": 10})
    assert too_large.value.status == 413
    with pytest.raises(JSONBodyError, match="NaN is not a JSON value"):
        json_loads(b'{"a": NaN}', **limits)
    with pytest.raises(JSONBodyError, match="not valid JSON: Expecting"):
        json_loads(b'{"a": ', **limits)
    with pytest.raises(JSONBodyError, match="not UTF-8"):
        json_loads(b'{"a": "\xff"}', **limits)


@pytest.mark.parametrize(("body", "words"), [
    (rb'{"a": "x\u0000y"}', "the text at a holds a NUL character"),
    (rb'{"a": [{"b": ["ok", "\ud800"]}]}', "the text at a[0].b[1] holds an unpaired surrogate (\\ud800)"),
    (rb'{"a": {"\u0000": 1}}', "a name in the object at a holds a NUL character"),
    (rb'{"\uDFFF": 1}', "a name in the body holds an unpaired surrogate (\\udfff)"),
    (rb'"\udc00\ud800"', "the text at the body holds an unpaired surrogate (\\udc00)"),
    ('{"a": "\ud800"}', "not UTF-8 text"),  # text handed over with the surrogate itself
])
def test_json_loads_refuses_text_that_cannot_be_stored(body, words):
    with pytest.raises(JSONBodyError) as refused:
        json_loads(body, max_depth=32, max_bytes=1 << 20)
    assert words in refused.value.reason


def test_json_loads_takes_surrogate_pairs_and_escaped_backslashes():
    limits = {"max_depth": 32, "max_bytes": 1 << 20}
    assert json_loads(rb'["\ud83d\udd12", "\\u0000", "\\ud800"]', **limits) == ["\N{LOCK}", "\\u0000", "\\ud800"]


# --- the management API -------------------------------------------------------------------


# `fleet`: tests/conftest.py's (receiver north, a Nord GSM panel at site 1204).


# Every endpoint that creates from a body (the actions parse theirs through the same parser).
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


# --- every answer under /api/ is JSON -----------------------------------------------------


@pytest.mark.parametrize("url", ["/api/v1/nope/", "/api/v1/sites/1/nope/", "/api/", "/api/v2/sites/",
                                 "/api/v1/receivers/north/firmware-stats/extra/"])
def test_an_unknown_api_url_is_a_json_404(as_viewer, url):
    response = as_viewer.get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "No API endpoint at this address; /api/schema/ lists them."}


def test_an_unknown_panel_url_is_still_the_panel_page(as_viewer):
    response = Client().get("/no-such-page/")
    assert response.status_code == 404 and b'data-testid="not-found"' in response.content


def test_a_method_not_allowed_is_a_json_405(as_viewer):
    # (The resource endpoints refuse a method they do not map with a JSON 403 before this:
    # core.permissions.ActionPermission closes whatever it does not name.)
    for method, url in [("delete", "/api/v1/auth/token/"), ("get", "/api/v1/auth/token/"),
                        ("post", "/api/schema/"), ("put", "/api/docs/")]:
        response = getattr(as_viewer, method)(url)
        assert response.status_code == 405, url
        # The schema's (YAML) and the docs' (HTML) errors too.
        assert response["Content-Type"] == "application/json", url
        assert "not allowed" in response.json()["detail"]


def test_a_server_error_under_api_is_a_json_500(fleet, viewer, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("firmware_updates.apis.receivers.receiver_firmware_stats", broken)
    client = Client(raise_request_exception=False)
    client.force_login(viewer)
    response = client.get("/api/v1/receivers/north/firmware-stats/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Server error: the request failed on our side and was logged."}


def test_a_form_body_past_djangos_limit_is_a_json_413(as_manager, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = as_manager.post("/api/v1/receivers/", {"code": "south", "name": "x" * 2000})
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is too large."}
