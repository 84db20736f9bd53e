"""Working through outages (core/outages.py, core/cache.py, securitycenter/health.py), in
process: a broker that takes no task, a Redis cache that does not answer, a database that
fails every query. The same faults for real, Redis and PostgreSQL killed and restarted under
a live server and a worker: tests/worker/test_outages.py and test_database_outage.py."""

import configparser
import logging
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages.middleware import MessageMiddleware
from django.db import OperationalError, connections
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from rest_framework.test import APIClient

from core.permissions import MANAGERS
from firmware_updates import services, tasks
from firmware_updates.models import Heartbeat, Rollout, UpdateJob
from securitycenter.celery import app
from testing.servers import free_port
from tests.factories import DeviceFactory, UserFactory

pytestmark = pytest.mark.django_db
DOWN = "The database is unreachable; try again shortly."


@pytest.fixture
def fleet_sites():
    return [1, 2, 3]


@pytest.fixture
def manager():
    user = UserFactory()
    user.groups.add(Group.objects.get(name=MANAGERS))
    return user


@pytest.fixture
def broker(monkeypatch):
    """The broker as the tasks see it: `down` refuses every task as kombu does when Redis is
    unreachable; otherwise `sent` records them."""

    class Broker:
        down = True
        sent: list = []

    def sender(task):
        def delay(*args):
            if Broker.down:
                raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
            Broker.sent.append((task.name.rsplit(".", 1)[1], *args))
        return delay

    for task in (tasks.wakeup_devices, tasks.rollout_run, tasks.events_publish, tasks.webhook_deliver):
        monkeypatch.setattr(task, "delay", sender(task))
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    Broker.sent = []
    return Broker


def test_actions_taken_while_the_broker_is_down_answer_as_usual_and_reconciliation_sends_them(
        fleet, manager, broker, caplog, settings, django_capture_on_commit_callbacks):
    """Queueing a site and "update all" store their rows and answer 201 although their tasks
    cannot be sent (a warning says so); once the broker is back, beat's reconciliation sends
    the site's wake-up and runs the pending rollout: nothing had to be pressed again."""
    fleet.receiver.wakeup_url = "http://receiver.invalid/wakeup"
    fleet.receiver.save()
    DeviceFactory._meta.model.objects.update(last_seen=timezone.now())
    api = APIClient()
    api.force_authenticate(manager)

    with caplog.at_level(logging.WARNING, logger="core.outages"), django_capture_on_commit_callbacks(execute=True):
        queued = api.post("/api/v1/update-jobs/", {"receiver": "north", "site_number": 1}, format="json")
        started = api.post("/api/v1/rollouts/", {"receiver": "north", "device_type": "nord-gsm"}, format="json")

    assert queued.status_code == 201 and started.status_code in (201, 202), (queued.json(), started.json())
    job = UpdateJob.objects.get(pk=queued.json()["id"])
    rollout = Rollout.objects.get(pk=started.json()["id"])
    assert (job.state, job.wakeup_sent_at, rollout.state) == ("queued", None, Rollout.State.PENDING)
    lost = [r.getMessage() for r in caplog.records if "not sent, the broker is unreachable" in r.getMessage()]
    assert len(lost) == 2 and "reconciliation sends it again" in lost[0], lost

    broker.down = False
    with django_capture_on_commit_callbacks(execute=True):
        services.reconcile(now=timezone.now() + settings.ROLLOUT_STALE_AFTER + timedelta(seconds=1))
    assert ("rollout_run", rollout.pk) in broker.sent
    assert ("wakeup_devices", fleet.receiver.pk, ["NG1"]) in broker.sent


def test_webhook_events_the_broker_cannot_take_are_delivered_once_it_is_back(
        fleet, manager, broker, caplog, django_capture_on_commit_callbacks):
    """The event is a row of the outbox, not only a task: a lost task is sent again by beat."""
    hook = fleet.receiver.webhooks.create(url="http://security-center.invalid/hook", secret="s")
    rollout, _ = services.rollout_start(receiver=fleet.receiver, device_type=fleet.device_type, actor=manager)
    with caplog.at_level(logging.WARNING, logger="core.outages"), django_capture_on_commit_callbacks(execute=True):
        services.rollout_pause(rollout=rollout, actor=manager)
    assert Rollout.objects.get(pk=rollout.pk).state == Rollout.State.PAUSED
    assert any("events_publish" in r.getMessage() and "beat's reconciliation publishes them" in r.getMessage()
               for r in caplog.records)

    broker.down = False
    with django_capture_on_commit_callbacks(execute=True):
        services.reconcile()
    assert ("webhook_deliver", hook.pk) in broker.sent


