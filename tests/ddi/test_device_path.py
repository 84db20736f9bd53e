"""The device protocol's short way through Django (firmware_updates/ddi/middleware.py): what
the skipped middleware used to guarantee still holds, only DDI paths take it, and the HTTPS
redirect and HSTS apply to devices as to browsers."""

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import connections, transaction
from django.middleware.csrf import CsrfViewMiddleware
from django.test import Client
from django.utils.module_loading import import_string

from core.db import PREPARED
from core.tokens import token_digest
from firmware_updates import services
from firmware_updates.ddi.lookup import device_by_token_digest

from .conftest import SERIAL, TENANT, build_fleet

POLL = f"/{TENANT}/controller/v1/{SERIAL}"
DEVICE_PROTOCOL = "firmware_updates.ddi.middleware.DeviceProtocolMiddleware"
BROWSER_HEADERS = ("X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
                   "Cross-Origin-Opener-Policy")


@pytest.fixture
def world(db, settings, signing_identity, tmp_path):
    settings.ALLOWED_HOSTS = ["testserver"]
    return build_fleet(settings, signing_identity, tmp_path, "http://testserver")


def test_a_poll_naming_a_host_that_is_not_allowed_is_refused(world):
    client = Client(HTTP_AUTHORIZATION=f"TargetToken {world.token}")

    assert client.get(POLL).status_code == 200
    assert client.get(POLL, HTTP_HOST="evil.example").status_code == 400


def test_device_answers_carry_their_length_and_no_browser_headers(world):
    client = Client(HTTP_AUTHORIZATION=f"TargetToken {world.token}")

    response = client.get(POLL)

    assert response["Content-Length"] == str(len(response.content))
    assert not [name for name in BROWSER_HEADERS if name in response]  # bytes a GPRS panel need not pay


def test_no_middleware_runs_before_the_device_protocol_one():
    """What a device request passes through: this list, then the device middleware, which
    hands it to its view through Django's SecurityMiddleware (redirect and HSTS) alone."""
    middleware = django_settings.MIDDLEWARE
    assert middleware[: middleware.index(DEVICE_PROTOCOL) + 1] == [DEVICE_PROTOCOL]


def recording(method, name: str, ran: list):
    def spy(self, *args):
        ran.append(name)
        return method(self, *args)

    return spy


def test_a_device_request_meets_no_session_csrf_login_or_messages(world, monkeypatch):
    ran = []
    for cls, method in [(SessionMiddleware, "process_request"), (CsrfViewMiddleware, "process_view"),
                        (AuthenticationMiddleware, "process_request"),
                        (MessageMiddleware, "process_request")]:
        monkeypatch.setattr(cls, method, recording(getattr(cls, method), cls.__name__, ran))
    device = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"TargetToken {world.token}")

    response = device.get(POLL)

    assert response.status_code == 200
    assert ran == [] and not response.cookies
    Client().get("/api/v1/")  # the spies do see a browser's request
    assert set(ran) == {"SessionMiddleware", "CsrfViewMiddleware", "AuthenticationMiddleware",
                        "MessageMiddleware"}


def test_a_device_request_passes_the_device_middleware_and_djangos_security_one_alone(world, monkeypatch):
    """Every class of MIDDLEWARE spied on: a poll meets the device protocol's and, inside it,
    SecurityMiddleware (redirect, HSTS); a browser's request meets them all."""
    ran = []
    classes = {name: import_string(name) for name in django_settings.MIDDLEWARE}
    for name, cls in classes.items():
        monkeypatch.setattr(cls, "__call__", recording(cls.__call__, name.rsplit(".", 1)[1], ran))

    assert Client(HTTP_AUTHORIZATION=f"TargetToken {world.token}").get(POLL).status_code == 200
    assert ran == ["DeviceProtocolMiddleware", "SecurityMiddleware"]

    ran.clear()
    Client().get("/api/v1/")
    assert sorted(set(ran)) == sorted(name.rsplit(".", 1)[1] for name in classes)


