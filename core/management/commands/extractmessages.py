"""`manage.py extractmessages`: every marked string of the project into locale/ru's django.po
(Django's makemessages with the project's options: the folders that hold no operator's
words left out, file names as locations). Needs GNU gettext (xgettext, msgmerge).
Then translate what it added (empty or `#, fuzzy` entries) and run compiletranslations;
tests/test_translations.py fails while any entry is untranslated, fuzzy or stale."""

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.core.management.commands import makemessages

# Folders with no string an operator reads: tests, benches, the simulator (it is a device),
# documentation, dependencies and what the project writes at run time.
IGNORED = ["var", "tests", "bench", "fleetsim", "testing", "requirements", "docs", "deploy", "scripts",
           "static", "locale", "node_modules", "build", "*.egg-info"]
LANGUAGES = ["ru"]
# The archive library (firmware_updates/swu) knows no Django, so it marks no string with gettext:
# its refusals' English templates are the first argument of these calls (swu/errors.py), said
# again in the operator's language at the edge (firmware_updates/archive_words.py).
ARCHIVE_KEYWORDS = ["ArchiveError", "ArchiveTooLarge", "Words", "DeltaError", "fail"]


class MakeMessages(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options,
                        *(f"--keyword={keyword}" for keyword in ARCHIVE_KEYWORDS)]


class Command(BaseCommand):
    help = "Extract the project's translatable strings into locale/<language>/LC_MESSAGES/django.po."

    def handle(self, *args, **options):
        # no_obsolete: a string gone from the source leaves the catalogue (no "#~" entries).
        call_command(MakeMessages(), locale=LANGUAGES, ignore_patterns=IGNORED, add_location="file",
                     no_obsolete=True, verbosity=options["verbosity"])
