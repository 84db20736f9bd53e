"""A tally: the rows of one table counted by a few of their columns, kept by the database
itself, so that a page reads a few hundred counts rather than 100,000 rows. Two use it: the
fleet's devices (sites/tally.py, the device type page's statistics) and the rollouts' jobs
(firmware_updates/tally.py, each rollout's progress and its waves' outcomes).

A tally is a model of plain columns (no foreign keys: a deleted parent's rows go to zero and
are folded away) plus `n`, named as the counted table's own fields where a rule reads them,
so that the rule's Q applies to a group as to a row (written once, in the counted app).

Who keeps it: triggers on the counted table (`install`, after every `migrate`), so that every
write counts, the services', a bulk UPDATE's and a raw COPY's alike.
- PostgreSQL: one statement-level trigger per INSERT, UPDATE and DELETE appends the
  statement's changes, grouped (a batch of 1,000 rows is a few rows), and never updates a
  row: no lock is taken, so no writer waits on another or deadlocks here. `fold` (beat,
  every RECONCILE_INTERVAL) sums the appended rows back into one per group.
- SQLite (one writer at a time, no transition tables): row-level triggers add to the group's
  own row (its changes come one row at a time).
`check` (beat, every ACTIVE_JOB_REPAIR_INTERVAL, and after every migrate) counts the table
again and rewrites the tally if it differs, saying so in the log: a trigger dropped by hand, or
by SQLite rebuilding the table in a migration, cannot leave the counts wrong for long.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, models, transaction
from django.db.models import Sum

from .triggers import remake

log = logging.getLogger(__name__)

# The day of a time column at midnight UTC, in each database's words (SQLite keeps UTC times
# as text: "2026-12-06 00:00:00", as Django writes a time without microseconds).
DAY_SQL = {
    "postgresql": "date_trunc('day', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    "sqlite": "strftime('%Y-%m-%d 00:00:00', {column})",
}


@dataclass(frozen=True)
class Day:
    """A key: the UTC day of a time column of the counted row (NULL stays NULL). A day, not
    the time: a row whose time moves every minute changes its group once a day."""

    column: str


def day_of(moment: datetime) -> datetime:
    """A `Day` key's value for `moment`: that day's midnight, UTC."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Tally:
    model: type[models.Model]  # the tally: `keys`' columns and `n`
    counted: type[models.Model]  # the table counted
    # The tally's columns and how each is read from a counted row: SQL over `{row}` (the
    # row's alias), or a `Day`.
    keys: dict
    # The counted columns those read: an UPDATE of none of them changes no count (SQLite).
    columns: tuple[str, ...]
    name: str  # of the triggers and their function

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def counted_table(self) -> str:
        return self.counted._meta.db_table

    @property
    def trigger_names(self) -> tuple[str, ...]:
        return tuple(f"{self.name}_{event}" for event in ("insert", "update", "delete"))

    def _key(self, expression, row: str) -> str:
        if isinstance(expression, Day):
            return DAY_SQL[connection.vendor].format(column=f"{row}.{expression.column}")
        return expression.format(row=row)

    def _keys(self, row: str) -> str:
        return ", ".join(self._key(expression, row) for expression in self.keys.values())

    @property
    def _columns(self) -> str:
        return ", ".join(self.keys)

    @property
    def _grouped(self) -> str:
        return ", ".join(str(i) for i in range(1, len(self.keys) + 1))

    def _postgresql_sql(self) -> list[str]:
        table, columns, grouped = self.table, self._columns, self._grouped
        function = f"""
CREATE OR REPLACE FUNCTION {self.name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO {table} ({columns}, n) SELECT {self._keys("d")}, COUNT(*) FROM tally_new d GROUP BY {grouped};
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO {table} ({columns}, n) SELECT {self._keys("d")}, -COUNT(*) FROM tally_old d GROUP BY {grouped};
  ELSE
    INSERT INTO {table} ({columns}, n)
    SELECT {columns}, SUM(n) FROM (
      SELECT {self._keys("d")}, -1 AS n FROM tally_old d
      UNION ALL SELECT {self._keys("d")}, 1 AS n FROM tally_new d
    ) AS changes ({columns}, n)
    GROUP BY {grouped} HAVING SUM(n) <> 0;
  END IF;
  RETURN NULL;
END
$$"""
        tables = {"INSERT": "NEW TABLE AS tally_new", "DELETE": "OLD TABLE AS tally_old",
                  "UPDATE": "OLD TABLE AS tally_old NEW TABLE AS tally_new"}
        return [function, *(
            f"CREATE TRIGGER {self.name}_{event.lower()} AFTER {event} ON {self.counted_table} "
            f"REFERENCING {tables[event]} FOR EACH STATEMENT EXECUTE FUNCTION {self.name}()"
            for event in ("INSERT", "UPDATE", "DELETE"))]

    def _sqlite_add(self, row: str, n: int) -> str:
        """Add `n` to the group of the counted `row` (NEW or OLD): its row made first if missing."""
        same = " AND ".join(f"{column} IS {self._key(expression, row)}" for column, expression in self.keys.items())
        return (f"INSERT INTO {self.table} ({self._columns}, n) SELECT {self._keys(row)}, 0 "
                f"WHERE NOT EXISTS (SELECT 1 FROM {self.table} WHERE {same}); "
                f"UPDATE {self.table} SET n = n + ({n}) WHERE {same};")

    def _sqlite_sql(self) -> list[str]:
        changed = " OR ".join(f"({self._key(expression, 'OLD')}) IS NOT ({self._key(expression, 'NEW')})"
                              for expression in self.keys.values())
        return [
            f"CREATE TRIGGER {self.name}_insert AFTER INSERT ON {self.counted_table} "
            f"BEGIN {self._sqlite_add('NEW', 1)} END",
            f"CREATE TRIGGER {self.name}_delete AFTER DELETE ON {self.counted_table} "
            f"BEGIN {self._sqlite_add('OLD', -1)} END",
            f"CREATE TRIGGER {self.name}_update AFTER UPDATE OF {', '.join(self.columns)} "
            f"ON {self.counted_table} WHEN {changed} BEGIN {self._sqlite_add('OLD', -1)} {self._sqlite_add('NEW', 1)} END",
        ]

    def install(self) -> None:
        """The triggers, made afresh (this version's, whatever an earlier one made), then
        `check`. After every migrate: SQLite drops a table's triggers when a migration
        rebuilds it. One transaction: no write goes uncounted between the drop and the create."""
        remake([(self.counted_table, name) for name in self.trigger_names],
               self._postgresql_sql() if connection.vendor == "postgresql" else self._sqlite_sql())
        self.check()

    def rows_counted(self) -> dict[tuple, int]:
        """The rows counted now, one pass."""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {self._keys(self.counted_table)}, COUNT(*) FROM {self.counted_table} "
                           f"GROUP BY {self._grouped}")
            return {self._normal(row[:-1]): row[-1] for row in cursor.fetchall()}

    def _normal(self, key) -> tuple:
        """A group's key as the tally model reads it (SQLite's raw rows give days as text)."""
        return tuple(datetime.fromisoformat(value).replace(tzinfo=UTC)
                     if isinstance(expression, Day) and isinstance(value, str) else value
                     for expression, value in zip(self.keys.values(), key, strict=True))

    def tallied(self) -> dict[tuple, int]:
        return {self._normal(row[:-1]): row[-1]
                for row in self.model.objects.values_list(*self.keys).annotate(total=Sum("n")).order_by()
                if row[-1]}

    def _locked(self) -> None:
        """Hold off the counted table's writers until the transaction ends: PostgreSQL's
        SHARE lock; SQLite's write lock (its one writer is then this transaction)."""
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"LOCK TABLE {self.counted_table} IN SHARE MODE")
            else:
                cursor.execute(f"DELETE FROM {self.table} WHERE id = 0")

    @staticmethod
    def _compared(counted: dict, tallied: dict) -> dict[tuple, tuple[int, int]]:
        return {key: (counted.get(key, 0), tallied.get(key, 0)) for key in counted.keys() | tallied.keys()
                if counted.get(key, 0) != tallied.get(key, 0)}

    def differences(self) -> dict[tuple, tuple[int, int]]:
        """The groups whose tally differs from the rows counted now: key -> (rows, tally).
        One pass over the counted table, its writers held off meanwhile."""
        with transaction.atomic():
            self._locked()
            return self._compared(self.rows_counted(), self.tallied())

    def check(self) -> int:
        """Count the rows again and compare with the tally; rewrite it if they differ (logged
        as an error, but for an empty tally: a new install). Returns how many groups were wrong."""
        with transaction.atomic():
            self._locked()
            counted, tallied = self.rows_counted(), self.tallied()
            wrong = self._compared(counted, tallied)
            if wrong:
                if tallied:
                    log.error("the %s differed from the %s in %d groups; rewritten", self.model._meta.verbose_name,
                              self.counted._meta.verbose_name_plural, len(wrong))
                self.model.objects.all().delete()
                self.model.objects.bulk_create([self.model(**dict(zip(self.keys, key, strict=True)), n=n)
                                                for key, n in counted.items()], batch_size=1000)
            return len(wrong)

    def fold(self) -> int:
        """Sum the rows PostgreSQL's triggers appended back into one per group (zero groups
        dropped). One statement: the rows it deletes are the rows it sums, whatever writers
        append meanwhile. Returns the rows it removed."""
        if connection.vendor != "postgresql":
            return self.model.objects.filter(n=0).delete()[0]
        table, columns = self.table, self._columns
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"""
WITH gone AS (DELETE FROM {table} RETURNING {columns}, n),
kept AS (INSERT INTO {table} ({columns}, n) SELECT {columns}, SUM(n) FROM gone
         GROUP BY {columns} HAVING SUM(n) <> 0 RETURNING 1)
SELECT (SELECT COUNT(*) FROM gone) - (SELECT COUNT(*) FROM kept)""")
            return cursor.fetchone()[0]
