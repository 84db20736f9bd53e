"""What the panel's list reads of a device's site, kept on the device's own row by the database:
the words its search finds, and the site's number and name its sorts read.

Why: the device type page's search finds a site by a word of its name or address or of its
panel's serial (firmware_updates.selectors.device_search_q). With those words on the sites'
table, a common word (8 % of 100,000 sites at bench `find`) was thousands of sites found by
their trigram indexes, then each site's panel looked up one by one to apply the list's own
conditions (its type, its colour, its version): 80-100 ms at 100,000 sites on PostgreSQL.
With them on the device (`Device.search_text`: serial, site name, site address, each a
space apart), one trigram index on the devices finds the panels and the list's conditions
filter them as they are read: 18-30 ms. Likewise the sorts: thousands of panels found (a
word, a version) sorted by status or name then site number each looked its site up
(`Device.site_number`, `Device.site_name` on the row: no join, half the time, 25-35 ms to
12-25 at bench `find`), and the list in site number order walks the devices' own index.

Who keeps them: triggers (made by `install`, after every `migrate`, as sites/tally.py's are),
so that every write counts, a rename in the admin and a raw UPDATE alike:
- a device inserted, or its serial, its site or one of these columns written: the row's copy
  is made again from its serial and its site (PostgreSQL: before the write; SQLite: just
  after, by an UPDATE of the row);
- a site's number, name or address changed: the copy of its panel (one row).
`repair` writes every copy that differs from what the triggers would make (after every
migrate: SQLite drops a table's triggers when a migration rebuilds it), and says so.
"""

import logging

from django.db import connection, transaction
from django.db.models import Lookup

from core.triggers import remake

from .models import Device, Site

log = logging.getLogger(__name__)

DEVICES = Device._meta.db_table
SITES = Site._meta.db_table
TRIGGERS = ((DEVICES, "sites_device_search_text"), (DEVICES, "sites_device_search_text_insert"),
            (SITES, "sites_site_search_text"))


def text_of(row: str) -> str:
    """The SQL of the text of the device `row` (an alias, NEW): its serial, then its site's
    name and address, a space apart (a search word has no space, so it never matches across
    two of them), upper-cased by the database (`SearchContains` upper-cases the word with the
    same function). The same SQL in both databases."""
    return (f"UPPER({row}.serial || COALESCE((SELECT ' ' || s.name || ' ' || s.address FROM {SITES} s "
            f"WHERE s.id = {row}.site_id), ''))")


def number_of(row: str) -> str:
    """The SQL of the site number of the device `row` (NULL without a site)."""
    return f"(SELECT s.number FROM {SITES} s WHERE s.id = {row}.site_id)"


def name_of(row: str) -> str:
    """The SQL of the site name of the device `row` ("" without a site)."""
    return f"COALESCE((SELECT s.name FROM {SITES} s WHERE s.id = {row}.site_id), '')"


# The device's copied columns and the SQL of each from the device `row`.
COPIES = {"search_text": text_of, "site_number": number_of, "site_name": name_of}
COLUMNS = ("serial", "site_id", *COPIES)


def _differs(old: str, new: str) -> str:
    """PostgreSQL: any of COLUMNS differs between rows `old` and `new`."""
    return " OR ".join(f"{old}.{column} IS DISTINCT FROM {new}.{column}" for column in COLUMNS)


def _unlike_its_site(row: str) -> str:
    """A copy of the device `row` differs from what its serial and site make."""
    same = "IS NOT DISTINCT FROM" if connection.vendor == "postgresql" else "IS"
    return " OR ".join(f"NOT ({row}.{column} {same} ({sql(row)}))" for column, sql in COPIES.items())


# A site's trigger: what its panel's copies become (the site's row is NEW), and when.
FROM_SITE = ("search_text = UPPER(serial || ' ' || NEW.name || ' ' || NEW.address), site_number = NEW.number, "
             "site_name = NEW.name")
SITE_COLUMNS = ("number", "name", "address")


def _site_changed(differs: str) -> str:
    return " OR ".join(f"OLD.{column} {differs} NEW.{column}" for column in SITE_COLUMNS)


