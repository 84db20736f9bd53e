"""Rollout fan-out, wake-up push and reconciliation through a real Celery worker with beat."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db.models import Count
from django.utils import timezone

from core.models import Event
from firmware_updates import services
from firmware_updates.models import JobState, Rollout, RolloutWave, UpdateJob, UpdateJobEvent
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


def wave_queued(rollout, number: int, *, worker, timeout: float = 60) -> Rollout:
    """Wait until wave `number` of the rollout is queued whole; returns the rollout."""
    wait_for(lambda: RolloutWave.objects.filter(rollout=rollout, number=number, queueing_done=True).exists(),
             timeout=timeout, worker=worker, what=f"wave {number} to be queued")
    return Rollout.objects.get(pk=rollout.pk)


def kill_mid_fan_out(worker, rollout, *, after: int, before: int) -> Rollout:
    """SIGKILL the worker once the fan-out queued more than `after` sites; it must still be
    short of `before` (the kill landed mid-way)."""
    wait_for(lambda: Rollout.objects.get(pk=rollout.pk).queued > after, timeout=60, interval=0.005, worker=worker,
             what=f"a batch past {after}")
    worker.kill()
    at_kill = Rollout.objects.get(pk=rollout.pk)
    assert at_kill.state == "running" and after < at_kill.queued < before, (
        f"the fan-out must be cut mid-way: {at_kill.queued} queued")
    return at_kill


def assert_every_site_queued_once(rollout, eligible: int, worker) -> None:
    rollout.refresh_from_db()
    assert rollout.queued == rollout.processed == eligible == rollout.eligible
    assert sum(rollout.waves.values_list("queued", flat=True)) == eligible
    jobs = UpdateJob.objects.filter(rollout=rollout)
    assert jobs.count() == eligible == jobs.values("device").distinct().count()
    assert not UpdateJob.objects.values("device").annotate(n=Count("id")).filter(n__gt=1).exists()
    queued_events = UpdateJobEvent.objects.filter(job__rollout=rollout, to_state=JobState.QUEUED)
    assert queued_events.count() == eligible == queued_events.values("job").distinct().count()
    # The alarm centre heard of each job once, and of nothing a killed batch rolled back.
    told = Event.objects.filter(type="job.queued", rollout=rollout.pk)
    assert told.count() == eligible and set(told.values_list("job", flat=True)) == set(jobs.values_list("pk", flat=True))
    # A batch cut by a kill was rolled back whole, pointers included: nothing for beat's
    # reconciliation to repair (it would say so in the worker's log).
    assert_active_jobs_recorded()
    assert "Device.active_job was wrong" not in worker.log_path.read_text(errors="replace")


def test_rollout_fans_out_in_the_worker(celery_worker):
    receiver, nord = ReceiverFactory(), DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    make_fleet(receiver, nord, 95)
    # Its number outside make_fleet's (the factory's sequence reaches 10,000 in a long session).
    DeviceFactory(site__receiver=receiver, site__number=9_999, device_type=nord, channels=["sms"])
    rollout, created = services.rollout_start(receiver=receiver, device_type=nord, actor=UserFactory(),
                                              waves=[100])
    assert created
    done = wave_queued(rollout, 1, worker=celery_worker)
    assert (done.state, done.queued, done.skipped) == ("running", 95, {"no_ip_channel": 1})
    assert UpdateJob.objects.filter(rollout=rollout, state=JobState.QUEUED).count() == 95


def test_worker_killed_mid_rollout_then_resumed_queues_every_site_once(celery_worker):
    receiver, nord = ReceiverFactory(), DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    make_fleet(receiver, nord, 3000)
    rollout, _ = services.rollout_start(receiver=receiver, device_type=nord, actor=UserFactory(), waves=[100])
    kill_mid_fan_out(celery_worker, rollout, after=0, before=3000)
    # A new worker; beat finds the rollout quiet and runs it again from its cursor.
    celery_worker.start()
    wave_queued(rollout, 1, worker=celery_worker, timeout=120)
    assert UpdateJob.objects.filter(state=JobState.QUEUED).count() == 3000
    assert_every_site_queued_once(rollout, 3000, celery_worker)


def test_worker_killed_mid_fan_out_and_between_waves_queues_every_site_exactly_once(celery_worker):
    """Two waves (100, then the other 300), the worker SIGKILLed three times: during wave 1's
    fan-out, between the waves (wave 1 queued, its success decided while no worker runs), and
    during wave 2's fan-out. What may not be lost: any eligible site (each queued in the end)
    and the once-only (never two jobs for a device, each job queued once, the waves' counts
    adding up to the eligible sites), whatever the kills cut."""
    receiver, nord = ReceiverFactory(), DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    make_fleet(receiver, nord, 400)
    rollout, _ = services.rollout_start(receiver=receiver, device_type=nord, actor=UserFactory(), wave_counts=[100])
    assert [w.size for w in rollout.waves.all()] == [100, 300]

    kill_mid_fan_out(celery_worker, rollout, after=0, before=100)
    celery_worker.start()  # beat finds the wave quiet and runs it again from its cursor
    assert wave_queued(rollout, 1, worker=celery_worker).queued == 100

    # Between the waves: no worker while the panels of wave 1 report their success (closed,
    # then the new version, as suricatta does). The decision (wave 2 starts at 90 %) is taken
    # where the reports land; its fan-out task waits in the broker.
    celery_worker.kill()
    for job in UpdateJob.objects.filter(rollout=rollout).select_related("device"):
        services.job_apply_feedback(job=job, execution="closed", finished="success", progress=None, details=[])
        services.device_report_attributes(device=job.device, data={"sw_version": "5.40"})
    rollout.refresh_from_db()
    assert (rollout.current_wave, rollout.queued) == (2, 100)
    assert rollout.waves.get(number=1).state == "succeeded"

    celery_worker.start()
    kill_mid_fan_out(celery_worker, rollout, after=100, before=400)
    celery_worker.start()
    assert wave_queued(rollout, 2, worker=celery_worker).queued == 400
    assert_every_site_queued_once(rollout, 400, celery_worker)


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


def test_beat_deletes_failed_sign_ins_past_their_retention_and_expired_sessions(settings, tmp_path):
    """A guesser's failed sign-ins are kept SIGNIN_FAILURE_RETENTION_DAYS (90) days, sessions
    until they expire: beat deletes the rest, every HOUSEKEEPING_INTERVAL; nothing else did."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    from core.models import SignInFailure

    from .conftest import worker_running

    now = timezone.now()
    old = SignInFailure.objects.bulk_create(
        [SignInFailure(username=f"guess{n}", address="198.51.100.7", entry="api", at=now - timedelta(days=91))
         for n in range(3)])
    kept = SignInFailure.objects.create(username="vera", address="192.0.2.1", entry="panel",
                                        at=now - timedelta(days=89))
    expired, live = SessionStore(), SessionStore()
    for store, expiry in ((expired, -60), (live, 3600)):
        store.set_expiry(expiry)
        store["seen"] = True
        store.create()
    settings.HOUSEKEEPING_INTERVAL = 1

    with worker_running(settings, tmp_path) as worker:
        wait_for(lambda: not SignInFailure.objects.filter(pk__in=[f.pk for f in old]).exists(), timeout=30,
                 worker=worker, what="the failed sign-ins past their retention deleted")
        wait_for(lambda: not Session.objects.filter(session_key=expired.session_key).exists(), timeout=30,
                 worker=worker, what="the expired session deleted")

    assert list(SignInFailure.objects.values_list("pk", flat=True)) == [kept.pk]
    assert Session.objects.filter(session_key=live.session_key).exists()
