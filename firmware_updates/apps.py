from django.apps import AppConfig


class FirmwareUpdatesConfig(AppConfig):
    name = "firmware_updates"
    verbose_name = "Firmware updates"

    def ready(self):
        from django.db.models.signals import post_migrate

        from . import schedules

        post_migrate.connect(schedules.install_on_migrate, sender=self)
