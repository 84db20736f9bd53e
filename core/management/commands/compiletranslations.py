"""`manage.py compiletranslations`: every locale/*/LC_MESSAGES/*.po into its .mo (core/i18n.py).
Run by `make install`; needs no GNU gettext, unlike Django's compilemessages."""

from django.core.management.base import BaseCommand

from core.i18n import compile_all


class Command(BaseCommand):
    help = "Compile the translations (locale/*/LC_MESSAGES/*.po) into .mo files, without GNU gettext."

    def add_arguments(self, parser):
        parser.add_argument("--stale", action="store_true", help="only catalogues whose .mo is older than the .po")

    def handle(self, *args, stale=False, **options):
        for mo in compile_all(only_stale=stale):
            if options["verbosity"]:
                self.stdout.write(f"compiled {mo}")
