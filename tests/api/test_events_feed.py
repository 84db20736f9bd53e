"""`GET /api/v1/events/` over real HTTP, as a monitoring console reads it (docs/security-center.md).
The events of real installs through a worker and beat: tests/worker/test_alarm_centre.py."""

import pytest

from core.models import Event
from core.permissions import VIEWERS
from firmware_updates import services
from firmware_updates.models import UpdateJob
from tests.factories import (
    DeviceFactory,
    DeviceTypeFactory,
    ReceiverFactory,
    ReleaseFactory,
    UserFactory,
)

from .conftest import operator
from .test_live_http import Api, login

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def console(live_server):
    """A viewer's token: the console's account."""
    operator(VIEWERS, username="vera")
    api = Api(live_server.url)
    login(api, "vera")
    return api


@pytest.fixture
def two_receivers():
    nord = DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    for code in ("north", "south"):
        receiver = ReceiverFactory(code=code)
        for number in (1, 2):
            DeviceFactory(site__receiver=receiver, site__number=number, device_type=nord)
    return nord


def test_a_console_follows_the_feed_page_by_page_and_then_polls_for_more(console, two_receivers):
    north, south = (ReceiverFactory._meta.model.objects.get(code=code) for code in ("north", "south"))
    for receiver in (north, south):
        for number in (1, 2):
            services.update_job_create(receiver=receiver, site_number=number, actor=None)

    status, page = console.call("GET", "events/?limit=3")
    assert status == 200 and [e["id"] for e in page["results"]] == [1, 2, 3]
    assert page["next"].endswith("/api/v1/events/?after=3&limit=3")
    first = page["results"][0]
    assert set(first) == {"id", "type", "at", "receiver", "site_number", "serial", "job", "rollout", "data"}
    assert (first["type"], first["receiver"], first["site_number"], first["rollout"], first["data"]) == (
        "job.queued", "north", 1, None, {"release": "5.40"})
    status, page = console.call("GET", "events/?after=3&limit=3")
    assert [e["id"] for e in page["results"]] == [4] and page["next"] is None

    # Later: a cancel; the console asks after the last id it has.
    job = UpdateJob.objects.get(device__site__number=2, device__receiver=south)
    services.update_job_cancel(job=job, actor=UserFactory(username="olga"))
    status, page = console.call("GET", "events/?after=4")
    assert [(e["id"], e["type"], e["receiver"], e["data"]) for e in page["results"]] == [
        (5, "job.cancelled", "south", {"reason": "Cancelled by olga."})]

    status, page = console.call("GET", "events/?receiver=south&type=job.cancelled,job.failed")
    assert [e["id"] for e in page["results"]] == [5]
    status, page = console.call("GET", "events/?receiver=north")
    assert [e["receiver"] for e in page["results"]] == ["north", "north"]


def test_an_event_that_commits_late_still_comes_after_what_the_console_has_read(console, two_receivers):
    """A transaction that took a smaller id commits after the console read a larger one
    (PostgreSQL hands ids out at insert, not at commit): the feed's id is given at commit, so
    the console asking `after=` its last id still gets it."""
    Event.objects.create(id=1000, type="job.queued", receiver="north")
    status, page = console.call("GET", "events/")
    (seen,) = page["results"]
    Event.objects.create(id=999, type="job.failed", receiver="north", data={"reason": "Update Failed."})
    status, page = console.call("GET", f"events/?after={seen['id']}")
    assert [(e["type"], e["id"] > seen["id"]) for e in page["results"]] == [("job.failed", True)]


@pytest.mark.parametrize(("query", "field", "words"), [
    ("after=-1", "after", "Give after as a whole number of at least 0, not '-1'."),
    ("after=ten", "after", "Give after as a whole number of at least 0, not 'ten'."),
    ("limit=0", "limit", "Give limit as a whole number from 1 to 1000, not '0'."),
    ("limit=5000", "limit", "Give limit as a whole number from 1 to 1000, not '5000'."),
    ("type=job.queued,job.exploded", "type", "Unknown event type 'job.exploded'; known: job.queued,"),
    ("receiver=nowhere", "receiver", "Unknown receiver 'nowhere'."),
])
def test_a_bad_question_is_a_400_saying_what_is_wrong(console, query, field, words):
    status, body = console.call("GET", f"events/?{query}")
    assert status == 400 and field in body and body["detail"].startswith(f"{field}: ") and words in body["detail"]


def test_the_feed_needs_a_viewer(live_server):
    api = Api(live_server.url)
    assert api.call("GET", "events/")[0] == 401
    UserFactory(username="nobody")
    login(api, "nobody")
    status, body = api.call("GET", "events/")
    assert status == 403 and "core.view_event, given to the viewers group" in body["detail"]