def test_with_ssl_redirect_a_plain_http_poll_is_sent_to_https(world, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # production's
    client = Client(HTTP_AUTHORIZATION=f"TargetToken {world.token}")

    response = client.get(POLL)

    assert response.status_code == 301
    assert response["Location"] == f"https://testserver{POLL}"
    assert client.get(POLL, secure=True).status_code == 200
    assert client.get(POLL, HTTP_X_FORWARDED_PROTO="https").status_code == 200  # TLS at nginx
    assert client.get(POLL, HTTP_X_FORWARDED_PROTO="http").status_code == 301


def test_paths_exempted_from_the_redirect_are_served_over_plain_http(world, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^[^/]+/controller/v1/"]  # .env.example's
    client = Client(HTTP_AUTHORIZATION=f"TargetToken {world.token}")

    assert client.get(POLL).status_code == 200
    assert client.get("/api/v1/").status_code == 301  # the browsers' pages still are not


def test_with_hsts_an_https_device_answer_carries_it_and_no_browser_headers(world, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    client = Client(HTTP_AUTHORIZATION=f"TargetToken {world.token}")

    secure = client.get(POLL, secure=True)
    plain = client.get(POLL)

    assert secure.status_code == 200 and secure["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in plain  # HSTS is only ever sent over https
    for answer in (secure, plain):
        assert not [name for name in BROWSER_HEADERS if name in answer]


def test_an_x_accel_answer_has_an_empty_body_of_declared_length(world, settings):
    settings.USE_X_ACCEL_REDIRECT = True
    services.update_job_create(receiver=world.receiver, site_number=101, actor=None)
    release = world.release
    client = Client(HTTP_AUTHORIZATION=f"TargetToken {world.token}")

    response = client.get(f"{POLL}/softwaremodules/{release.pk}/artifacts/{release.filename}")

    assert response.status_code == 200
    assert response["X-Accel-Redirect"].endswith(release.archive.name)
    assert response["Content-Length"] == "0" and response.content == b""


def test_browser_pages_still_get_the_whole_middleware(world):
    response = Client().get("/api/v1/")

    assert all(name in response for name in BROWSER_HEADERS)
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.skipif(PREPARED not in django_settings.DATABASES, reason="prepared statements: PostgreSQL's")
@pytest.mark.django_db(transaction=True, databases=["default", PREPARED])
def test_polls_read_through_a_prepared_statement_and_see_each_change(world):
    # Committed rows, as in production: a poll's lookup reads through the prepared alias,
    # another connection, which sees each change the default connection commits.
    client = Client(HTTP_AUTHORIZATION=f"TargetToken {world.token}")

    assert "deploymentBase" not in client.get(POLL).json().get("_links", {})
    services.update_job_create(receiver=world.receiver, site_number=101, actor=None)
    assert "deploymentBase" in client.get(POLL).json()["_links"]

    def prepared_on(alias):
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [statement for (statement,) in cursor.fetchall()]

    assert any("token_hash" in statement for statement in prepared_on(PREPARED))
    # Every other query keeps Django's client-side binding: nothing prepared there.
    assert not any("token_hash" in statement for statement in prepared_on("default"))
    # What the lookup builds belongs to `default`, as the ORM's instances: saves go there.
    device, job = device_by_token_digest(token_digest(world.token))
    assert device._state.db == job._state.db == device.receiver._state.db == "default"


@pytest.mark.skipif(PREPARED not in django_settings.DATABASES, reason="prepared statements: PostgreSQL's")
@pytest.mark.django_db(transaction=True, databases=["default", PREPARED])
def test_a_lookup_inside_a_transaction_sees_its_uncommitted_writes(world):
    # The prepared alias is another connection: it could not see this transaction's job.
    client = Client(HTTP_AUTHORIZATION=f"TargetToken {world.token}")

    with transaction.atomic():
        services.update_job_create(receiver=world.receiver, site_number=101, actor=None)
        assert "deploymentBase" in client.get(POLL).json()["_links"]
        _device, job = device_by_token_digest(token_digest(world.token))
        assert job is not None
        transaction.set_rollback(True)
    assert "deploymentBase" not in client.get(POLL).json().get("_links", {})
