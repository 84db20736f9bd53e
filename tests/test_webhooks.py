"""Rollout events reach the Security Center's webhooks, signed, and are retried while the
endpoint fails. The endpoint is a real local HTTP server, not a patched function."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from firmware_updates import services
from firmware_updates.models import JobState, UpdateJob, Webhook
from tests.factories import (
    DeviceFactory,
    DeviceTypeFactory,
    ReceiverFactory,
    ReleaseFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
SECRET = "console-shared-secret"


class Console:
    """A monitoring console's webhook endpoint: records every request; can fail the first N."""

    def __init__(self):
        self.received, self.fail_first = [], 0
        console = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                console.received.append((self.headers, body))
                failing = console.fail_first > 0
                console.fail_first -= 1
                self.send_response(503 if failing else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/firmware"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self):
        return [json.loads(body)["event"] for _, body in self.received]


@pytest.fixture
def console():
    console = Console()
    yield console
    console.server.shutdown()


@pytest.fixture
def rollout_fleet(eager_celery, console):
    receiver = ReceiverFactory(code="north")
    Webhook.objects.create(receiver=receiver, url=console.url, secret=SECRET)
    nord = DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    for n in range(10):
        DeviceFactory(site__receiver=receiver, site__number=n + 1, device_type=nord)
    return receiver, nord


def test_the_console_hears_of_waves_failures_a_halt_and_a_stop_with_a_verifiable_signature(
        rollout_fleet, console, django_capture_on_commit_callbacks):
    receiver, nord = rollout_fleet
    with django_capture_on_commit_callbacks(execute=True):
        rollout, _ = services.rollout_start(receiver=receiver, device_type=nord, actor=UserFactory(),
                                            wave_counts=[1])
    (canary,) = UpdateJob.objects.filter(rollout=rollout)
    with django_capture_on_commit_callbacks(execute=True):
        services.job_transition(job_id=canary.pk, to_state=JobState.FAILED, actor=services.ACTOR_DEVICE,
                                reason="Update Failed.")
    with django_capture_on_commit_callbacks(execute=True):
        services.rollout_stop(rollout=rollout, actor=UserFactory(username="olga"))

    assert console.events() == ["wave.started", "job.failed", "rollout.paused", "rollout.stopped"]
    for headers, body in console.received:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Signature-SHA256"] == expected
        assert headers["Content-Type"] == "application/json"
    failed = json.loads(console.received[1][1])
    assert failed["rollout"] == {"id": rollout.pk, "receiver": "north", "device_type": "nord-gsm",
                                 "release": "5.40", "state": "running"}
    assert (failed["serial"], failed["reason"]) == (canary.device.serial, "Update Failed.")
    paused = json.loads(console.received[2][1])
    assert paused["reason"] == "Wave 1 ended with 0 of 1 updates confirmed (90 % required)."
    assert json.loads(console.received[3][1])["stopped_by"] == "olga"


@pytest.fixture
def eager_retries():
    """An eager task's retry runs in place, as long as its exception is not propagated."""
    from securitycenter.celery import app

    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = True


def test_a_failing_endpoint_is_retried_until_it_answers(rollout_fleet, console, eager_retries,
                                                        django_capture_on_commit_callbacks):
    """Celery's retries are the queue: a worker waits 5 s, 10 s, ... up to 15 min between
    tries; an eager run retries in place."""
    receiver, nord = rollout_fleet
    console.fail_first = 2
    with django_capture_on_commit_callbacks(execute=True):
        services.rollout_start(receiver=receiver, device_type=nord, actor=None, wave_counts=[1])
    bodies = [body for _, body in console.received]
    assert len(bodies) == 3 and len(set(bodies)) == 1  # the same event, delivered on the third try
    assert json.loads(bodies[0])["event"] == "wave.started"


def test_the_console_hears_of_completion(rollout_fleet, console, django_capture_on_commit_callbacks):
    receiver, nord = rollout_fleet
    with django_capture_on_commit_callbacks(execute=True):
        rollout, _ = services.rollout_start(receiver=receiver, device_type=nord, actor=None, waves=[100])
    for job in UpdateJob.objects.filter(rollout=rollout):
        with django_capture_on_commit_callbacks(execute=True):
            services.job_transition(job_id=job.pk, to_state=JobState.SUCCEEDED, actor=services.ACTOR_DEVICE,
                                    confirmed_at=timezone.now())
    assert console.events() == ["wave.started", "rollout.completed"]
    assert json.loads(console.received[-1][1])["rollout"]["state"] == "completed"


def test_an_inactive_webhook_or_another_receivers_hears_nothing(rollout_fleet, console,
                                                                django_capture_on_commit_callbacks):
    receiver, nord = rollout_fleet
    Webhook.objects.update(is_active=False)
    Webhook.objects.create(receiver=ReceiverFactory(code="south"), url=console.url, secret=SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        services.rollout_start(receiver=receiver, device_type=nord, actor=None, wave_counts=[1])
    assert console.received == []
