"""The operator's own preferences (core/preferences.py)."""

from functools import cache
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


@cache
def zone_names() -> list[str]:
    # The tz database's own names (Europe/Moscow, Asia/Yekaterinburg), not the legacy aliases.
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


def zone_choices():
    return [("", _("The receiver's time zone")), ("UTC", "UTC"), *((z, z.replace("_", " ")) for z in zone_names())]


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), required=False,
                                 choices=lambda: [("", _("The browser's language")), *settings.LANGUAGES],
                                 widget=forms.Select(attrs={"data-testid": "preferences-language"}))
    time_zone = forms.ChoiceField(
        label=_("Time zone"), required=False, choices=zone_choices,
        help_text=_("Every time in the panel and the admin is shown in it. Empty: the time zone of the "
                    "receiver whose page you look at (the server's elsewhere)."),
        widget=forms.Select(attrs={"data-testid": "preferences-time-zone"}),
    )
