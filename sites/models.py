from django.core.validators import RegexValidator
from django.db import models

from .serials import serial_validate
from .versions import version_key

code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,63}$", "Use lower-case letters, digits, '-' and '_'."
)

IP_CHANNELS = frozenset({"gprs", "ethernet"})


class Channel(models.TextChoices):
    GPRS = "gprs", "GPRS"
    ETHERNET = "ethernet", "Ethernet"
    GSM_VOICE = "gsm_voice", "GSM voice"
    SMS = "sms", "SMS"
    PSTN = "pstn", "PSTN"
    RADIO = "radio", "Radio"


class DeviceType(models.Model):
    """A model of panel, e.g. "Nord GSM" (code nord-gsm, SWUpdate's board name)."""

    code = models.CharField(max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Site(models.Model):
    """A protected object, known to operators by its number on its receiver."""

    receiver = models.ForeignKey("receivers.Receiver", on_delete=models.PROTECT, related_name="sites")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200, blank=True)
    address = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["receiver", "number"]
        constraints = [
            models.UniqueConstraint(fields=["receiver", "number"], name="site_number_unique_per_receiver")
        ]

    def __str__(self):
        return f"Site {self.number}" + (f" ({self.name})" if self.name else "")


class Device(models.Model):
    """The panel installed at a site. Its serial is the DDI controllerId."""

    # Empty for a panel a gateway registered before anyone told us its site (DESIGN.md 4).
    site = models.OneToOneField(
        Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="device"
    )
    # Denormalised from site so fleet statistics group by (receiver, device type) on one index.
    # No index of its own: device_fleet_idx starts with it (each index is written again by
    # every device update that cannot stay on its page, 100,000 of them in a rollout).
    receiver = models.ForeignKey("receivers.Receiver", on_delete=models.PROTECT, related_name="devices",
                                 db_index=False)
    serial = models.CharField(max_length=64, validators=[serial_validate])  # sites/serials.py
    device_type = models.ForeignKey(
        DeviceType, null=True, blank=True, on_delete=models.PROTECT, related_name="devices"
    )
    hardware_revision = models.CharField(max_length=32, blank=True)
    firmware_version = models.CharField(max_length=40, blank=True)
    firmware_version_key = models.CharField(max_length=40, blank=True, editable=False)
    channels = models.JSONField(default=list, blank=True)
    # Kept by the services that write `channels`: GPRS or Ethernet present (seed: only IP panels update).
    has_ip_channel = models.BooleanField(default=False, editable=False)
    partitions = models.JSONField(
        default=list, blank=True, help_text='[{"number": 1, "armed": true}, ...]'
    )
    settings_digest = models.CharField(max_length=128, blank=True)
    attributes = models.JSONField(default=dict, blank=True, help_text="Last DDI configData.")
    attributes_at = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    # The device's active update job (NULL: none). A copy of what the partial unique index
    # "one active job per device" of firmware_updates says, so fleet statistics and lists need
    # no join with the jobs. Written only by the job services, in SQL, in the transaction that
    # queues or finishes the job; reconciliation repairs any drift (DEVELOPERS.md). No
    # constraint in the database: a rollout writes 100,000 of them at once, and the check of
    # each at commit cost up to a second there; a deleted job is still forgotten (SET_NULL by
    # Django's delete), and the repair finds any pointer to a job that is gone.
    active_job = models.ForeignKey(
        "firmware_updates.UpdateJob", null=True, blank=True, editable=False, on_delete=models.SET_NULL,
        related_name="+", db_constraint=False,
    )
    # The final state of the device's newest finished job (succeeded, failed, cancelled; ""
    # never updated): the red breakdown's "last update failed / cancelled" without reading the
    # jobs. Written with `active_job` by the job services when a job finishes
    # (`device_active_job_clear`), never by `save()`.
    last_outcome = models.CharField(max_length=16, blank=True, editable=False)
    # NULL (not "") for a panel without a token: unique among those that have one.
    token_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["serial"]
        # Constraints rather than unique=True: on PostgreSQL that adds a second, LIKE-pattern
        # index to each column, which nothing here queries by pattern.
        constraints = [
            models.UniqueConstraint(fields=["serial"], name="device_serial_unique"),
            models.UniqueConstraint(fields=["token_hash"], name="device_token_hash_unique"),
        ]
        indexes = [
            models.Index(fields=["receiver", "device_type", "firmware_version_key"], name="device_fleet_idx"),
        ]

    def __str__(self):
        return self.serial

    def save(self, *args, **kwargs):
        self.refresh_derived()
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            # A whole-row save of an instance read earlier (admin, configData) must not put back
            # an active_job another transaction has changed since: that column is the job
            # services' alone.
            kwargs["update_fields"] = [f.name for f in self._meta.concrete_fields
                                       if not f.primary_key and f.name not in ("active_job", "last_outcome")]
        super().save(*args, **kwargs)

    def refresh_derived(self) -> None:
        """Derived columns only (sort key, channel flag); bulk writers call this themselves."""
        self.firmware_version_key = version_key(self.firmware_version)
        self.has_ip_channel = bool(IP_CHANNELS.intersection(self.channels or []))

    @property
    def any_partition_disarmed(self) -> bool:
        return any(not p.get("armed") for p in self.partitions or [])
