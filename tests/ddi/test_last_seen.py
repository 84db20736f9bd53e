"""`last_seen` off the poll's path (sites.last_seen): a panel that keeps polling is recorded in
memory and written in bulk within DEVICE_SEEN_FLUSH_INTERVAL; a first contact or a return
from offline is written at once. Over real HTTP against the live server (the buffer and its
thread live in the server's process, which for `live_server` is this one), and against
gunicorn for what a stopping process does."""

import json
import math
import os
import re
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from core.permissions import VIEWERS
from sites.last_seen import FLUSH_BATCH, last_seen_flush, last_seen_pending
from sites.models import Device
from sites.services import site_create
from tests.api.conftest import operator
from tests.swupdate.server import Server
from tests.worker.conftest import database_url

from .client import DdiClient
from .conftest import SERIAL, TENANT

pytestmark = pytest.mark.live

# Online (the receiver polls every 5 minutes: offline after 15) and older than the 30 s
# resolution: what every idle poll in the field finds.
A_POLL_AGO = timedelta(minutes=2)
UPDATE = re.compile(r"^(\d+ times: )?\s*UPDATE ", re.IGNORECASE)


def seen_ago(ago: timedelta, **filters) -> None:
    Device.objects.filter(**filters).update(last_seen=timezone.now() - ago)


