"""Rollout fan-out, wake-up push and reconciliation through a real Celery worker with beat."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db.models import Count
from django.utils import timezone

from firmware_updates import services
from firmware_updates.models import JobState, Rollout, UpdateJob
from sites.models import Device, Site
from tests.consistency import assert_active_jobs_recorded
from tests.factories import (
    DeviceFactory,
    DeviceTypeFactory,
    ReceiverFactory,
    ReleaseFactory,
    UpdateJobFactory,
    UserFactory,
)

from .conftest import wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def make_fleet(receiver, device_type, count: int, **device_kwargs) -> list[Device]:
    sites = Site.objects.bulk_create([Site(receiver=receiver, number=10_000 + i) for i in range(count)])
    devices = [Device(site=site, receiver=receiver, serial=f"W{receiver.pk}-{site.number}", device_type=device_type,
                      hardware_revision="2.1", firmware_version="5.30", channels=["gprs"], **device_kwargs)
               for site in sites]
    for device in devices:
        device.refresh_derived()
    return Device.objects.bulk_create(devices)


def test_rollout_fans_out_in_the_worker(celery_worker):
    receiver, nord = ReceiverFactory(), DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    make_fleet(receiver, nord, 95)
    DeviceFactory(site__receiver=receiver, device_type=nord, channels=["sms"])
    rollout, created = services.rollout_start(receiver=receiver, device_type=nord, actor=UserFactory(),
                                              waves=[100])
    assert created
    done = wait_for(lambda: Rollout.objects.filter(pk=rollout.pk, queued=95, processed=96).first(), timeout=60,
                    worker=celery_worker, what="the rollout's one wave to be queued")
    assert (done.queued, done.skipped) == (95, {"no_ip_channel": 1})
    assert UpdateJob.objects.filter(rollout=rollout, state=JobState.QUEUED).count() == 95


def test_worker_killed_mid_rollout_then_resumed_queues_every_site_once(celery_worker):
    receiver, nord = ReceiverFactory(), DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    make_fleet(receiver, nord, 3000)
    rollout, _ = services.rollout_start(receiver=receiver, device_type=nord, actor=UserFactory(), waves=[100])
    wait_for(lambda: Rollout.objects.get(pk=rollout.pk).processed > 0, timeout=60, interval=0.01,
             worker=celery_worker, what="the first batch")
    celery_worker.kill()
    at_kill = Rollout.objects.get(pk=rollout.pk)
    assert at_kill.state == "running" and 0 < at_kill.processed < 3000, "the rollout must be cut mid-way"
    # A new worker; beat finds the rollout quiet and runs it again from its cursor.
    celery_worker.start()
    done = wait_for(lambda: Rollout.objects.filter(pk=rollout.pk, queued=3000).first(), timeout=120,
                    worker=celery_worker, what="the resumed rollout to queue every site")
    assert done.queued == 3000 and done.processed == 3000
    per_device = UpdateJob.objects.values("device").annotate(n=Count("id")).filter(n__gt=1)
    assert not per_device.exists()
    assert UpdateJob.objects.filter(state=JobState.QUEUED).count() == 3000
    assert all(job.events.count() == 1 for job in UpdateJob.objects.order_by("?")[:50])
    # The batch cut by the kill was rolled back whole, pointers included: nothing for beat's
    # reconciliation to repair (it would say so in the worker's log).
    assert_active_jobs_recorded()
    assert "Device.active_job was wrong" not in celery_worker.log_path.read_text(errors="replace")


class ReceiverEndpoint(BaseHTTPRequestHandler):
    """A receiver's wake-up endpoint: refuses the first push, accepts the next ones."""

    received: list = []
    refuse_first = True

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append(body)
        status = 503 if type(self).refuse_first and len(type(self).received) == 1 else 202
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver_endpoint():
    ReceiverEndpoint.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ReceiverEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/wakeup", ReceiverEndpoint.received
    server.shutdown()


def test_wakeup_push_is_retried_until_the_receiver_accepts(celery_worker, receiver_endpoint):
    url, received = receiver_endpoint
    receiver, nord = ReceiverFactory(wakeup_url=url), DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    online = DeviceFactory(site__receiver=receiver, site__number=1204, device_type=nord, last_seen=timezone.now())
    job = services.update_job_create(receiver=receiver, site_number=1204, actor=UserFactory())
    wait_for(lambda: UpdateJob.objects.get(pk=job.pk).wakeup_sent_at, timeout=60, worker=celery_worker,
             what="the wake-up to be delivered")
    assert len(received) >= 2  # 503 first, then accepted
    assert received[-1] == {"receiver": receiver.code, "command": "poll-now", "serials": [online.serial]}


def test_beat_fails_an_install_whose_device_never_came_back(celery_worker, settings):
    receiver, nord = ReceiverFactory(), DeviceTypeFactory()
    release = ReleaseFactory(device_type=nord, version="5.40")
    device = DeviceFactory(site__receiver=receiver, device_type=nord)
    job = UpdateJobFactory(device=device, release=release, state=JobState.INSTALLING)
    UpdateJob.objects.filter(pk=job.pk).update(state_changed_at=timezone.now() - timedelta(hours=2))
    failed = wait_for(lambda: UpdateJob.objects.filter(pk=job.pk, state=JobState.FAILED).first(), timeout=60,
                      worker=celery_worker, what="beat's reconciliation")
    assert "did not come back" in failed.reason
    assert failed.events.get(kind="install_timeout").actor_label == "system"
    assert_active_jobs_recorded()
    assert "Device.active_job was wrong" not in celery_worker.log_path.read_text(errors="replace")


def test_beat_repairs_a_panel_whose_active_job_was_written_past_the_services(celery_worker):
    receiver, nord = ReceiverFactory(), DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    device = DeviceFactory(site__receiver=receiver, site__number=7, device_type=nord)
    job = services.update_job_create(receiver=receiver, site_number=7, actor=None)
    Device.objects.filter(pk=device.pk).update(active_job=None)  # as raw SQL or a restored backup would
    wait_for(lambda: Device.objects.filter(pk=device.pk, active_job=job.pk).exists(), timeout=60,
             worker=celery_worker, what="beat's repair of Device.active_job")
    assert "Device.active_job was wrong on 1 device(s)" in celery_worker.log_path.read_text(errors="replace")
    assert_active_jobs_recorded()
