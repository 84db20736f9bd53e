"""The alarm centre's side of an update (docs/security-center.md), end to end: simulated panels
(fleetsim) against the live server, a real worker with beat, the event feed and a webhook
read over HTTP, the panel's pages as an operator's browser gets them."""

import json
import time
import urllib.parse
from datetime import datetime

import pytest
from django.utils import timezone

from core.permissions import VIEWERS
from firmware_updates import services
from firmware_updates.models import JobState, UpdateJob, Webhook
from sites.models import Device, DeviceType
from tests.api.conftest import operator
from tests.api.test_live_http import Api, login
from tests.ddi.conftest import signing_identity  # noqa: F401 - fixture of `world`
from tests.fleet.conftest import add_panel, panel_spec, run_fleet, world  # noqa: F401 - fixture
from tests.test_webhooks import Console

from .conftest import wait_for, worker_running
from .test_outages import needs_redis, panel_signed_in, private_redis, redis_url  # noqa: F401 - fixture

pytestmark = [pytest.mark.celery_worker, pytest.mark.live, pytest.mark.django_db(transaction=True)]

AWAY = "NG00000002"  # the panel the simulator keeps off the line after its install
WINDOW = 3  # seconds: the device type's expected offline window, short for the test's sake


@pytest.fixture
def console():
    console = Console()
    yield console
    console.server.shutdown()


def feed(api: Api, **params) -> list[dict]:
    """Every event of the feed, page after page, following `next` (small pages on purpose)."""
    events, after = [], params.pop("after", 0)
    while True:
        query = urllib.parse.urlencode({"after": after, "limit": 3, **params})
        status, page = api.call("GET", f"events/?{query}")
        assert status == 200, page
        events += page["results"]
        if page["next"] is None:
            return events
        assert f"after={page['results'][-1]['id']}" in page["next"]
        after = page["results"][-1]["id"]


def of(events: list[dict], serial: str) -> list[str]:
    return [e["type"] for e in events if e["serial"] == serial]


def at(event: dict) -> datetime:
    return datetime.fromisoformat(event["at"].replace("Z", "+00:00"))


def page_text(browser, url: str) -> str:
    return browser.open(url, timeout=30).read().decode()


def test_the_console_hears_each_install_and_of_the_panel_that_did_not_come_back(
        world, celery_worker, console, live_server, settings):  # noqa: F811
    """Two panels update. One reboots and is back at once: the feed says queued, install
    started (with the window), succeeded, and nothing of its absence. The other stays off
    the line after its install: once its window is over, beat's reconciliation writes
    `device.not_returned` (once) and the site page and the device type page show it in red;
    when it polls again, `device.returned`, then its success. A webhook hears the same events,
    in the same order, signed."""
    settings.CSRF_COOKIE_SECURE = settings.SESSION_COOKIE_SECURE = False  # plain http here
    DeviceType.objects.filter(pk=world.device_type.pk).update(expected_offline_seconds=WINDOW)
    token = add_panel(world, 102, AWAY)
    Webhook.objects.create(receiver=world.receiver, url=console.url, secret="s")
    operator(VIEWERS, username="vera")
    api = Api(live_server.url)
    login(api, "vera")
    browser = panel_signed_in(live_server.url, "vera", "correct horse battery")
    site_page = f"{live_server.url}/receivers/north/sites/102/"
    type_page = f"{live_server.url}/receivers/north/software-update/nord-gsm/"
    jobs = [world.queue(101), world.queue(102)]
    specs = [panel_spec(world),
             # 600 simulated seconds: 12 s of the test's time, well past the window.
             panel_spec(world, serial=AWAY, token=token, faults={"offline_after_install": 600})]

    with run_fleet(world, specs) as fleet:
        wait_for(lambda: "device.not_returned" in of(feed(api), AWAY), timeout=60, worker=celery_worker,
                 what="device.not_returned of the panel kept off the line")
        since = Device.objects.get(serial=AWAY).not_returned_since
        notice = f"did not come back after the update (since {timezone.localtime(since):%H:%M})"
        assert notice in page_text(browser, site_page)
        assert notice in page_text(browser, type_page)
        assert "did not come back" not in page_text(browser, f"{live_server.url}/receivers/north/sites/101/")

        fleet.wait_until(lambda: all(UpdateJob.objects.get(pk=job.pk).state == JobState.SUCCEEDED for job in jobs),
                         timeout=60)
        wait_for(lambda: "device.returned" in of(feed(api), AWAY), timeout=10, worker=celery_worker)
        assert "did not come back" not in page_text(browser, site_page)

    events = feed(api)
    assert [e["id"] for e in events] == sorted({e["id"] for e in events}), "ascending, each event once"
    assert of(events, world.device.serial) == ["job.queued", "job.install_started", "job.succeeded"]
    assert of(events, AWAY) == ["job.queued", "job.install_started", "device.not_returned", "device.returned",
                                "job.succeeded"]
    by_type = {(e["serial"], e["type"]): e for e in events}
    for serial, number, job in ((world.device.serial, 101, jobs[0]), (AWAY, 102, jobs[1])):
        started = by_type[serial, "job.install_started"]
        assert (started["receiver"], started["site_number"], started["job"], started["rollout"]) == (
            "north", number, job.pk, None)
        assert started["data"] == {"expected_offline_seconds": WINDOW, "version": "5.40"}
        assert by_type[serial, "job.succeeded"]["data"] == {"version": "5.40"}
        assert by_type[serial, "job.queued"]["data"] == {"release": "5.40"}
    left = at(by_type[AWAY, "job.install_started"])
    missing = by_type[AWAY, "device.not_returned"]
    # Written once the window was over, within a reconciliation interval (1 s here) or so.
    assert WINDOW <= (at(missing) - left).total_seconds() <= WINDOW + 5
    assert abs((datetime.fromisoformat(missing["data"]["since"].replace("Z", "+00:00")) - left).total_seconds()) < 1
    assert (missing["job"], missing["site_number"]) == (jobs[1].pk, 102)
    returned = by_type[AWAY, "device.returned"]
    assert returned["data"] == missing["data"] and returned["job"] == jobs[1].pk

    # The webhook: the same events from the same table, in the feed's order.
    wait_for(lambda: len(console.received) >= len(events), timeout=20, worker=celery_worker,
             what="the webhook deliveries")
    delivered = [json.loads(body) for _, body in console.received]
    assert [(d["id"], d["type"]) for d in delivered] == [(e["id"], e["type"]) for e in events]


