"""The Russian catalogue is complete: every string the project marks is translated, with
correct plural forms, and nothing in the catalogue is stale or unchecked.

The strings are extracted afresh (`manage.py extractmessages`, Django's makemessages, in a
copy of the project, so the committed catalogue is not touched): a string marked since the
catalogue was last updated shows up as an empty entry and fails the test, as does one whose
words changed (gettext marks it fuzzy) or one no longer in the source (obsolete). The pages
themselves are checked for English in tests/panel/test_russian.py and the browser tests.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.utils import translation

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "locale" / "ru" / "LC_MESSAGES" / "django.po"
SKIP = shutil.ignore_patterns(".git", ".venv", "var", "node_modules", "*.mo", "__pycache__", "tests", "bench",
                              "docs", "requirements", ".ruff_cache", ".pytest_cache")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> polib.POFile:
    if not shutil.which("xgettext"):
        pytest.fail("GNU gettext (xgettext) is needed to extract the strings: scripts/ensure-test-deps.sh "
                    "installs it (Debian's gettext).")
    copy = tmp_path_factory.mktemp("messages") / "project"
    shutil.copytree(ROOT, copy, ignore=SKIP)
    subprocess.run([sys.executable, "manage.py", "extractmessages", "--verbosity", "0"], cwd=copy, check=True)
    return polib.pofile(str(copy / "locale" / "ru" / "LC_MESSAGES" / "django.po"))


def _named(entries) -> list[str]:
    return [(f"[{e.msgctxt}] " if e.msgctxt else "") + e.msgid for e in entries]


def test_every_marked_string_has_its_russian(extracted):
    untranslated = [e for e in extracted.untranslated_entries() if not e.obsolete]
    assert not _named(untranslated), "untranslated (locale/ru/LC_MESSAGES/django.po, DEVELOPERS.md)"
    assert not _named(e for e in extracted.fuzzy_entries() if not e.obsolete), "fuzzy: check the words, drop the flag"


def test_the_catalogue_holds_nothing_stale(extracted):
    committed = polib.pofile(str(CATALOGUE))
    assert not _named(committed.obsolete_entries()), "no longer in the source: run manage.py extractmessages"
    # What the source marks now, no more and no less.
    assert sorted(_named(e for e in committed if not e.obsolete)) == sorted(_named(e for e in extracted
                                                                                   if not e.obsolete))


def test_plural_forms_are_complete_and_keep_their_placeholders():
    catalogue = polib.pofile(str(CATALOGUE))
    assert catalogue.metadata["Plural-Forms"].startswith("nplurals=4;")  # as Django's own Russian
    for entry in catalogue:
        forms = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        assert all(forms), entry.msgid
        formats = {"python-brace-format": "{", "python-format": "%("}
        for placeholder in (opening for flag, opening in formats.items() if flag in entry.flags):
            wanted = sorted(_placeholders(entry.msgid, placeholder))
            assert all(sorted(_placeholders(form, placeholder)) == wanted for form in forms), entry.msgid


def _placeholders(text: str, opening: str) -> list[str]:
    closing = "}" if opening == "{" else ")"
    parts = text.split(opening)[1:]
    return [part.split(closing, 1)[0] for part in parts if closing in part]


@pytest.mark.parametrize(("count", "words"), [
    (1, "1 объект"), (2, "2 объекта"), (4, "4 объекта"), (5, "5 объектов"), (11, "11 объектов"),
    (21, "21 объект"), (22, "22 объекта"), (25, "25 объектов"), (111, "111 объектов"),
])
def test_russian_counts_sites_as_russians_do(count, words):
    from firmware_updates.views.presenters import _sites

    with translation.override("ru"):
        assert _sites(count) == words


def test_every_stored_sentence_is_said_again_in_russian():
    """Each English sentence the services store is found again by its own template, and said
    in Russian with the same values (firmware_updates/stored_words.py)."""
    import re

    from firmware_updates.stored_words import TEMPLATES, stored_words

    for template in TEMPLATES:
        names = re.findall(r"\{(\w+)\}", template)
        stored = template.format(**{name: f"<{name}>" for name in names})
        with translation.override("ru"):
            said = stored_words(stored)
            assert said == translation.gettext(template).format(**{name: f"<{name}>" for name in names}), template
        assert said != stored, template


def test_a_panels_own_failure_text_is_shown_as_it_came():
    from firmware_updates.stored_words import stored_words

    with translation.override("ru"):
        assert stored_words("flash write error") == "flash write error"
        assert stored_words("Paused by maria.") == "Приостановлено (maria)."
        assert stored_words("Cancelled by system.") == "Отменено (система)."


def test_every_refusal_of_the_archive_library_is_a_template_the_catalogue_can_hold():
    """The archive library (no Django) refuses with English templates that extractmessages takes
    into the catalogue by the names of the calls (ARCHIVE_KEYWORDS): an f-string or a variable
    there would reach a Russian operator in English."""
    import ast

    from core.management.commands.extractmessages import ARCHIVE_KEYWORDS

    catalogue = {entry.msgid for entry in polib.pofile(str(CATALOGUE)) if entry.msgstr}
    calls = []
    for path in sorted((ROOT / "firmware_updates" / "swu").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            name = getattr(node, "func", None)
            name = getattr(name, "id", None) or getattr(name, "attr", None)
            args = getattr(node, "args", None)
            forwarded = isinstance(args, list) and args and isinstance(args[0], ast.Name) and args[0].id == "template"
            if isinstance(node, ast.Call) and name in ARCHIVE_KEYWORDS and node.args and not forwarded:
                calls.append((f"{path.name}:{node.lineno}", node.args[0]))
    assert len(calls) > 100
    assert [where for where, first in calls if not (isinstance(first, ast.Constant) and isinstance(first.value, str))
            ] == [], "say it as a literal template with keyword values (firmware_updates/swu/errors.py)"
    assert [where for where, first in calls if first.value not in catalogue] == []


def test_an_archive_refusal_within_a_refusal_is_said_in_russian_as_a_whole():
    from firmware_updates.archive_words import archive_words
    from firmware_updates.swu import ArchiveError, Words

    refusal = ArchiveError("the archive is truncated in {what}", what=Words("the header of member {index}", index=3))
    assert str(refusal) == "the archive is truncated in the header of member 3"
    with translation.override("ru"):
        assert archive_words(refusal) == "архив обрывается, не дочитано: заголовок элемента 3"
