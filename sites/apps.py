from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SitesConfig(AppConfig):
    name = "sites"
    label = "sites"
    verbose_name = _("Sites and devices")

    def ready(self):
        from django.db.models.signals import post_migrate

        from . import search, tally

        # The tally's and the search text's triggers (again), with their checks, after every
        # migrate (sites/tally.py, sites/search.py).
        post_migrate.connect(tally.install_on_migrate, sender=self)
        post_migrate.connect(search.install_on_migrate, sender=self)
        from .models import Device

        Device._meta.get_field("search_text").register_lookup(search.SearchContains)