def test_the_feed_filters_by_type_and_receiver(world, celery_worker, live_server):  # noqa: F811
    """What a console that only acts on trouble asks: job failures and panels not back."""
    world.queue(101)
    operator(VIEWERS, username="vera")
    api = Api(live_server.url)
    login(api, "vera")
    with run_fleet(world, [panel_spec(world, faults={"fail_install": ["5.40"]})]) as fleet:
        fleet.wait_until(lambda: UpdateJob.objects.filter(state=JobState.FAILED).exists(), timeout=60)
    events = feed(api, type="job.failed,device.not_returned", receiver="north")
    assert [e["type"] for e in events] == ["job.failed"]
    assert "did not start" in events[0]["data"]["reason"]
    assert [e["type"] for e in feed(api, type="job.queued")] == ["job.queued"]
    status, body = api.call("GET", "events/?type=job.exploded")
    assert status == 400 and "Unknown event type 'job.exploded'" in body["detail"]


@needs_redis
def test_an_event_written_while_the_broker_is_down_reaches_the_webhook_once_it_is_back(
        private_redis, console, settings, tmp_path, transactional_db):  # noqa: F811
    """Not lost: the event. Redis is down when a site is queued: the task that would publish
    `job.queued` cannot be sent (logged). Once Redis is back, beat's reconciliation finds the
    event past the webhook's cursor and delivers it."""
    from tests.factories import DeviceFactory, DeviceTypeFactory, ReceiverFactory, ReleaseFactory

    receiver, nord = ReceiverFactory(code="north"), DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    device = DeviceFactory(site__receiver=receiver, site__number=7, device_type=nord)
    Webhook.objects.create(receiver=receiver, url=console.url, secret="s")
    with worker_running(settings, tmp_path, broker_url=redis_url(private_redis)) as worker:
        private_redis.kill()
        job = services.update_job_create(receiver=receiver, site_number=7, actor=None)
        time.sleep(2)
        assert console.received == []
        private_redis.start()
        wait_for(lambda: console.received, timeout=60, worker=worker, what="the event delivered after the outage")
    (body,) = [json.loads(body) for _, body in console.received]
    assert (body["type"], body["job"], body["serial"], body["site_number"]) == ("job.queued", job.pk,
                                                                               device.serial, 7)
