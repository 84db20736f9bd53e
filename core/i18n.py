"""The translations' catalogues: compiled from their .po files with no system package.

`locale/<language>/LC_MESSAGES/django.po` is the source (committed); its `.mo` is what
Django reads, compiled by `make install` (`manage.py compiletranslations`), never committed
(.gitignore). polib writes the same .mo as GNU msgfmt, plural forms included, so a machine
without gettext installs and runs the panel in every language. Extracting strings
(`makemessages`) does need GNU gettext: that is a developer's step (DEVELOPERS.md).
"""

import re
from functools import cache
from pathlib import Path

import polib
from django.conf import settings


@cache
def template_pattern(template: str) -> re.Pattern:
    """What a sentence stored in English from `template` looks like: each `{name}` a group of
    that name (core.audit_words and firmware_updates.stored_words find the template a stored
    text was made from, to say it again in the reader's language)."""
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
    return re.compile(f"^{regex}$", re.DOTALL)


def catalogues() -> list[Path]:
    return sorted(po for root in settings.LOCALE_PATHS for po in Path(root).glob("*/LC_MESSAGES/*.po"))


def stale(po: Path) -> bool:
    mo = po.with_suffix(".mo")
    return not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime


def compile_catalogue(po: Path) -> Path:
    """po -> mo beside it, written whole then renamed (a server reading it never sees half).
    Fuzzy entries are left out, as msgfmt does: their words are not checked yet."""
    catalogue = polib.pofile(str(po))
    for entry in catalogue.fuzzy_entries():
        catalogue.remove(entry)
    mo = po.with_suffix(".mo")
    partial = mo.with_suffix(".mo.partial")
    catalogue.save_as_mofile(str(partial))
    partial.replace(mo)
    return mo


def compile_all(*, only_stale: bool = False) -> list[Path]:
    return [compile_catalogue(po) for po in catalogues() if not only_stale or stale(po)]
