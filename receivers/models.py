from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.dateparse import parse_duration
from django.utils.translation import gettext_lazy as _

from core.models import time_zone_validator as core_time_zone_validator

code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,63}$",
    "Use lower-case letters, digits, '-' and '_' (it becomes part of device URLs).",
)


def default_poll_sleep() -> timedelta:
    return parse_duration(settings.DDI_POLL_SLEEP) or timedelta(minutes=5)


def default_time_zone() -> str:
    return settings.TIME_ZONE


# The one rule for a time zone name (also the operators' own, core.models); named here for
# the migrations that refer to it.
time_zone_validator = core_time_zone_validator


class Receiver(models.Model):
    """A receiving server of the monitoring suite; its code is the DDI tenant."""

    code = models.CharField(_("code"), max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(_("name"), max_length=200)
    wakeup_url = models.URLField(_("wake-up URL"),
        blank=True, help_text=_("POSTed {receiver, command: poll-now, serials} to wake panels.")
    )
    poll_sleep = models.DurationField(_("poll sleep"),
        default=default_poll_sleep, help_text=_("How long idle panels sleep between polls.")
    )
    gateway_token_hash = models.CharField(_("gateway token hash"), max_length=64, blank=True, db_index=True, editable=False)
    time_zone = models.CharField(_("time zone"),
        max_length=64, default=default_time_zone, validators=[time_zone_validator],
        help_text=_("IANA name, e.g. Europe/Berlin: the install window's times are local times there."),
    )
    # A daily window in the receiver's time zone; outside it panels download but do not install
    # (firmware_updates/install_windows.py). Both or neither; start > end crosses midnight.
    install_window_start = models.TimeField(_("install window start"), null=True, blank=True)
    install_window_end = models.TimeField(_("install window end"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("receiver")
        verbose_name_plural = _("receivers")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(poll_sleep__gte=timedelta(seconds=1)),
                name="receiver_poll_sleep_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(install_window_start__isnull=True, install_window_end__isnull=True)
                | (models.Q(install_window_start__isnull=False, install_window_end__isnull=False)
                   & ~models.Q(install_window_start=models.F("install_window_end"))),
                name="receiver_install_window_both_or_neither",
                violation_error_message="An install window needs both a start and an end, and they must differ.",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def offline_after(self) -> timedelta:
        return self.poll_sleep * settings.DEVICE_OFFLINE_AFTER_POLLS
