"""Issue 14, parts 3 and 4, end to end: operators over HTTP (the API, the panel's pages), a
real worker with beat (the rollout's fan-out, the wake-ups, reconciliation), fleetsim panels
over real HTTP against the live server.

- A manager forbids remote updates at one site: "Update software at all sites" skips it with
  the reason and the device type page says why it stays red; a site that asks for approval
  gets a job that waits, offered to nobody, until an approver approves it; then its panel is
  woken, fetches, installs and reports the new version.
- A panel on battery holds a downloaded update: its job and its site page say it waits for
  mains power; back on mains it installs.
"""

import time
from contextlib import contextmanager
from datetime import timedelta

import pytest

from core.models import Event
from core.permissions import APPROVERS, ENGINEERS, MANAGERS
from firmware_updates.models import JobState, UpdateJob
from fleetsim import Fleet
from sites.models import Device
from tests.api.conftest import operator
from tests.api.test_live_http import Api, login
from tests.ddi.conftest import SERIAL, build_fleet, signing_identity  # noqa: F401 - fixture
from tests.fleet.conftest import TIME_SCALE, add_panel, panel_spec

from .conftest import wait_for
from .test_outages import panel_signed_in

pytestmark = [pytest.mark.celery_worker, pytest.mark.live, pytest.mark.django_db(transaction=True)]
S = JobState
PASSWORD = "correct horse battery"
FORBIDDING, ASKING = "NG00000102", "NG00000103"


@pytest.fixture
def world(live_server, settings, signing_identity, tmp_path):  # noqa: F811 - the fixture imported above
    """Receiver `north`, Nord GSM 5.40 signed and current, panel NG00000001 on site 101 (5.30),
    served by the live server (as tests/fleet's `world`)."""
    settings.DOWNLOAD_PROGRESS_WRITE_INTERVAL = 0.05
    settings.DDI_ACTIVE_POLL_SLEEP = "00:00:05"
    world = build_fleet(settings, signing_identity, tmp_path, live_server.url)
    world.cert_pem = signing_identity[1]
    return world


def job_of(serial: str) -> UpdateJob | None:
    return UpdateJob.objects.filter(device__serial=serial).order_by("-pk").first()


@contextmanager
def start_fleet(world, specs):
    """The panels running, each seen once, the receiver pushing its wake-ups to them."""
    with Fleet(world.base_url, specs, time_scale=TIME_SCALE, start_spread=0, seed=3,
               wakeup_listen="127.0.0.1:0") as fleet:
        fleet.wait_until(lambda: not Device.objects.filter(receiver=world.receiver, last_seen__isnull=True).exists(),
                         timeout=30)
        host, port = fleet.wakeup_address
        world.receiver.wakeup_url = f"http://{host}:{port}/"
        world.receiver.poll_sleep = timedelta(minutes=30)  # 36 s: only a wake-up brings a panel in quickly
        world.receiver.save()
        yield fleet


