"""Password guessing: the client's address cannot be forged through X-Forwarded-For; the
panel's and the admin's login pages pause after too many failures per address or per name,
and resume by themselves; every failure is audited; a cache outage lifts the limits with a
log line rather than breaking sign-in (core/signin.py)."""

import http.client
import json
import time
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from core.models import SignInFailure
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
LOGIN_PAGES = ["/login/", "/admin/login/"]


@pytest.fixture(autouse=True)
def _cache_of_its_own(settings):
    """The failure counts live in the cache, which outlives a test's database rollback."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"signin-test-{uuid.uuid4()}"}}


@pytest.fixture
def vera():
    return UserFactory(username="vera", is_staff=True, is_superuser=True)


@pytest.fixture
def behind_one_proxy(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}


def sign_in(page: str, username: str, password: str, **extra):
    return Client().post(page, {"username": username, "password": password}, **extra)


def refused(response) -> bool:
    return response.status_code == 429


# --- the API token endpoint (DRF's throttle, NUM_PROXIES) -------------------------------


def token_answers(count: int, headers) -> list[int]:
    client = Client()
    return [client.post("/api/v1/auth/token/", {"username": "anna", "password": f"guess{n}"},
                        headers=headers(n)).status_code
            for n in range(count)]


@pytest.fixture
def rate_alone(settings):
    """The token endpoint's rate without the sign-in pause, which a name's 5 failures start."""
    settings.SIGNIN_FAILURES_PER_ADDRESS = settings.SIGNIN_FAILURES_PER_NAME = 1000


def test_a_forged_forwarded_for_does_not_dodge_the_token_throttle(rate_alone):
    UserFactory(username="anna")
    answers = token_answers(25, lambda n: {"X-Forwarded-For": f"198.51.100.{n}"})
    assert answers == [400] * 20 + [429] * 5


def test_behind_one_proxy_only_the_last_forwarded_entry_counts(behind_one_proxy, rate_alone):
    UserFactory(username="anna")
    # The client writes anything in front; the proxy appends the address it saw.
    answers = token_answers(22, lambda n: {"X-Forwarded-For": f"198.51.100.{n}, 203.0.113.7"})
    assert answers == [400] * 20 + [429] * 2
    # Other clients behind the same proxy are other addresses.
    assert token_answers(3, lambda n: {"X-Forwarded-For": f"203.0.113.{100 + n}"}) == [400] * 3


# --- the login pages -------------------------------------------------------------------


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_ten_failures_from_one_address_pause_its_sign_ins(vera, page):
    for n in range(10):
        # Different names each time, and a forged X-Forwarded-For that changes.
        response = sign_in(page, f"guess{n}", "nope", headers={"X-Forwarded-For": f"198.51.100.{n}"})
        assert response.status_code == 200, n  # the form again, with the error

    response = sign_in(page, "vera", PASSWORD)  # even the right password waits

    assert refused(response)
    assert 800 < int(response["Retry-After"]) <= 900
    page_text = response.content.decode()
    assert 'data-testid="signin-paused"' in page_text
    assert "Too many failed sign-ins from your address. Try again in 15 minutes." in page_text
    # Another address is not concerned.
    assert sign_in(page, "vera", PASSWORD, REMOTE_ADDR="192.0.2.50").status_code == 302


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_five_failures_for_one_name_pause_that_name_from_every_address(vera, page):
    for n in range(5):
        assert sign_in(page, "vera", "nope", REMOTE_ADDR=f"192.0.2.{n}").status_code == 200

    response = sign_in(page, "Vera", PASSWORD, REMOTE_ADDR="192.0.2.99")

    assert refused(response)
    assert "Too many failed sign-ins for this user name." in response.content.decode()
    UserFactory(username="erik", is_staff=True)
    assert sign_in(page, "erik", PASSWORD, REMOTE_ADDR="192.0.2.99").status_code == 302


def test_the_pause_ends_by_itself(vera, settings):
    settings.SIGNIN_COOL_OFF = 1
    for _ in range(5):
        sign_in("/login/", "vera", "nope")
    assert refused(sign_in("/login/", "vera", PASSWORD))

    time.sleep(1.2)

    assert sign_in("/login/", "vera", PASSWORD).status_code == 302


def test_a_successful_sign_in_forgets_the_names_failures(vera):
    for _ in range(4):
        sign_in("/login/", "vera", "nope", REMOTE_ADDR="192.0.2.1")
    assert sign_in("/login/", "vera", PASSWORD, REMOTE_ADDR="192.0.2.1").status_code == 302
    for _ in range(4):
        assert sign_in("/login/", "vera", "nope", REMOTE_ADDR="192.0.2.2").status_code == 200
    assert sign_in("/login/", "vera", PASSWORD, REMOTE_ADDR="192.0.2.2").status_code == 302


def test_reading_the_login_page_is_never_paused(vera):
    for n in range(10):
        sign_in("/login/", f"guess{n}", "nope")
    assert Client().get("/login/").status_code == 200


# --- the audit ---------------------------------------------------------------------------


def test_every_failed_sign_in_is_audited_with_name_and_address(vera, behind_one_proxy, caplog):
    sign_in("/login/", "vera", "nope", REMOTE_ADDR="10.0.0.1",
            headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.7"})
    sign_in("/admin/login/", "nobody", "nope", REMOTE_ADDR="10.0.0.1",
            headers={"X-Forwarded-For": "203.0.113.8"})
    Client().post("/api/v1/auth/token/", {"username": "vera", "password": "nope"}, REMOTE_ADDR="10.0.0.1")
    sign_in("/login/", "vera", PASSWORD)  # a success is not a failure

    rows = list(SignInFailure.objects.order_by("id").values_list("username", "address", "entry"))
    assert rows == [("vera", "203.0.113.7", "panel"), ("nobody", "203.0.113.8", "admin"),
                    ("vera", "10.0.0.1", "api")]
    assert "sign-in failed: user name 'nobody' from 203.0.113.8 (admin)" in caplog.text


# --- the cache out of reach ---------------------------------------------------------------


def test_a_cache_outage_lifts_the_limits_with_a_log_line_and_never_an_error(vera, settings, caplog):
    # Nothing listens on port 1: every cache call fails at once.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}
    for _ in range(6):
        assert sign_in("/login/", "vera", "nope").status_code == 200
    assert sign_in("/admin/login/", "vera", PASSWORD).status_code == 302
    assert Client().post("/api/v1/auth/token/", {"username": "vera", "password": "nope"}).status_code == 400

    assert SignInFailure.objects.filter(username="vera").count() == 7
    assert "sign-in failure not counted: the cache does not answer (ConnectionError" in caplog.text
    assert "sign-in limits not checked: the cache does not answer" in caplog.text
    assert "token endpoint throttle not applied: the cache does not answer" in caplog.text


# --- the API token endpoint over HTTP: the same pause as the login pages -----------------

def token_over_http(base_url: str, username: str, password: str, headers=None):
    """(status, Retry-After, body) of `POST /api/v1/auth/token/` sent over real HTTP."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", "/api/v1/auth/token/", body=json.dumps({"username": username, "password": password}),
                     headers={"Content-Type": "application/json", "Accept": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.getheader("Retry-After"), json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_an_operators_own_token_does_not_dodge_the_token_throttle(live_server, rate_alone):
    """DRF's AnonRateThrottle let any request with a valid token through: an operator with an
    account of their own guessed a colleague's password at full speed."""
    UserFactory(username="anna")
    own_token = Token.objects.create(user=UserFactory(username="mallory")).key

    answers = [token_over_http(live_server.url, "anna", f"guess{n}",
                               {"Authorization": f"Token {own_token}", "X-Forwarded-For": f"198.51.100.{n}"})[0]
               for n in range(25)]

    assert answers == [400] * 20 + [429] * 5


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_name_paused_on_the_login_page_is_paused_at_the_token_endpoint(vera, live_server):
    for n in range(5):
        assert sign_in("/login/", "vera", "nope", REMOTE_ADDR=f"192.0.2.{n}").status_code == 200

    status, retry_after, body = token_over_http(live_server.url, "vera", PASSWORD)

    assert status == 429
    assert 800 < int(retry_after) <= 900
    assert body == {"detail": "Too many failed sign-ins for this user name. Try again in 15 minutes."}
    assert not Token.objects.filter(user=vera).exists()
    UserFactory(username="erik")
    assert token_over_http(live_server.url, "erik", PASSWORD)[0] == 200
    # In the operator's language, as the login page.
    assert token_over_http(live_server.url, "vera", PASSWORD, {"Accept-Language": "ru"})[2]["detail"].startswith(
        "Слишком много")


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_failures_at_the_token_endpoint_pause_the_address_everywhere_and_are_audited(vera, live_server,
                                                                                    behind_one_proxy):
    for n in range(10):  # ten names, one address (the proxy's last entry), forged entries before it
        status, _, _ = token_over_http(live_server.url, f"guess{n}", "nope",
                                       {"X-Forwarded-For": f"10.9.9.{n}, 203.0.113.7"})
        assert status == 400

    paused = token_over_http(live_server.url, "vera", PASSWORD, {"X-Forwarded-For": "203.0.113.7"})
    assert paused[0] == 429
    assert paused[2]["detail"] == "Too many failed sign-ins from your address. Try again in 15 minutes."
    assert refused(sign_in("/login/", "vera", PASSWORD, REMOTE_ADDR="127.0.0.1",
                           headers={"X-Forwarded-For": "203.0.113.7"}))
    # Another client behind the same proxy is not concerned.
    assert token_over_http(live_server.url, "vera", PASSWORD, {"X-Forwarded-For": "203.0.113.8"})[0] == 200
    rows = set(SignInFailure.objects.values_list("username", "address", "entry"))
    assert rows == {(f"guess{n}", "203.0.113.7", "api") for n in range(10)}


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_token_granted_forgets_the_names_failures(vera, live_server):
    for _ in range(4):
        assert token_over_http(live_server.url, "vera", "nope")[0] == 400
    assert token_over_http(live_server.url, "vera", PASSWORD)[0] == 200  # forgets the four
    for _ in range(4):
        assert token_over_http(live_server.url, "vera", "nope")[0] == 400

    assert token_over_http(live_server.url, "vera", PASSWORD)[0] == 200


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_the_token_endpoints_pause_ends_by_itself(vera, live_server, settings):
    settings.SIGNIN_COOL_OFF = 1
    for _ in range(5):
        token_over_http(live_server.url, "vera", "nope")
    assert token_over_http(live_server.url, "vera", PASSWORD)[0] == 429

    time.sleep(1.2)

    assert token_over_http(live_server.url, "vera", PASSWORD)[0] == 200


# --- housekeeping -------------------------------------------------------------------------


def test_failed_sign_ins_are_kept_their_retention_and_deleted_after_in_batches(settings, monkeypatch):
    from core import signin

    settings.SIGNIN_FAILURE_RETENTION_DAYS = 30
    monkeypatch.setattr(signin, "PRUNE_BATCH", 2)
    now = timezone.now()
    SignInFailure.objects.bulk_create([SignInFailure(username=f"g{n}", entry="api", at=now - timedelta(days=31))
                                       for n in range(5)])
    kept = SignInFailure.objects.create(username="vera", entry="panel", at=now - timedelta(days=29))

    assert signin.signin_failures_prune(now=now) == 5
    assert list(SignInFailure.objects.values_list("pk", flat=True)) == [kept.pk]


def test_beat_runs_the_housekeeping_every_interval(settings):
    from django_celery_beat.models import PeriodicTask

    from firmware_updates import schedules

    settings.HOUSEKEEPING_INTERVAL = 1800
    schedules.install()
    for task in (schedules.SIGNIN_FAILURES_PRUNE_TASK, schedules.SESSIONS_CLEAR_TASK):
        row = PeriodicTask.objects.get(task=task)
        assert (row.enabled, row.interval.every, row.interval.period) == (True, 1800, "seconds")