@pytest.fixture
def api_site(fleet):
    """Site `number` of the receiver as Security Center reads it: the API over HTTP."""
    token = Token.objects.create(user=operator(VIEWERS)).key

    def read(number: int) -> dict:
        request = urllib.request.Request(
            f"{fleet.base_url}/api/v1/sites/?receiver={TENANT}&number={number}",
            headers={"Authorization": f"Token {token}", "Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return json.loads(response.read())["results"][0]

    return read


def api_last_seen(site: dict) -> datetime:
    return datetime.fromisoformat(site["device"]["last_seen"])


def panels(fleet, count: int) -> list:
    """`count` more panels on the fleet's receiver (sites 1000...), each with its own token."""
    clients = []
    for i in range(count):
        serial = f"NG1{i:07d}"
        _site, token = site_create(receiver=fleet.receiver, number=1000 + i, serial=serial,
                                   device_type=fleet.device_type, hardware_revision="2.1",
                                   firmware_version="5.30", channels=["gprs"])
        clients.append(fleet.client(serial=serial, token=token))
    return clients


def stored(serials) -> dict:
    return dict(Device.objects.filter(serial__in=serials).values_list("serial", "last_seen"))


def polled_panels(fleet, count: int):
    """`count` panels last seen a poll interval ago, each polled once now (times held, not
    written: the caller sets a long flush interval). Returns (clients, serials, their stored
    times before the polls, the time just before the polls)."""
    clients = panels(fleet, count)
    serials = [c.serial for c in clients]
    seen_ago(A_POLL_AGO, serial__in=serials)
    earlier = stored(serials)
    before = timezone.now()
    for client in clients:
        client.poll()
    return clients, serials, earlier, before


def test_a_polling_panel_shows_as_seen_in_the_api_within_the_flush_interval(fleet, settings, api_site):
    settings.DEVICE_SEEN_FLUSH_INTERVAL = 1.0
    seen_ago(A_POLL_AGO, serial=SERIAL)
    before = timezone.now()

    assert fleet.client().poll().status == 200
    polled = time.monotonic()

    site = api_site(101)
    while api_last_seen(site) < before and time.monotonic() - polled < 10:
        time.sleep(0.05)
        site = api_site(101)
    lag = time.monotonic() - polled
    assert api_last_seen(site) >= before
    assert site["device"]["online"] is True
    # The interval, plus a write of one row and an API call on a busy machine.
    assert lag < settings.DEVICE_SEEN_FLUSH_INTERVAL + 3, f"seen {lag:.1f} s after the poll"


def test_a_panel_back_from_offline_is_online_in_the_api_at_once(fleet, settings, api_site):
    settings.DEVICE_SEEN_FLUSH_INTERVAL = 3600  # no flush during the test: written by the poll
    seen_ago(timedelta(hours=2), serial=SERIAL)
    assert api_site(101)["device"]["online"] is False
    before = timezone.now()

    fleet.client().poll()

    site = api_site(101)
    assert site["device"]["online"] is True and api_last_seen(site) >= before
    assert last_seen_pending() == 0


def test_with_a_flush_interval_of_zero_every_poll_writes_at_once(fleet, settings):
    settings.DEVICE_SEEN_FLUSH_INTERVAL = 0
    seen_ago(A_POLL_AGO, serial=SERIAL)
    before = timezone.now()

    fleet.client().poll()

    assert stored([SERIAL])[SERIAL] >= before and last_seen_pending() == 0


def test_a_flush_never_moves_last_seen_backwards(fleet, settings):
    """Two server processes may hold times of one panel; the later one stays."""
    settings.DEVICE_SEEN_FLUSH_INTERVAL = 3600
    seen_ago(A_POLL_AGO, serial=SERIAL)
    fleet.client().poll()
    later = timezone.now() + timedelta(seconds=5)  # written meanwhile by another process
    Device.objects.filter(serial=SERIAL).update(last_seen=later)

    assert last_seen_flush() == 0
    assert stored([SERIAL])[SERIAL] == later


def test_hundreds_of_polls_cost_one_update_statement_per_flush_batch(fleet, settings):
    settings.DEVICE_SEEN_FLUSH_INTERVAL = 3600  # the test flushes
    clients = panels(fleet, 120)
    serials = [c.serial for c in clients]
    seen_ago(A_POLL_AGO, serial__in=serials)
    earlier = stored(serials)
    before = timezone.now()

    with ThreadPoolExecutor(8) as pool:  # 360 polls, 3 per panel, from 8 connections at once
        statuses = list(pool.map(lambda c: c.poll().status, clients * 3))

    assert statuses == [200] * 360
    assert stored(serials) == earlier  # no poll wrote
    assert last_seen_pending() == 120
    with CaptureQueriesContext(connection) as queries:
        assert last_seen_flush() == 120
    # On SQLite the one statement is an executemany ("120 times: UPDATE ..."): the engine runs
    # in this process, so its rows cost no round trip, and they share one transaction.
    updates = [q["sql"] for q in queries.captured_queries if UPDATE.match(q["sql"])]
    assert len(updates) == math.ceil(120 / FLUSH_BATCH) == 1, updates
    assert all(seen >= before for seen in stored(serials).values())
    assert last_seen_pending() == 0


def test_a_device_deleted_before_the_flush_costs_no_other_device_its_time(fleet, settings):
    settings.DEVICE_SEEN_FLUSH_INTERVAL = 3600
    clients, _serials, _earlier, before = polled_panels(fleet, 3)

    Device.objects.filter(serial=clients[1].serial).delete()

    assert last_seen_flush() == 2
    after = stored([c.serial for c in clients])
    assert set(after) == {clients[0].serial, clients[2].serial}
    assert all(seen >= before for seen in after.values())


def refuse_updates_of(device_id: int):
    """A trigger: the database refuses any UPDATE of this one device (as a constraint would)."""
    table = Device._meta.db_table
    if connection.vendor == "postgresql":
        create = [
            "CREATE FUNCTION test_refuse_update() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation'; END $$",
            f"CREATE TRIGGER test_refuse BEFORE UPDATE ON {table} FOR EACH ROW "
            f"WHEN (NEW.id = {int(device_id)}) EXECUTE FUNCTION test_refuse_update()",
        ]
        drop = [f"DROP TRIGGER test_refuse ON {table}", "DROP FUNCTION test_refuse_update()"]
    else:
        create = [f"CREATE TRIGGER test_refuse BEFORE UPDATE ON {table} WHEN NEW.id = {int(device_id)} "
                  "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"]
        drop = ["DROP TRIGGER test_refuse"]
    return create, drop


def test_a_row_the_database_refuses_costs_no_other_device_its_time(fleet, settings):
    settings.DEVICE_SEEN_FLUSH_INTERVAL = 3600
    clients, serials, earlier, before = polled_panels(fleet, 9)
    refused = clients[4].serial
    create, drop = refuse_updates_of(Device.objects.get(serial=refused).pk)
    with connection.cursor() as cursor:
        for sql in create:
            cursor.execute(sql)
    try:
        written = last_seen_flush()
    finally:
        with connection.cursor() as cursor:
            for sql in drop:
                cursor.execute(sql)

    assert written == 8
    after = stored(serials)
    assert after[refused] == earlier[refused]
    assert all(seen >= before for serial, seen in after.items() if serial != refused)
    assert last_seen_pending() == 0  # the refused row is logged and dropped, not retried forever


def test_a_flush_the_database_cannot_take_keeps_every_time_for_the_next_flush(fleet, settings):
    settings.DEVICE_SEEN_FLUSH_INTERVAL = 3600
    clients, serials, earlier, before = polled_panels(fleet, 3)
    locked, release = threading.Event(), threading.Event()

    def hold_the_rows():  # another process's long transaction on these devices
        try:
            with transaction.atomic():
                list(Device.objects.select_for_update().filter(serial__in=serials))
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_rows)
    holder.start()
    assert locked.wait(10)
    with connection.cursor() as cursor:  # this connection gives up waiting quickly
        cursor.execute("SET lock_timeout = '200ms'" if connection.vendor == "postgresql"
                       else "PRAGMA busy_timeout = 200")
    try:
        assert last_seen_flush() == 0
        assert stored(serials) == earlier and last_seen_pending() == 3
    finally:
        release.set()
        holder.join(30)
        connection.close()  # back to the configured timeouts

    assert last_seen_flush() == 3
    assert all(seen >= before for seen in stored(serials).values())


def test_a_server_process_writes_what_it_holds_when_it_stops(fleet, settings, tmp_path):
    """gunicorn stopping (a deploy, or a worker recycled): its workers write at exit."""
    seen_ago(A_POLL_AGO, serial=SERIAL)
    earlier = stored([SERIAL])
    env = {**os.environ, "DATABASE_URL": database_url(), "SECRET_KEY": settings.SECRET_KEY,
           "ALLOWED_HOSTS": "127.0.0.1", "MEDIA_ROOT": str(settings.MEDIA_ROOT),
           "VAR_DIR": str(tmp_path / "var"), "DEVICE_SEEN_FLUSH_INTERVAL": "3600"}
    server = Server(env, tmp_path)
    server.start()
    try:
        before = timezone.now()
        assert DdiClient(server.url, TENANT, SERIAL, fleet.token).poll().status == 200
        assert stored([SERIAL]) == earlier  # held by the worker, not written
    finally:
        server.stop()

    assert server.process.returncode == 0, server.log()
    assert stored([SERIAL])[SERIAL] >= before
