from django.db import models
from django.utils import timezone


class SignInFailure(models.Model):
    """A failed sign-in: which name was tried, from which address, through which door.

    Its own table rather than the admin's LogEntry (core/audit.py), which needs an existing
    user: most names tried by a guesser belong to nobody. Written by core.signin for every
    `user_login_failed` (panel, admin, API token); read in the admin by superusers.
    """

    class Entry(models.TextChoices):
        PANEL = "panel", "Panel"
        ADMIN = "admin", "Admin"
        API = "api", "API token"
        OTHER = "other", "Other"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    username = models.CharField(max_length=150, blank=True)
    # Text, not an IP field: with trusted proxies it is what they forwarded (core.signin).
    address = models.CharField(max_length=64, blank=True)
    entry = models.CharField(max_length=8, choices=Entry.choices)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.username or '(no name)'} from {self.address or '?'} ({self.entry})"
