from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.dateparse import parse_duration

code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,63}$",
    "Use lower-case letters, digits, '-' and '_' (it becomes part of device URLs).",
)


def default_poll_sleep() -> timedelta:
    return parse_duration(settings.DDI_POLL_SLEEP) or timedelta(minutes=5)


def default_time_zone() -> str:
    return settings.TIME_ZONE


def time_zone_validator(value: str) -> None:
    """An IANA time zone name the system's tz database knows, e.g. "Europe/Berlin"."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError(f"{value!r} is not a time zone name (IANA, e.g. Europe/Berlin).",
                              code="invalid_time_zone") from None


class Receiver(models.Model):
    """A receiving server of the monitoring suite; its code is the DDI tenant."""

    code = models.CharField(max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    wakeup_url = models.URLField(
        blank=True, help_text="POSTed {receiver, command: poll-now, serials} to wake panels."
    )
    poll_sleep = models.DurationField(
        default=default_poll_sleep, help_text="How long idle panels sleep between polls."
    )
    gateway_token_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    time_zone = models.CharField(
        max_length=64, default=default_time_zone, validators=[time_zone_validator],
        help_text="IANA name, e.g. Europe/Berlin: the install window's times are local times there.",
    )
    # A daily window in the receiver's time zone; outside it panels download but do not install
    # (firmware_updates/install_windows.py). Both or neither; start > end crosses midnight.
    install_window_start = models.TimeField(null=True, blank=True)
    install_window_end = models.TimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
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
