"""The fleet's tally: its devices counted by what the statistics read of them, kept by the
database itself, so that a device type page of 100,000 sites reads a few hundred counts rather
than 100,000 devices.

Why: the statistics (firmware_updates.selectors.receiver_firmware_stats) group a receiver's
devices by the eligibility rule's verdict, firmware version and board revision. As one pass
over the devices that cost the device type page 50-120 ms at 100,000 sites on PostgreSQL
(bench `rollouts`, docs/benchmarks.md), on every refresh of every operator's page.

What is counted: devices by receiver, device type, whether at a site, firmware version (and
its sort key), board revision, IP channel, whether they have an active job, how their last
update ended, and whether they were ever seen: every column the rule reads of the device
itself (`TALLY_KEYS`). Not the
rule's verdict: the rule stays written once (firmware_updates/eligibility.py) and is applied
to the tally's groups as it is to devices, so a new current release or another board list
changes no count here. Two things the rule reads are not columns of the device: whether it is
offline (its last contact against the clock: the tally keeps the day of it, UTC, `seen_day`)
and whether its site forbids remote updates. The statistics take a group whose day ended
before the clock's threshold as offline, read directly the few devices it cannot tell (seen
on the threshold's own day but not since, or at a forbidding site) and correct the tally's
answer with them: the panels gone quiet today, not every panel quiet for a month.

Who keeps it: triggers on the devices' table (created by `install`, after every `migrate`),
so that every write counts, the services', a bulk UPDATE's and a raw COPY's alike.
- PostgreSQL: one statement-level trigger per INSERT, UPDATE and DELETE appends the
  statement's changes, grouped (a rollout's batch of 1,000 jobs is a few rows), and never
  updates a row: no lock is taken, so no writer waits on another or deadlocks here. `fold`
  (beat, every RECONCILE_INTERVAL) sums the appended rows back into one per group.
- SQLite (one writer at a time, no transition tables): row-level triggers add to the group's
  own row (its changes come one device at a time).
`check` (beat, every ACTIVE_JOB_REPAIR_INTERVAL, and after every migrate) counts the devices
again and rewrites the tally if it differs, saying so in the log: a trigger dropped by hand,
or by SQLite rebuilding the table in a migration, cannot leave the statistics wrong for long.
"""

import logging
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import Sum

from .models import Device, DeviceTally
from .triggers import remake

log = logging.getLogger(__name__)

DEVICES = Device._meta.db_table
TALLY = DeviceTally._meta.db_table
# The tally's columns and how each is read from a device row (`{row}`: the row's alias).
TALLY_KEYS = {
    "receiver_id": "{row}.receiver_id",
    "device_type_id": "{row}.device_type_id",
    "site": "CASE WHEN {row}.site_id IS NULL THEN NULL ELSE 1 END",
    "firmware_version": "{row}.firmware_version",
    "firmware_version_key": "{row}.firmware_version_key",
    "hardware_revision": "{row}.hardware_revision",
    "has_ip_channel": "{row}.has_ip_channel",
    "active_job": "CASE WHEN {row}.active_job_id IS NULL THEN NULL ELSE 1 END",
    "last_outcome": "{row}.last_outcome",
    # The UTC day of the last contact (NULL: never seen, offline whatever the clock says). A
    # day, not the time: a panel polling every minute changes its group once a day.
    "last_seen": "{day}",
}
# The day of `{row}.last_seen` at midnight UTC, in each database's words (SQLite keeps UTC
# times as text: "2026-12-06 00:00:00", as Django writes a time without microseconds).
DAY_SQL = {
    "postgresql": "date_trunc('day', {row}.last_seen AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    "sqlite": "strftime('%Y-%m-%d 00:00:00', {row}.last_seen)",
}
# The device columns those read: an UPDATE of none of them changes no count.
DEVICE_COLUMNS = ("receiver_id", "device_type_id", "site_id", "firmware_version", "firmware_version_key",
                  "hardware_revision", "has_ip_channel", "active_job_id", "last_outcome", "last_seen")
TRIGGER_NAMES = ("sites_device_tally_insert", "sites_device_tally_update", "sites_device_tally_delete")


def seen_day(moment: datetime) -> datetime:
    """The tally's `last_seen` of a panel last seen at `moment`: that day's midnight, UTC."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _key(expression: str, row: str) -> str:
    return expression.format(row=row, day=DAY_SQL[connection.vendor].format(row=row))


def _keys(row: str) -> str:
    return ", ".join(_key(expression, row) for expression in TALLY_KEYS.values())


COLUMNS = ", ".join(TALLY_KEYS)


def _postgresql_sql() -> list[str]:
    grouped = ", ".join(str(i) for i in range(1, len(TALLY_KEYS) + 1))
    function = f"""
CREATE OR REPLACE FUNCTION sites_device_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO {TALLY} ({COLUMNS}, n) SELECT {_keys("d")}, COUNT(*) FROM tally_new d GROUP BY {grouped};
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO {TALLY} ({COLUMNS}, n) SELECT {_keys("d")}, -COUNT(*) FROM tally_old d GROUP BY {grouped};
  ELSE
    INSERT INTO {TALLY} ({COLUMNS}, n)
    SELECT {COLUMNS}, SUM(n) FROM (
      SELECT {_keys("d")}, -1 AS n FROM tally_old d
      UNION ALL SELECT {_keys("d")}, 1 AS n FROM tally_new d
    ) AS changes ({COLUMNS}, n)
    GROUP BY {grouped} HAVING SUM(n) <> 0;
  END IF;
  RETURN NULL;
