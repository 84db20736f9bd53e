from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReceiversConfig(AppConfig):
    name = "receivers"
    verbose_name = _("Receivers")
