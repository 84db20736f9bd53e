"""The device protocol's short way through Django (firmware_updates/ddi/middleware.py): what
the skipped middleware used to guarantee still holds, and only DDI paths take it."""

import pytest
from django.conf import settings as django_settings
from django.db import connections, transaction
from django.test import Client

from firmware_updates import services
from firmware_updates.ddi.lookup import PREPARED, device_by_token_digest
from securitycenter.tokens import token_digest

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
