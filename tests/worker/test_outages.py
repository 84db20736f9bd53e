"""Outages of Redis (broker and cache), driven from outside: a real worker with beat and a
Redis of the test's own, killed and started again (never the shared one). Each test says
what may not be lost, and checks it."""

import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from firmware_updates import services
from firmware_updates.models import UpdateJob
from testing.servers import redis_server
from tests.factories import DeviceFactory, DeviceTypeFactory, ReceiverFactory, ReleaseFactory

from .conftest import wait_for, worker_running

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
