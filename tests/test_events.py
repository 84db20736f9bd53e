"""The event table's writer and sequencer (core/events.py); the feed and the webhooks over
HTTP are tested in tests/api/test_events_feed.py and tests/test_webhooks.py."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import events
from core.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


def positions():
    return list(Event.objects.order_by("position").values_list("type", "position"))


def test_an_event_is_written_with_the_change_or_not_at_all():
    with pytest.raises(RuntimeError), transaction.atomic():
        events.record("job.queued", receiver="north", site_number=101, serial="NG1", job=7)
        raise RuntimeError("the change failed")
    assert not Event.objects.exists()

    with transaction.atomic():
        events.record("job.queued", receiver="north", site_number=101, serial="NG1", job=7,
                      data={"release": "5.40"})
    event = Event.objects.get()
    assert (event.type, event.receiver, event.site_number, event.serial, event.job, event.data) == (
        "job.queued", "north", 101, "NG1", 7, {"release": "5.40"})


def test_bulk_events_take_one_insert_per_batch():
    fields = [f for f in Event._meta.concrete_fields if f.name != "id"]
    # SQLite caps a statement's parameters: its batch may be smaller than ours.
    batch = min(events.BATCH, connection.ops.bulk_batch_size(fields, [None] * events.BATCH))
    with CaptureQueriesContext(connection) as captured:
        events.record_bulk(events.build("job.queued", receiver="north", site_number=n, serial=f"NG{n}", job=n)
                           for n in range(2 * batch))
    assert [q["sql"].split()[0] for q in captured if q["sql"].startswith("INSERT")] == ["INSERT", "INSERT"]
    assert Event.objects.count() == 2 * batch


def test_positions_follow_commits_not_ids():
    """On PostgreSQL a later id can commit first. The feed's position is given after commit,
    so an event committing late still comes after everything a reader already saw."""
    late = Event.objects.create(id=1000, type="job.queued", receiver="north")
    events.events_sequence()
    # A transaction that took a smaller id commits only now.
    early = Event.objects.create(id=999, type="job.failed", receiver="north")
    assert events.events_sequence() == 1
    late.refresh_from_db()
    early.refresh_from_db()
    assert early.position > late.position
    assert positions() == [("job.queued", 1), ("job.failed", 2)]


def test_subscribers_are_told_once_per_commit():
    told = []
    events.subscribe(lambda: told.append(1))
    try:
        with transaction.atomic():
            events.record("job.queued", receiver="north")
            events.record_bulk([events.build("job.queued", receiver="north")])
            assert told == []
        assert told == [1]
        with pytest.raises(RuntimeError), transaction.atomic():
            events.record("job.queued", receiver="north")
            raise RuntimeError
        assert told == [1]
    finally:
        events._subscribers.clear()


def test_retention_deletes_old_events_but_never_the_newest(settings):
    settings.EVENT_RETENTION_DAYS = 90
    old = timezone.now() - timedelta(days=91)
    events.record_bulk([events.build("job.queued", receiver="north", at=old) for _ in range(3)])
    events.events_sequence()
    assert events.events_prune() == 2
    # The newest is kept though old: the next event's position goes on from it.
    assert positions() == [("job.queued", 3)]
    events.record("job.failed", receiver="north")
    events.events_sequence()
    assert positions() == [("job.queued", 3), ("job.failed", 4)]


def test_beat_deletes_old_events_every_prune_interval(settings):
    from django_celery_beat.models import PeriodicTask

    from firmware_updates import schedules

    settings.EVENT_PRUNE_INTERVAL = 1800
    schedules.install()
    task = PeriodicTask.objects.get(task=schedules.EVENTS_PRUNE_TASK)
    assert (task.enabled, task.interval.every, task.interval.period) == (True, 1800, "seconds")
