"""`manage.py serials_check`: list the panels whose serial breaks the rule (sites/serials.py).

Such a panel cannot reach its DDI URL reliably; rename it in the admin (the rule then holds)
or delete it. Nothing is changed here. Exits 1 when any is found, so a deploy script or CI
job can stop on it.
"""

from django.core.management.base import BaseCommand, CommandError

from sites.selectors import devices_with_bad_serial


class Command(BaseCommand):
    help = "List panels whose serial cannot be a DDI controllerId (exit status 1 if any)."

    def handle(self, *args, **options):
        found = 0
        for device, problem in devices_with_bad_serial():
            if not found:
                self.stdout.write("receiver\tsite\tserial\twhy")
            found += 1
            site = device["site"] if device["site"] is not None else "-"
            # repr: a newline, a tab or U+202E in a serial stays visible on one line.
            self.stdout.write(f"{device['receiver']}\t{site}\t{device['serial']!r}\t{problem}")
        if found:
            raise CommandError(f"{found} panel serial(s) break the rule; see sites/serials.py.")
        self.stdout.write("Every panel serial follows the rule.")
