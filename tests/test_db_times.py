"""Times come back from the database as they were written, to the microsecond, whatever zone
they were written in (core/db.py: PostgreSQL's times read by `datetime.fromisoformat`
instead of Django's loader; SQLite's by Django's own)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import DataError, connection

from sites.models import Device
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

WRITTEN = [
    datetime(2026, 3, 29, 2, 30, 0, 123456, tzinfo=ZoneInfo("Europe/Moscow")),
    datetime(2020, 2, 29, 23, 59, 59, 500000, tzinfo=ZoneInfo("Asia/Kolkata")),  # +05:30
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=ZoneInfo("America/Sao_Paulo")),
    datetime(1871, 3, 5, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam")),  # local mean time: +00:19:32
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(1, 1, 2, tzinfo=UTC),
]


@pytest.mark.parametrize("written", WRITTEN, ids=lambda t: t.isoformat())
def test_a_time_reads_back_as_written_in_utc(written):
    device = DeviceFactory(last_seen=written)
    read = Device.objects.values_list("last_seen", flat=True).get(pk=device.pk)
    assert read == written
    assert read.utcoffset().total_seconds() == 0
    assert (read.year, read.microsecond) == (written.astimezone(UTC).year, written.microsecond)


def test_times_postgresql_cannot_hand_to_python_are_refused_as_before():
    if connection.vendor != "postgresql":
        # SQLite stores no infinity: a time Python can hold is all it is given.
        assert DeviceFactory(last_seen=datetime(9999, 12, 31, tzinfo=UTC)).last_seen.year == 9999
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT '2020-02-29 23:59:59.5+05:30'::timestamptz, '1871-03-05 10:00:00+02:30:17'::timestamptz")
        assert cursor.fetchone() == (datetime(2020, 2, 29, 18, 29, 59, 500000, tzinfo=UTC),
                                     datetime(1871, 3, 5, 7, 29, 43, tzinfo=UTC))
        with pytest.raises(DataError, match="after year 10K"):
            cursor.execute("SELECT 'infinity'::timestamptz")
            cursor.fetchone()
