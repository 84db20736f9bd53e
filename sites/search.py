"""What the panel's search reads of a device, kept on the device's own row by the database.

Why: the device type page's search finds a site by a word of its name or address or of its
panel's serial (firmware_updates.selectors.device_search_q). With those words on the sites'
table, a common word (8 % of 100,000 sites at bench `find`) was thousands of sites found by
their trigram indexes, then each site's panel looked up one by one to apply the list's own
conditions (its type, its colour, its version): 80-100 ms at 100,000 sites on PostgreSQL.
With them on the device (`Device.search_text`: serial, site name, site address, each a
space apart), one trigram index on the devices finds the panels and the list's conditions
filter them as they are read: 18-30 ms.

Who keeps it: triggers (made by `install`, after every `migrate`, as sites/tally.py's are), so
that every write counts, a rename in the admin and a raw UPDATE alike:
- a device inserted, or its serial, its site or the text itself written: the row's text is
  made again from its serial and its site (PostgreSQL: before the write; SQLite: just after,
  by an UPDATE of the row);
- a site's name or address changed: the text of its panel (one row).
`repair` writes every text that differs from what the triggers would make (after every
migrate: SQLite drops a table's triggers when a migration rebuilds it), and says so.
"""

import logging

from django.db import connection, transaction

from .models import Device, Site
from .triggers import remake

log = logging.getLogger(__name__)

DEVICES = Device._meta.db_table
SITES = Site._meta.db_table
TRIGGERS = ((DEVICES, "sites_device_search_text"), (DEVICES, "sites_device_search_text_insert"),
            (SITES, "sites_site_search_text"))


def text_of(row: str) -> str:
    """The SQL of the text of the device `row` (an alias, NEW): its serial, then its site's
    name and address, a space apart (a search word has no space, so it never matches across
    two of them). The same SQL in both databases."""
    return (f"{row}.serial || COALESCE((SELECT ' ' || s.name || ' ' || s.address FROM {SITES} s "
            f"WHERE s.id = {row}.site_id), '')")


def _postgresql_sql() -> list[str]:
    return [
        f"""CREATE OR REPLACE FUNCTION sites_device_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_text := {text_of("NEW")};
  RETURN NEW;
END
$$""",
        f"""CREATE OR REPLACE FUNCTION sites_site_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE {DEVICES} d SET search_text = d.serial || ' ' || NEW.name || ' ' || NEW.address WHERE d.site_id = NEW.id;
  RETURN NULL;
END
$$""",
        f"CREATE TRIGGER sites_device_search_text_insert BEFORE INSERT ON {DEVICES} "
        f"FOR EACH ROW EXECUTE FUNCTION sites_device_search_text()",
        f"CREATE TRIGGER sites_device_search_text BEFORE UPDATE OF serial, site_id, search_text ON {DEVICES} "
        f"FOR EACH ROW WHEN (OLD.serial IS DISTINCT FROM NEW.serial OR OLD.site_id IS DISTINCT FROM NEW.site_id "
        f"OR OLD.search_text IS DISTINCT FROM NEW.search_text) EXECUTE FUNCTION sites_device_search_text()",
        f"CREATE TRIGGER sites_site_search_text AFTER UPDATE OF name, address ON {SITES} "
        f"FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.address IS DISTINCT FROM NEW.address) "
        f"EXECUTE FUNCTION sites_site_search_text()",
    ]


def _sqlite_sql() -> list[str]:
    # SQLite has no BEFORE trigger that may change the row: the row is updated right after.
    # That UPDATE writes search_text only, which fires no trigger here (recursive triggers off),
    # nor the tally's (sites/tally.py: it reads other columns).
    mine = f"UPDATE {DEVICES} SET search_text = {text_of('NEW')} WHERE id = NEW.id;"
    return [
        f"CREATE TRIGGER sites_device_search_text_insert AFTER INSERT ON {DEVICES} BEGIN {mine} END",
        f"CREATE TRIGGER sites_device_search_text AFTER UPDATE OF serial, site_id, search_text ON {DEVICES} "
        f"WHEN NEW.search_text IS NOT ({text_of('NEW')}) BEGIN {mine} END",
        f"CREATE TRIGGER sites_site_search_text AFTER UPDATE OF name, address ON {SITES} "
        f"WHEN OLD.name IS NOT NEW.name OR OLD.address IS NOT NEW.address "
        f"BEGIN UPDATE {DEVICES} SET search_text = serial || ' ' || NEW.name || ' ' || NEW.address "
        f"WHERE site_id = NEW.id; END",
    ]


def install() -> None:
    """The triggers, made afresh (sites/triggers.py), then `repair`."""
    remake(TRIGGERS, _postgresql_sql() if connection.vendor == "postgresql" else _sqlite_sql())
    repair()


def install_on_migrate(sender, using=None, **kwargs) -> None:
    install()


def _stale_where() -> str:
    return f"{DEVICES}.search_text IS DISTINCT FROM ({text_of(DEVICES)})" if connection.vendor == "postgresql" \
        else f"{DEVICES}.search_text IS NOT ({text_of(DEVICES)})"


def stale() -> list[str]:
    """The serials of the devices whose text differs from their serial's and site's."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT serial FROM {DEVICES} WHERE {_stale_where()} ORDER BY serial")
        return [row[0] for row in cursor.fetchall()]


def repair() -> int:
    """Write every text that differs from what the triggers would make; how many were. One
    statement. Logged as an error when a text was wrong but for a fresh column (empty)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {DEVICES} WHERE {_stale_where()} AND search_text <> ''")
        wrong = cursor.fetchone()[0]
        cursor.execute(f"UPDATE {DEVICES} SET search_text = {text_of(DEVICES)} WHERE {_stale_where()}")
        if wrong:
            log.error("the search text of %d panels differed from their serial and site; rewritten", wrong)
        return cursor.rowcount