def _postgresql_sql() -> list[str]:
    made = "\n  ".join(f"NEW.{column} := {sql('NEW')};" for column, sql in COPIES.items())
    return [
        f"""CREATE OR REPLACE FUNCTION sites_device_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {made}
  RETURN NEW;
END
$$""",
        f"""CREATE OR REPLACE FUNCTION sites_site_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE {DEVICES} SET {FROM_SITE} WHERE site_id = NEW.id;
  RETURN NULL;
END
$$""",
        f"CREATE TRIGGER sites_device_search_text_insert BEFORE INSERT ON {DEVICES} "
        f"FOR EACH ROW EXECUTE FUNCTION sites_device_search_text()",
        f"CREATE TRIGGER sites_device_search_text BEFORE UPDATE OF {', '.join(COLUMNS)} ON {DEVICES} "
        f"FOR EACH ROW WHEN ({_differs('OLD', 'NEW')}) "
        f"EXECUTE FUNCTION sites_device_search_text()",
        f"CREATE TRIGGER sites_site_search_text AFTER UPDATE OF {', '.join(SITE_COLUMNS)} ON {SITES} "
        f"FOR EACH ROW WHEN ({_site_changed('IS DISTINCT FROM')}) EXECUTE FUNCTION sites_site_search_text()",
    ]


def _sqlite_sql() -> list[str]:
    # SQLite has no BEFORE trigger that may change the row: the row is updated right after.
    # That UPDATE writes the copies only, which fires no trigger here (recursive triggers off),
    # nor the tally's (sites/tally.py: it reads other columns).
    mine = (f"UPDATE {DEVICES} SET " + ", ".join(f"{column} = {sql('NEW')}" for column, sql in COPIES.items())
            + " WHERE id = NEW.id;")
    return [
        f"CREATE TRIGGER sites_device_search_text_insert AFTER INSERT ON {DEVICES} BEGIN {mine} END",
        f"CREATE TRIGGER sites_device_search_text AFTER UPDATE OF {', '.join(COLUMNS)} ON {DEVICES} "
        f"WHEN {_unlike_its_site('NEW')} BEGIN {mine} END",
        f"CREATE TRIGGER sites_site_search_text AFTER UPDATE OF {', '.join(SITE_COLUMNS)} ON {SITES} "
        f"WHEN {_site_changed('IS NOT')} BEGIN UPDATE {DEVICES} SET {FROM_SITE} WHERE site_id = NEW.id; END",
    ]


class SearchContains(Lookup):
    """`search_text__search_contains=word`: the text contains `word`, in any case. The text is
    kept upper-cased (`text_of`) and the word is upper-cased by the same function of the same
    database, so each row is compared as it is stored, without upper-casing 8,000 texts a
    search (a common word at bench `find`: its matches' recheck 19 -> 6 ms on PostgreSQL), and
    the trigram index is over the column itself. (SQLite's UPPER is Python's there,
    core/db.py: every letter folded, as on PostgreSQL.)"""

    lookup_name = "search_contains"

    def get_db_prep_lookup(self, value, connection):
        return "%s", [f"%{connection.ops.prep_for_like_query(value)}%"]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} LIKE UPPER({rhs}) ESCAPE '\\'", [*lhs_params, *rhs_params]


def install() -> None:
    """The triggers, made afresh (core/triggers.py), then `repair`."""
    remake(TRIGGERS, _postgresql_sql() if connection.vendor == "postgresql" else _sqlite_sql())
    repair()


def install_on_migrate(sender, using=None, **kwargs) -> None:
    install()


def _stale_where() -> str:
    return _unlike_its_site(DEVICES)


def stale() -> list[str]:
    """The serials of the devices whose copy differs from their serial's and site's."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT serial FROM {DEVICES} WHERE {_stale_where()} ORDER BY serial")
        return [row[0] for row in cursor.fetchall()]


def repair() -> int:
    """Write every copy that differs from what the triggers would make; how many were. One
    statement. Logged as an error when a copy was wrong but for a fresh column (empty)."""
    made = ", ".join(f"{column} = {sql(DEVICES)}" for column, sql in COPIES.items())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {DEVICES} WHERE ({_stale_where()}) AND search_text <> ''")
        wrong = cursor.fetchone()[0]
        cursor.execute(f"UPDATE {DEVICES} SET {made} WHERE {_stale_where()}")
        if wrong:
            log.error("the search text or site of %d panels differed from their serial and site; rewritten", wrong)
        return cursor.rowcount