END
$$"""
    tables = {"INSERT": "NEW TABLE AS tally_new", "DELETE": "OLD TABLE AS tally_old",
              "UPDATE": "OLD TABLE AS tally_old NEW TABLE AS tally_new"}
    return [function, *(
        f"CREATE TRIGGER sites_device_tally_{event.lower()} AFTER {event} ON {DEVICES} "
        f"REFERENCING {tables[event]} FOR EACH STATEMENT EXECUTE FUNCTION sites_device_tally()"
        for event in ("INSERT", "UPDATE", "DELETE"))]


def _sqlite_add(row: str, n: int) -> str:
    """Add `n` to the group of the device `row` (NEW or OLD): its row made first if missing."""
    same = " AND ".join(f"{column} IS {_key(expression, row)}" for column, expression in TALLY_KEYS.items())
    return (f"INSERT INTO {TALLY} ({COLUMNS}, n) SELECT {_keys(row)}, 0 "
            f"WHERE NOT EXISTS (SELECT 1 FROM {TALLY} WHERE {same}); "
            f"UPDATE {TALLY} SET n = n + ({n}) WHERE {same};")


def _sqlite_sql() -> list[str]:
    changed = " OR ".join(f"({_key(expression, 'OLD')}) IS NOT ({_key(expression, 'NEW')})"
                          for expression in TALLY_KEYS.values())
    return [
        f"CREATE TRIGGER sites_device_tally_insert AFTER INSERT ON {DEVICES} "
        f"BEGIN {_sqlite_add('NEW', 1)} END",
        f"CREATE TRIGGER sites_device_tally_delete AFTER DELETE ON {DEVICES} "
        f"BEGIN {_sqlite_add('OLD', -1)} END",
        f"CREATE TRIGGER sites_device_tally_update AFTER UPDATE OF {', '.join(DEVICE_COLUMNS)} "
        f"ON {DEVICES} WHEN {changed} BEGIN {_sqlite_add('OLD', -1)} {_sqlite_add('NEW', 1)} END",
    ]


def install(using=None) -> None:
    """The triggers, made afresh (this version's, whatever an earlier one made), then
    `check`. After every migrate: SQLite drops a table's triggers when a migration rebuilds
    it. One transaction: no write goes uncounted between the drop and the create."""
    remake([(DEVICES, name) for name in TRIGGER_NAMES],
           _postgresql_sql() if connection.vendor == "postgresql" else _sqlite_sql())
    check()


def install_on_migrate(sender, using=None, **kwargs) -> None:
    install()


def _counted() -> dict[tuple, int]:
    """The devices counted now, one pass."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_keys(DEVICES)}, COUNT(*) FROM {DEVICES} GROUP BY "
                       + ", ".join(str(i) for i in range(1, len(TALLY_KEYS) + 1)))
        return {_normal(row[:-1]): row[-1] for row in cursor.fetchall()}


def _normal(key) -> tuple:
    """A group's key as the tally model reads it (SQLite's raw rows give its days as text)."""
    seen = list(TALLY_KEYS).index("last_seen")
    day = key[seen]
    if isinstance(day, str):
        day = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return (*key[:seen], day, *key[seen + 1:])


def _tallied() -> dict[tuple, int]:
    return {_normal(row[:-1]): row[-1]
            for row in DeviceTally.objects.values_list(*TALLY_KEYS).annotate(total=Sum("n")).order_by()
            if row[-1]}


def _locked() -> None:
    """Hold off the devices' writers until the transaction ends: PostgreSQL's SHARE lock;
    SQLite's write lock (its one writer is then this transaction)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {DEVICES} IN SHARE MODE")
        else:
            cursor.execute(f"DELETE FROM {TALLY} WHERE id = 0")


def _compared(counted: dict, tallied: dict) -> dict[tuple, tuple[int, int]]:
    return {key: (counted.get(key, 0), tallied.get(key, 0)) for key in counted.keys() | tallied.keys()
            if counted.get(key, 0) != tallied.get(key, 0)}


def differences() -> dict[tuple, tuple[int, int]]:
    """The groups whose tally differs from the devices counted now: key -> (devices,
    tally). One pass over the devices, their writers held off meanwhile."""
    with transaction.atomic():
        _locked()
        return _compared(_counted(), _tallied())


def check() -> int:
    """Count the devices again and compare with the tally; rewrite it if they differ (logged
    as an error, but for an empty tally: a new install). Returns how many groups were wrong."""
    with transaction.atomic():
        _locked()
        counted, tallied = _counted(), _tallied()
        wrong = _compared(counted, tallied)
        if wrong:
            if tallied:
                log.error("the device tally differed from the devices in %d groups; rewritten", len(wrong))
            DeviceTally.objects.all().delete()
            DeviceTally.objects.bulk_create([DeviceTally(**dict(zip(TALLY_KEYS, key, strict=True)), n=n)
                                             for key, n in counted.items()], batch_size=1000)
        return len(wrong)


def fold() -> int:
    """Sum the rows PostgreSQL's triggers appended back into one per group (zero groups
    dropped). One statement: the rows it deletes are the rows it sums, whatever writers
    append meanwhile. Returns the rows it removed."""
    if connection.vendor != "postgresql":
        return DeviceTally.objects.filter(n=0).delete()[0]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"""
WITH gone AS (DELETE FROM {TALLY} RETURNING {COLUMNS}, n),
kept AS (INSERT INTO {TALLY} ({COLUMNS}, n) SELECT {COLUMNS}, SUM(n) FROM gone
         GROUP BY {COLUMNS} HAVING SUM(n) <> 0 RETURNING 1)
SELECT (SELECT COUNT(*) FROM gone) - (SELECT COUNT(*) FROM kept)""")
        return cursor.fetchone()[0]
