from django.core.serializers.json import DjangoJSONEncoder
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
    position = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    type = models.CharField(max_length=40)
    at = models.DateTimeField(default=timezone.now)
    receiver = models.CharField(max_length=64, blank=True, default="")
    site_number = models.BigIntegerField(null=True, blank=True)
    serial = models.CharField(max_length=64, blank=True, default="")
    job = models.BigIntegerField(null=True, blank=True)
    rollout = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
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
