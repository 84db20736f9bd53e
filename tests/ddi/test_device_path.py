"""The device protocol's short way through Django (firmware_updates/ddi/middleware.py): what
the skipped middleware used to guarantee still holds, and only DDI paths take it."""

import pytest
from django.db import connection
from django.test import Client

from firmware_updates import services

from .conftest import SERIAL, TENANT, build_fleet

POLL = f"/{TENANT}/controller/v1/{SERIAL}"


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
    assert "X-Frame-Options" not in response  # browser-only: bytes a GPRS panel need not pay


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

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL's")
def test_polls_read_through_a_prepared_statement_and_see_each_change(world):
    client = Client(HTTP_AUTHORIZATION=f"TargetToken {world.token}")

    assert "deploymentBase" not in client.get(POLL).json().get("_links", {})
    services.update_job_create(receiver=world.receiver, site_number=101, actor=None)
    assert "deploymentBase" in client.get(POLL).json()["_links"]

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any("token_hash" in statement for statement in prepared), prepared
