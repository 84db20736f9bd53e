"""Outages of Redis (broker and cache) and PostgreSQL, driven from outside: a real worker with
beat, the application over HTTP, and a Redis or PostgreSQL of the test's own, killed and
started again (never the shared ones). Each test says what may not be lost, and checks it."""

import hashlib
import http.cookiejar
import json
import random
import re
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from core.permissions import MANAGERS
from firmware_updates import services
from firmware_updates.models import JobState, Rollout, UpdateJob
from testing.servers import redis_server
from tests.api.conftest import operator
from tests.api.test_live_http import Api, login
from tests.ddi.client import DdiClient, raw_get
from tests.factories import DeviceFactory, DeviceTypeFactory, ReceiverFactory, ReleaseFactory

from .conftest import healthz, wait_for, worker_running

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


class WakeupEndpoint(BaseHTTPRequestHandler):
    """A receiver's wake-up endpoint: records the serials it is asked to wake; the first
    request is held `hold_first` seconds before its 202 (a task in flight)."""

    received: list = []
    hold_first = 0.0
    first_arrived = threading.Event()

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        first = not cls.first_arrived.is_set()
        cls.first_arrived.set()
        if first and cls.hold_first:
            time.sleep(cls.hold_first)
        cls.received.append(body)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

    @classmethod
    def serials(cls) -> set[str]:
        return {serial for body in list(cls.received) for serial in body["serials"]}


@pytest.fixture
def wakeup_endpoint():
    WakeupEndpoint.received, WakeupEndpoint.hold_first = [], 0.0
    WakeupEndpoint.first_arrived = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), WakeupEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/wakeup", WakeupEndpoint
    server.shutdown()


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of this test's own (never the shared one): killed and restarted empty at will."""
    server = redis_server(tmp_path / "redis.log")
    server.start()
    yield server
    server.kill()


def redis_url(server, db: int = 0) -> str:
    return f"redis://127.0.0.1:{server.port}/{db}"


def redis_restart_empty(server, *, down_for: float) -> None:
    """Redis dies outright (SIGKILL) and comes back after `down_for` seconds with nothing:
    queues, unacknowledged messages and the cache are gone."""
    server.kill()
    time.sleep(down_for)
    server.start()


