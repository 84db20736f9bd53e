"""The alarm centre's events reach the Security Center's webhooks, signed, in the feed's order,
and are tried again while the endpoint fails. The endpoint is a real local HTTP server, not a
patched function; tasks run eagerly here (through a real worker and beat, with the broker
down meanwhile: tests/worker/test_alarm_centre.py)."""

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


def test_the_console_hears_of_waves_jobs_a_halt_and_a_stop_with_a_verifiable_signature(
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

    assert console.events() == ["wave.started", "job.queued", "job.failed", "rollout.paused", "rollout.stopped"]
    bodies = [json.loads(body) for _, body in console.received]
    for headers, body in console.received:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Signature-SHA256"] == expected
        assert headers["Content-Type"] == "application/json"
    # The feed's ids, in order, each event once.
    assert [b["id"] for b in bodies] == sorted({b["id"] for b in bodies})
    started = bodies[0]
    assert started["rollout"] == {"id": rollout.pk, "receiver": "north", "device_type": "nord-gsm",
                                  "release": "5.40", "state": "running"}
    assert (started["type"], started["wave"], started["size"], started["data"]["wave"]) == ("wave.started", 1, 1, 1)
    failed = bodies[2]
    # A job's event names its rollout as it is when delivered (paused by then: the failure halted it).
    assert failed["rollout"] == {"id": rollout.pk, "receiver": "north", "device_type": "nord-gsm",
                                 "release": "5.40", "state": "paused"}
    assert (failed["job"], failed["serial"], failed["site_number"], failed["reason"], failed["data"]) == (
        canary.pk, canary.device.serial, canary.device.site.number, "Update Failed.", {"reason": "Update Failed."})
    paused = bodies[3]
    assert paused["reason"] == "Wave 1 ended with 0 of 1 updates confirmed (90 % required)."
    assert (paused["paused_by"], paused["rollout"]["state"]) == ("system", "paused")
    assert bodies[4]["stopped_by"] == "olga"


def test_a_failing_endpoint_gets_the_same_event_again_and_nothing_overtakes_it(
        rollout_fleet, console, django_capture_on_commit_callbacks):
    """The endpoint fails twice: the first event waits (5 s, then 10 s) and is tried again,
    the events after it wait behind it; on the third try everything goes, in order."""
    receiver, nord = rollout_fleet
    console.fail_first = 2
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        services.rollout_start(receiver=receiver, device_type=nord, actor=None, wave_counts=[1])
    hook = Webhook.objects.get()
    assert (hook.failures, hook.delivered_through, "answered 503" in hook.last_error) == (1, None, True)
    # The back-off, jittered between 2.5 and 5 s, counts from the failure, which came after
    # `before` and before now (measured from now alone, a 2.5 s draw read as 2.4996 s).
    assert (hook.retry_at - before).total_seconds() >= 2.5
    assert (hook.retry_at - timezone.now()).total_seconds() <= 5

    assert services.webhook_deliver(webhook_id=hook.pk) == 0  # not before its time
    before = timezone.now()
    services.webhook_deliver(webhook_id=hook.pk, now=hook.retry_at)
    hook.refresh_from_db()
    assert hook.failures == 2
    assert 5 <= (hook.retry_at - before).total_seconds() and (hook.retry_at - timezone.now()).total_seconds() <= 10
    assert services.webhook_deliver(webhook_id=hook.pk, now=hook.retry_at) == 2

    bodies = [body for _, body in console.received]
    assert len(bodies) == 4 and len(set(bodies[:3])) == 1  # the same event, delivered on the third try
    assert [json.loads(b)["event"] for b in bodies[2:]] == ["wave.started", "job.queued"]
    hook.refresh_from_db()
    assert (hook.failures, hook.retry_at, hook.last_error) == (0, None, "")


def test_an_event_the_endpoint_keeps_refusing_is_given_up_and_the_next_goes(
        rollout_fleet, console, settings, caplog, django_capture_on_commit_callbacks):
    receiver, nord = rollout_fleet
    settings.WEBHOOK_MAX_TRIES = 2
    console.fail_first = 2
    with django_capture_on_commit_callbacks(execute=True):
        services.rollout_start(receiver=receiver, device_type=nord, actor=None, wave_counts=[1])
    hook = Webhook.objects.get()
    with django_capture_on_commit_callbacks(execute=True):  # the next delivery is sent at once
        services.webhook_deliver(webhook_id=hook.pk, now=hook.retry_at)
    assert console.events() == ["wave.started", "wave.started", "job.queued"]
    assert any("given up after 2 tries" in r.getMessage() for r in caplog.records)


def test_a_webhook_hears_only_the_types_it_asks_for(rollout_fleet, console, django_capture_on_commit_callbacks):
    receiver, nord = rollout_fleet
    Webhook.objects.update(types=["wave.started", "rollout.completed"])
    with django_capture_on_commit_callbacks(execute=True):
        rollout, _ = services.rollout_start(receiver=receiver, device_type=nord, actor=None, waves=[100])
    for job in UpdateJob.objects.filter(rollout=rollout):
        with django_capture_on_commit_callbacks(execute=True):
            services.job_transition(job_id=job.pk, to_state=JobState.SUCCEEDED, actor=services.ACTOR_DEVICE,
                                    confirmed_at=timezone.now())
    assert console.events() == ["wave.started", "rollout.completed"]
    completed = json.loads(console.received[-1][1])
    assert (completed["rollout"]["state"], completed["queued"]) == ("completed", 10)


def test_an_inactive_webhook_or_another_receivers_hears_nothing(rollout_fleet, console,
                                                                django_capture_on_commit_callbacks):
    receiver, nord = rollout_fleet
    Webhook.objects.update(is_active=False)
    Webhook.objects.create(receiver=ReceiverFactory(code="south"), url=console.url, secret=SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        services.rollout_start(receiver=receiver, device_type=nord, actor=None, wave_counts=[1])
    assert console.received == []
