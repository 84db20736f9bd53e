from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class SignInFailure(models.Model):
    """A failed sign-in: which name was tried, from which address, through which door.

    Its own table rather than the admin's LogEntry (core/audit.py), which needs an existing
    user: most names tried by a guesser belong to nobody. Written by core.signin for every
    `user_login_failed` (panel, admin, API token); read in the admin by superusers.
    """

    class Entry(models.TextChoices):
        PANEL = "panel", _("Panel")
        ADMIN = "admin", _("Admin")
        API = "api", _("API token")
        OTHER = "other", _("Other")

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    username = models.CharField(_("user name"), max_length=150, blank=True)
    # Text, not an IP field: with trusted proxies it is what they forwarded (core.signin).
    address = models.CharField(_("address"), max_length=64, blank=True)
    entry = models.CharField(_("entry"), max_length=8, choices=Entry.choices)

    class Meta:
        verbose_name = _("failed sign-in")
        verbose_name_plural = _("failed sign-ins")
        ordering = ["-at", "-id"]

    def __str__(self):
        return gettext("{username} from {address} ({entry})").format(
            username=self.username or gettext("(no name)"), address=self.address or "?", entry=self.get_entry_display())


def time_zone_validator(value: str) -> None:
    """An IANA time zone name the system's tz database knows, e.g. "Europe/Moscow"."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError(_("%(value)r is not a time zone name (IANA, e.g. Europe/Moscow)."),
                              code="invalid_time_zone", params={"value": value}) from None


class OperatorPreferences(models.Model):
    """What an operator chose for themselves: the panel's language and time zone.

    Empty means "not chosen": the language is then the switcher's cookie or the browser's,
    the time zone the receiver's of the page (else the server's TIME_ZONE). Read once at
    sign-in into the session (core/preferences.py), so no request pays a query for it.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="preferences", verbose_name=_("user"))
    language = models.CharField(_("language"), max_length=8, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True, validators=[time_zone_validator],
                                 help_text=_("IANA name, e.g. Europe/Moscow; empty: the receiver's time zone."))

    class Meta:
        verbose_name = _("operator preferences")
        verbose_name_plural = _("operator preferences")

    def __str__(self):
        return str(self.user)