@needs_redis
def test_the_worker_outlives_a_redis_restart_with_a_task_in_flight(private_redis, wakeup_endpoint, settings,
                                                                   tmp_path):
    """Not lost: the worker process itself. Redis dies while the worker runs a task (acks
    late) and comes back empty; the same worker process (same pid) then runs a task sent
    after, and reconciliation's own tasks go on. Before the fix, kombu's redis channel
    raised AttributeError while putting the in-flight message back and celery stopped the
    worker for good ("Unrecoverable error")."""
    url, endpoint = wakeup_endpoint
    endpoint.hold_first = 4.0
    receiver, nord = ReceiverFactory(wakeup_url=url), DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    first, second = (DeviceFactory(site__receiver=receiver, site__number=n, device_type=nord,
                                   last_seen=timezone.now()) for n in (1, 2))
    # Beat stays quiet after its first round: nothing else is acknowledged while Redis is away.
    with worker_running(settings, tmp_path, broker_url=redis_url(private_redis), beat_every=600) as worker:
        pid = worker.process.pid
        services.update_job_create(receiver=receiver, site_number=1, actor=None)
        assert endpoint.first_arrived.wait(30), worker.log()  # the wake-up task is under way

        redis_restart_empty(private_redis, down_for=1.0)

        job = services.update_job_create(receiver=receiver, site_number=2, actor=None)
        wait_for(lambda: second.serial in endpoint.serials(), timeout=40, worker=worker,
                 what="the wake-up sent after Redis came back")
        wait_for(lambda: UpdateJob.objects.get(pk=job.pk).wakeup_sent_at, timeout=10, worker=worker)
        wait_for(lambda: first.serial in endpoint.serials(), timeout=10, worker=worker,
                 what="the task in flight to finish its work")
        assert worker.process.poll() is None and worker.process.pid == pid
        assert "Unrecoverable error" not in worker.log(200_000)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def panel_signed_in(base_url: str, username: str, password: str):
    """A browser signed in through the panel's login form (its CSRF token, its session
    cookie): an opener for the panel's pages."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                          NoRedirect)
    page = browser.open(base_url + "/login/", timeout=30).read()
    csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": csrf, "username": username, "password": password})
    with pytest.raises(urllib.error.HTTPError) as signed_in:  # the redirect after signing in
        browser.open(urllib.request.Request(base_url + "/login/", data=form.encode(),
                                            headers={"Referer": base_url + "/login/"}), timeout=30)
    assert signed_in.value.code == 302
    return browser


@pytest.fixture
def redis_cache(private_redis, settings):
    """The application's cache on the private Redis, as production's on its Redis."""
    settings.CACHES = {"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": redis_url(private_redis, 1),
                                   "KEY_PREFIX": f"outage-{time.monotonic_ns()}",
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}


@needs_redis
def test_a_redis_outage_fails_no_request_and_loses_no_action(private_redis, redis_cache, wakeup_endpoint,
                                                             live_server, settings, tmp_path):
    """Redis (broker and cache) dies while operators work and panels download, and comes back
    empty. Not lost: every answer is the usual one (no 500: sign-in, token, lists, queueing a
    site, "update all", polls and a ranged download); every action that answered 2xx reaches
    its panels on its own (the wake-up endpoint receives the queued site's serial and every
    serial of the rollout, whose jobs are all created); the worker process that was running a
    task when Redis died is the one still serving afterwards."""
    url, endpoint = wakeup_endpoint
    endpoint.hold_first = 3.0
    settings.CSRF_COOKIE_SECURE = settings.SESSION_COOKIE_SECURE = False  # plain http here
    receiver, nord = ReceiverFactory(code="north", wakeup_url=url), DeviceTypeFactory()
    content = random.Random(7).randbytes(64 * 1024)
    ReleaseFactory(device_type=nord, version="5.40", size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                   sha1=hashlib.sha1(content).hexdigest(), md5=hashlib.md5(content).hexdigest(),
                   archive=ContentFile(content, name="nord-gsm-5.40.swu"))
    devices = {n: DeviceFactory(site__receiver=receiver, site__number=n, device_type=nord, serial=f"NG{n:04d}",
                                last_seen=timezone.now(), token=f"token-{n}") for n in range(1, 8)}
    manager = operator(MANAGERS)
    api = Api(live_server.url)

    with worker_running(settings, tmp_path, broker_url=redis_url(private_redis)) as worker:
        pid = worker.process.pid
        # Site 7 is queued before the outage; its wake-up task is under way when Redis dies.
        downloading = services.update_job_create(receiver=receiver, site_number=7, actor=manager)
        assert endpoint.first_arrived.wait(30), worker.log()
        private_redis.kill()

        login(api, manager.username)  # the token endpoint's throttle counts in the cache
        assert api.call("GET", "update-jobs/")[0] == 200
        status, queued = api.call("POST", "update-jobs/", {"receiver": "north", "site_number": 1})
        assert status == 201, queued
        status, rollout = api.call("POST", "rollouts/", {"receiver": "north", "device_type": "nord-gsm",
                                                         "waves": [100]})
        assert status in (201, 202), rollout
        assert api.call("GET", f"rollouts/{rollout['id']}/")[0] == 200
        browser = panel_signed_in(live_server.url, manager.username, "correct horse battery")
        assert browser.open(f"{live_server.url}/receivers/north/software-update/nord-gsm/", timeout=30).status == 200
        # Panel 7 polls and downloads part of its archive: the device protocol needs no Redis.
        device = DdiClient(live_server.url, "north", devices[7].serial, "token-7")
        poll = device.poll()
        assert poll.status == 200 and "deploymentBase" in poll.json()["_links"]
        status, _headers, part = raw_get(f"{live_server.url}/north/controller/v1/{devices[7].serial}/softwaremodules/"
                                         f"{downloading.release_id}/artifacts/nord-gsm-5.40.swu", "TargetToken token-7",
                                         headers={"Range": "bytes=0-9999"})
        assert (status, part) == (206, content[:10000])
        assert healthz(live_server.url)[1]["broker"] == "unreachable"

        time.sleep(1)
        private_redis.start()  # empty: the queued tasks and the cache are gone

        rollout_serials = {devices[n].serial for n in range(2, 7)}
        wait_for(lambda: Rollout.objects.filter(pk=rollout["id"], queued=5).exists(), timeout=40, worker=worker,
                 what="the rollout started during the outage to queue its sites")
        wait_for(lambda: {devices[1].serial, *rollout_serials} <= endpoint.serials(), timeout=40, worker=worker,
                 what="every wake-up of an action taken during the outage")
        assert set(UpdateJob.objects.filter(rollout=rollout["id"]).values_list("device__serial", flat=True)) == \
            rollout_serials
        assert UpdateJob.objects.get(pk=queued["id"]).state == JobState.QUEUED
        assert UpdateJob.objects.get(pk=downloading.pk).state == JobState.DOWNLOADING
        wait_for(lambda: healthz(live_server.url)[0] == 200, timeout=20, worker=worker, what="/healthz to pass")
        assert worker.process.poll() is None and worker.process.pid == pid
        assert "Unrecoverable error" not in worker.log(500_000)
