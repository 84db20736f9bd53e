from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
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


class Event(models.Model):
    """One thing the alarm centre's console may act on (docs/security-center.md): a job queued,
    an install started, a panel that did not come back, a rollout paused, a site's consent
    changed. Written by `core.events.record` in the transaction of the change it reports, so
    nothing is reported that did not happen and nothing happens unreported. Read by the feed
    (`GET /api/v1/events/`) and delivered to the receiver's webhooks, both from this table.

    Plain denormalised columns rather than foreign keys: an event outlives its job, site or
    rollout, says what they were called at the time, and is written from any layer (the
    `sites` app cannot import the update app).

    `position` is the feed's `id`: assigned after commit, in order, by one sequencer at a time
    (`core.events.events_sequence`), so a reader polling `after=<id>` never misses an event
    that commits late (on PostgreSQL, `id`s from the sequence commit out of order).
    """

    # Not a foreign key target anywhere: the primary key only orders the sequencer's work.
    id = models.BigAutoField(primary_key=True)
    position = models.BigIntegerField(_("position"), null=True, blank=True, unique=True, editable=False)
    type = models.CharField(_("type"), max_length=40)
    at = models.DateTimeField(_("at"), default=timezone.now)
    receiver = models.CharField(_("receiver"), max_length=64, blank=True, default="")
    site_number = models.BigIntegerField(_("site number"), null=True, blank=True)
    serial = models.CharField(_("serial"), max_length=64, blank=True, default="")
    job = models.BigIntegerField(_("job"), null=True, blank=True)
    rollout = models.BigIntegerField(_("rollout"), null=True, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["position"]
        indexes = [
            # The feed filtered by receiver (the console's usual question), in feed order.
            models.Index(fields=["receiver", "position"], name="event_receiver_position"),
            models.Index(fields=["type", "position"], name="event_type_position"),
            # The sequencer's work: events committed but not yet in the feed.
            models.Index(fields=["id"], condition=models.Q(position__isnull=True), name="event_unsequenced"),
            # Retention.
            models.Index(fields=["at"], name="event_at"),
        ]

    def __str__(self):
        about = " ".join(str(part) for part in (self.receiver, self.site_number, self.serial) if part)
        return f"{self.position or '-'} {self.type} {about}".strip()


def time_zone_validator(value: str) -> None:
    """An IANA time zone name the system's tz database knows, e.g. "Europe/Moscow"."""
    try:
        ZoneInfo(value)
    # OSError: a name longer than a file name may be (ZoneInfo looks for the file).
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
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
