"""Behind the shipped nginx with TRUSTED_PROXY_COUNT=1: the client's address is the one nginx
saw, whatever X-Forwarded-For the client sends (core/signin.py)."""

import http.client
import uuid
from urllib.parse import urlencode, urlsplit

import pytest

from core.models import SignInFailure
from tests.factories import UserFactory

pytestmark = [pytest.mark.live, pytest.mark.nginx]


def post_token(url: str, n: int) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", "/api/v1/auth/token/", body=urlencode({"username": "anna", "password": f"guess{n}"}),
                     headers={"Content-Type": "application/x-www-form-urlencoded",
                              "X-Forwarded-For": f"198.51.100.{n}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_a_forged_forwarded_for_does_not_dodge_the_token_throttle_behind_nginx(front, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"nginx-test-{uuid.uuid4()}"}}
    UserFactory(username="anna")

    answers = [post_token(front.url, n) for n in range(22)]

    assert answers == [400] * 20 + [429] * 2
    # Audited with the address nginx saw, not the one the client wrote.
    assert set(SignInFailure.objects.values_list("address", flat=True)) == {"127.0.0.1"}
