from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.dateparse import parse_duration

code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,63}$",
    "Use lower-case letters, digits, '-' and '_' (it becomes part of device URLs).",
)


def default_poll_sleep() -> timedelta:
    return parse_duration(settings.DDI_POLL_SLEEP) or timedelta(minutes=5)


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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(poll_sleep__gte=timedelta(seconds=1)),
                name="receiver_poll_sleep_positive",
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def offline_after(self) -> timedelta:
        return self.poll_sleep * settings.DEVICE_OFFLINE_AFTER_POLLS