@pytest.fixture
def unreachable_cache(settings):
    """Production's cache backend on a Redis nobody listens to."""
    settings.CACHES = {"default": {"BACKEND": "core.cache.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}


def test_an_unreachable_cache_answers_as_an_empty_one_and_says_so_once(unreachable_cache, caplog):
    from django.core.cache import cache

    with caplog.at_level(logging.WARNING, logger="core.cache"):
        cache.set("a", 1)
        assert cache.get("a", "default") == "default"
        assert cache.get_many(["a", "b"]) == {}
        assert cache.add("gate", 1) is True  # a gate built on add opens: throttles fail open
        assert cache.incr("counter", 3) == 3
        assert cache.delete("a") is False
        cache.set_many({"a": 1})
        cache.delete_many(["a"])
    said = [r for r in caplog.records if r.name == "core.cache"]
    assert len(said) == 1 and "reads miss and writes are dropped" in said[0].getMessage()


def test_without_its_cache_the_api_signs_in_lists_and_panels_download(unreachable_cache, fleet, manager):
    """The token endpoint's throttle, the jobs' download progress (list and device) live in
    the cache: each answers as usual while Redis does not."""
    api = APIClient()
    status = api.post("/api/v1/auth/token/", {"username": manager.username, "password": "correct horse battery"})
    assert status.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {status.json()['token']}")
    job = services.update_job_create(receiver=fleet.receiver, site_number=1, actor=manager)
    services.job_download_progress(job=job, offset=0)
    services.job_download_progress(job=UpdateJob.objects.get(pk=job.pk), offset=1000)
    assert UpdateJob.objects.get(pk=job.pk).bytes_downloaded == 1000  # written at once: no gate
    response = api.get("/api/v1/update-jobs/")
    assert response.status_code == 200 and response.json()["results"][0]["progress"]["bytes"] == 1000


@contextmanager
def database_refusing(message: str = "Connection refused"):
    """Every query of this thread fails as with PostgreSQL stopped, until the block ends."""
    connection = connections["default"]

    def refused(*args, **kwargs):
        raise OperationalError(message)

    connection.ensure_connection = refused
    try:
        yield
    finally:
        del connection.ensure_connection


def test_a_database_outage_answers_503_with_retry_after_to_api_devices_and_browsers(fleet, manager, settings):
    settings.DATABASE_OUTAGE_RETRY_AFTER = 12
    device = DeviceFactory(site__receiver=fleet.receiver, site__number=9, device_type=fleet.device_type,
                           token="panel-token")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token(manager)}")
    panel = Client()
    panel.force_login(manager)
    with database_refusing():
        answers = {
            "api": api.get("/api/v1/update-jobs/"),
            "device": Client().get(f"/north/controller/v1/{device.serial}",
                                   HTTP_AUTHORIZATION="TargetToken panel-token"),
            "panel": panel.get("/receivers/", HTTP_ACCEPT="text/html"),
        }
    for name, response in answers.items():
        assert response.status_code == 503, name
        assert response["Retry-After"] == "12", name
    assert answers["api"].json() == {"detail": DOWN}
    assert answers["device"].json() == {"detail": DOWN}
    assert answers["panel"]["Content-Type"].startswith("text/html")
    assert b"The database is unreachable" in answers["panel"].content
    # Back: the same clients carry on.
    assert api.get("/api/v1/update-jobs/").status_code == 200
    assert Client().get(f"/north/controller/v1/{device.serial}",
                        HTTP_AUTHORIZATION="TargetToken panel-token").status_code == 200
    assert panel.get("/receivers/").status_code == 200


def api_token(user) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=user)[0].key


def test_a_database_error_inside_a_middleware_is_a_503_too(fleet, monkeypatch):
    def refused(self, *args):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(MessageMiddleware, "process_request", refused)
    # (The test client re-raises what Django handled; a server does not.)
    response = Client(raise_request_exception=False).get("/api/v1/update-jobs/")
    assert response.status_code == 503 and response.json() == {"detail": DOWN}


def test_healthz_says_ok_once_beat_reconciled_and_needs_no_sign_in(db):
    anonymous = Client()
    before = anonymous.get("/healthz")
    assert before.status_code == 503
    assert before.json()["reconcile"]["status"] == "never"
    services.reconcile()
    answer = anonymous.get("/healthz")
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["status"], body["database"], body["broker"], body["reconcile"]["status"]) == ("ok", "ok", "ok", "ok")
    assert body["reconcile"]["age_seconds"] <= 1 and "problems" not in body
    assert answer["Cache-Control"].startswith("max-age=0")


def test_healthz_names_what_is_wrong_without_details(db, monkeypatch, settings):
    Heartbeat.objects.create(name=Heartbeat.RECONCILE, at=timezone.now() - timedelta(hours=1))
    monkeypatch.setattr(app.conf, "broker_write_url", f"redis://127.0.0.1:{free_port()}/0")
    # A Redis broker that does not answer, whatever transport the settings chose.
    monkeypatch.setitem(app.conf, "broker_transport", "securitycenter.broker:Transport")
    body = Client().get("/healthz").json()
    assert (body["status"], body["broker"], body["reconcile"]["status"]) == ("failing", "unreachable", "late")
    assert body["problems"][0] == "The broker is unreachable."
    assert "127.0.0.1" not in str(body)

    monkeypatch.undo()
    with database_refusing("password authentication failed for user firmware at db.internal"):
        answer = Client().get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["database"] == "unreachable" and "db.internal" not in answer.content.decode()


@pytest.mark.parametrize("unit", ["firmware-web.service", "firmware-worker@.service", "firmware-beat.service"])
def test_every_process_of_production_restarts_by_itself(unit):
    """deploy/systemd/ (README.md, "Production"): each unit restarts on failure, never gives
    up, and runs this project's program."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(Path(__file__).resolve().parents[1] / "deploy" / "systemd" / unit)
    assert parser["Service"]["Restart"] == "on-failure"
    assert parser["Unit"]["StartLimitIntervalSec"] == "0"
    assert "securitycenter" in parser["Service"]["ExecStart"]
