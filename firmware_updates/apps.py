from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FirmwareUpdatesConfig(AppConfig):
    name = "firmware_updates"
    verbose_name = _("Firmware updates")

    def ready(self):
        from django.db.models.signals import post_migrate

        from . import schedules

        post_migrate.connect(schedules.install_on_migrate, sender=self)
