from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SitesConfig(AppConfig):
    name = "sites"
    label = "sites"
    verbose_name = _("Sites and devices")

    def ready(self):
        from django.db.models.signals import post_migrate

        from . import tally

        # The tally's triggers (again) and its check, after every migrate (sites/tally.py).
        post_migrate.connect(tally.install_on_migrate, sender=self)
