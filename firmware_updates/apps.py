from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FirmwareUpdatesConfig(AppConfig):
    name = "firmware_updates"
    verbose_name = _("Firmware updates")

    def ready(self):
        from django.db.models.signals import post_migrate

        from core import events

        from . import schedules, tally
        from .services.notifications import events_committed

        post_migrate.connect(schedules.install_on_migrate, sender=self)
        # The rollouts' job tally's triggers (again), with its check (firmware_updates/tally.py).
        post_migrate.connect(tally.install_on_migrate, sender=self)
        # Events committed (core.events): the webhooks' outbox delivers them.
        events.subscribe(events_committed)
