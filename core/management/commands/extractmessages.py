"""`manage.py extractmessages`: every marked string of the project into locale/ru's django.po
(Django's makemessages with the project's options: the folders that hold no operator's
words left out, file names as locations). Needs GNU gettext (xgettext, msgmerge).
Then translate what it added (empty or `#, fuzzy` entries) and run compiletranslations;
tests/test_translations.py fails while any entry is untranslated, fuzzy or stale."""

from django.core.management import call_command
from django.core.management.base import BaseCommand

# Folders with no string an operator reads: tests, benches, the simulator (it is a device),
# documentation, dependencies and what the project writes at run time.
IGNORED = ["var", "tests", "bench", "fleetsim", "testing", "requirements", "docs", "deploy", "scripts",
           "static", "locale", "node_modules", "build", "*.egg-info"]
LANGUAGES = ["ru"]


class Command(BaseCommand):
    help = "Extract the project's translatable strings into locale/<language>/LC_MESSAGES/django.po."

    def handle(self, *args, **options):
        # no_obsolete: a string gone from the source leaves the catalogue (no "#~" entries).
        call_command("makemessages", locale=LANGUAGES, ignore_patterns=IGNORED, add_location="file",
                     no_obsolete=True, verbosity=options["verbosity"])