def test_a_forbidden_site_is_skipped_with_the_reason_and_an_approval_site_updates_once_approved(
        world, celery_worker, live_server, settings):
    settings.CSRF_COOKIE_SECURE = settings.SESSION_COOKIE_SECURE = False  # plain http here
    tokens = {SERIAL: world.token, FORBIDDING: add_panel(world, 102, FORBIDDING),
              ASKING: add_panel(world, 103, ASKING)}
    manager, approver = operator(MANAGERS, "maria"), operator(APPROVERS, "anna")
    as_manager, as_approver = Api(live_server.url), Api(live_server.url)
    login(as_manager, manager.username)
    login(as_approver, approver.username)
    sites = {site["number"]: site for site in as_manager.call("GET", "sites/?receiver=north")[1]["results"]}

    status, body = as_manager.call("PATCH", f"sites/{sites[102]['id']}/", {"remote_update": "forbidden"})
    assert status == 200 and body["remote_update"] == "forbidden"
    assert as_manager.call("PATCH", f"sites/{sites[103]['id']}/", {"remote_update": "approval"})[0] == 200

    specs = [panel_spec(world, serial=serial, token=token) for serial, token in tokens.items()]
    with start_fleet(world, specs) as fleet:
        status, rollout = as_manager.call("POST", "rollouts/", {"receiver": "north", "device_type": "nord-gsm",
                                                                "waves": [100]})
        assert status in (201, 202), rollout
        # The worker fans the rollout out: the forbidding site skipped with its reason, the
        # asking one held for approval, the other queued and woken.
        rollout = wait_for(lambda: (r := as_manager.call("GET", f"rollouts/{rollout['id']}/")[1])["processed"] == 3
                           and r, timeout=60, worker=celery_worker, what="the fan-out")
        assert (rollout["queued"], rollout["skipped"]) == (2, {"remote_update_forbidden": 1})
        assert job_of(FORBIDDING) is None
        assert job_of(ASKING).state == S.AWAITING_APPROVAL

        fleet.wait_until(lambda: job_of(SERIAL).confirmed_at is not None, timeout=90)
        # Meanwhile the asking site's panel is offered nothing, however often it polls.
        asking = fleet.panel(ASKING)
        polls = asking.polls
        fleet.poll_now([ASKING])
        fleet.wait_until(lambda: asking.polls > polls, timeout=10)
        assert asking.action_id is None and asking.firmware_version == "5.30" and asking.phase == "idle"
        assert job_of(ASKING).state == S.AWAITING_APPROVAL

        browser = panel_signed_in(live_server.url, manager.username, PASSWORD)
        page = browser.open(f"{live_server.url}/receivers/north/software-update/nord-gsm/", timeout=30).read()
        assert b'data-code="remote_update_forbidden"><b>1</b> remote update not allowed at this site' in page
        assert b"Site 102: remote update not allowed at this site." in page
        assert b'data-testid="count-awaiting-approval">1<' in page

        status, approved = as_approver.call("POST", f"update-jobs/{job_of(ASKING).pk}/approve/")
        assert status == 200 and approved["state"] == "queued"
        # The worker wakes the panel; it fetches its action at once, installs and reports 5.40.
        fleet.wait_until(lambda: job_of(ASKING).state != S.QUEUED, timeout=20)
        fleet.wait_until(lambda: job_of(ASKING).confirmed_at is not None, timeout=90)
        assert fleet.panel(ASKING).firmware_version == "5.40"
        wait_for(lambda: as_manager.call("GET", f"rollouts/{rollout['id']}/")[1]["state"] == "completed",
                 timeout=30, worker=celery_worker, what="the rollout to complete")

    history = [(h["from_state"], h["to_state"], h["actor"]) for h in approved["history"]]
    assert history == [("", "awaiting_approval", "maria"), ("awaiting_approval", "queued", "anna")]
    path = list(UpdateJob.objects.get(pk=approved["id"]).events.filter(kind="transition")
                .values_list("to_state", flat=True))
    assert path[:3] == [S.AWAITING_APPROVAL, S.QUEUED, S.DELIVERED] and path[-1] == S.SUCCEEDED
    assert Device.objects.get(serial=FORBIDDING).firmware_version == "5.30"
    assert fleet.panel(FORBIDDING).action_id is None and not fleet.panel(FORBIDDING).outcomes
    changed = Event.objects.filter(type="site.remote_update_changed").order_by("id")
    assert [(e.site_number, e.data) for e in changed] == [
        (102, {"from": "allowed", "to": "forbidden", "by": "maria"}),
        (103, {"from": "allowed", "to": "approval", "by": "maria"})]


def test_a_panel_on_battery_waits_for_mains_power_and_says_so(world, celery_worker, live_server, settings):
    settings.CSRF_COOKIE_SECURE = settings.SESSION_COOKIE_SECURE = False
    engineer = operator(ENGINEERS, "erik")
    api = Api(live_server.url)
    login(api, engineer.username)
    partitions = [{"number": 1, "armed": False}]
    with start_fleet(world, [panel_spec(world, power="battery", partitions=partitions)]) as fleet:
        fleet.wait_until(lambda: Device.objects.get(serial=SERIAL).on_battery, timeout=30)
        status, job = api.call("POST", "update-jobs/", {"receiver": "north", "site_number": 101})
        assert status == 201, job
        fleet.wait_until(lambda: job_of(SERIAL).state == S.READY, timeout=60)
        time.sleep(1)  # ten simulated polls: it stays ready, on battery
        assert job_of(SERIAL).state == S.READY and fleet.panel(SERIAL).phase == "ready"

        browser = panel_signed_in(live_server.url, engineer.username, PASSWORD)
        site = browser.open(f"{live_server.url}/receivers/north/sites/101/", timeout=30).read().decode()
        assert "Ready for installation; waits for mains power." in site
        assert "firmware 5.40 ready for installation; waits for a disarmed partition and for mains power" in site
        page = browser.open(f"{live_server.url}/receivers/north/software-update/nord-gsm/", timeout=30).read()
        assert b"Ready for installation; waits for mains power." in page

        fleet.set_power(SERIAL, supply="mains")
        fleet.wait_until(lambda: job_of(SERIAL).confirmed_at is not None, timeout=60)
    assert Device.objects.get(serial=SERIAL).firmware_version == "5.40"
    assert not Device.objects.get(serial=SERIAL).on_battery
