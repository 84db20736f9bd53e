"""Behind the shipped nginx with TRUSTED_PROXY_COUNT=1: the client's address is the one nginx
saw, whatever X-Forwarded-For the client sends (core/signin.py)."""

import http.client
import uuid
from urllib.parse import urlencode, urlsplit

import pytest

from core.models import SignInFailure
from tests.factories import UserFactory

pytestmark = [pytest.mark.live, pytest.mark.nginx]


def post_token(url: str, n: int, username: str = "anna") -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", "/api/v1/auth/token/", body=urlencode({"username": username, "password": f"guess{n}"}),
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
    per_address = settings.SIGNIN_FAILURES_PER_ADDRESS

    # A name of its own each time, so that only the address can pause the guesses (core/signin.py):
    # every forged X-Forwarded-For counts as the one address nginx saw.
    answers = [post_token(front.url, n, username=f"guess{n}") for n in range(per_address)]
    answers += [post_token(front.url, n) for n in range(2)]

    assert answers == [400] * per_address + [429] * 2
    # Audited with the address nginx saw, not the one the client wrote.
    assert set(SignInFailure.objects.values_list("address", flat=True)) == {"127.0.0.1"}
