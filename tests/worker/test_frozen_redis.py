"""A Redis that is frozen, not down: stopped (SIGSTOP), as a host swapping hard or a VM paused
looks from outside. It accepts connections (the kernel does) and never answers, so only a read
timeout ends a call to it; a Redis that is down refuses the connection at once and is the
other tests' case (test_outages.py).

The application runs as in production: gunicorn, settings from the environment, the private
Redis as broker and cache (never the shared one)."""

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from core.permissions import MANAGERS
from firmware_updates.models import Rollout, UpdateJob
from testing import servers
from tests.api.conftest import operator
from tests.factories import DeviceFactory, DeviceTypeFactory, ReceiverFactory, ReleaseFactory

from .conftest import database_url
from .test_outages import needs_redis, private_redis, redis_url  # noqa: F401 - a fixture

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
# What "not hanging" means here: each request answers within this, though its broker or cache
# calls time out (a couple of seconds each by the settings).
PROMPT = 10.0


def gunicorn(tmp_path, settings, broker_url: str) -> servers.Server:
    port = servers.free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "SECRET_KEY": settings.SECRET_KEY,
           "CELERY_BROKER_URL": broker_url, "ALLOWED_HOSTS": servers.HOST, "DEBUG": "0",
           "VAR_DIR": str(tmp_path / "var"), "MEDIA_ROOT": str(settings.MEDIA_ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("CACHE_URL", None)  # the cache is the broker's Redis, as production's default
    return servers.Server(
        "gunicorn",
        [sys.executable, "-m", "gunicorn", "securitycenter.wsgi", "--bind", f"{servers.HOST}:{port}",
         "--worker-class", "gthread", "--workers", "1", "--threads", "4", "--timeout", "120"],
        env=env, cwd=ROOT, log=tmp_path / "gunicorn.log", port=port, probe="/api/v1/")


def timed(url: str, *, method="GET", body=None, token=None) -> tuple[float, int, dict]:
    """(seconds, status, JSON body); a request still unanswered after 30 s fails the test."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    if body is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     method=method, headers=headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except TimeoutError:
        pytest.fail(f"{method} {url} still unanswered after 30 s: the frozen Redis holds it")
    return time.monotonic() - started, status, json.loads(raw or b"null")


@needs_redis
def test_a_frozen_redis_holds_no_request(private_redis, settings, tmp_path):  # noqa: F811 - the fixture
    """Not lost: the operator's answer, within seconds. Queueing a site and "update all" store
    their rows and answer as usual (the wake-up and the rollout's start are reconciliation's
    to send once Redis answers again); /healthz says the broker is unreachable; the token
    endpoint and lists work on without their cache. Before the broker had a read timeout,
    queueing, "update all" and /healthz waited for good."""
    receiver, nord = ReceiverFactory(code="north"), DeviceTypeFactory(code="nord-gsm")
    ReleaseFactory(device_type=nord, version="5.40")
    for number in (1, 2, 3):
        DeviceFactory(site__receiver=receiver, site__number=number, device_type=nord, last_seen=timezone.now())
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]  # gunicorn's own
    manager = operator(MANAGERS, username="anna")
    token = Token.objects.create(user=manager).key
    server = gunicorn(tmp_path, settings, redis_url(private_redis))
    with servers.running(server):
        api = server.url + "/api/v1/"
        assert timed(api + "update-jobs/", token=token)[1] == 200  # warm: Redis answered once

        os.kill(private_redis.process.pid, signal.SIGSTOP)
        try:
            answers = {
                "healthz": timed(server.url + "/healthz"),
                "token": timed(api + "auth/token/", method="POST",
                               body={"username": "anna", "password": "correct horse battery"}),
                "jobs": timed(api + "update-jobs/", token=token),
                "queue": timed(api + "update-jobs/", method="POST", token=token,
                               body={"receiver": "north", "site_number": 1}),
                "update all": timed(api + "rollouts/", method="POST", token=token,
                                    body={"receiver": "north", "device_type": "nord-gsm"}),
            }
        finally:
            os.kill(private_redis.process.pid, signal.SIGCONT)

    for what, (seconds, status, body) in answers.items():
        assert seconds < PROMPT, (what, seconds, status, body, server.log())
    assert answers["healthz"][1] == 503 and answers["healthz"][2]["broker"] == "unreachable"
    assert answers["token"][1] == 200 and answers["token"][2]["token"]
    assert answers["jobs"][1] == 200
    assert answers["queue"][1] == 201, answers["queue"]
    assert answers["update all"][1] in (201, 202), answers["update all"]
    assert UpdateJob.objects.filter(pk=answers["queue"][2]["id"], wakeup_sent_at__isnull=True).exists()
    assert Rollout.objects.get(pk=answers["update all"][2]["id"]).state == Rollout.State.PENDING
