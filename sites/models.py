from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .serials import serial_validate
from .versions import version_key

code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,63}$", "Use lower-case letters, digits, '-' and '_'."
)

IP_CHANNELS = frozenset({"gprs", "ethernet"})
# A device type's expected offline window (seconds): the seed's 10-second install plus a
# reboot and the registration again over GPRS by default; at most a day.
EXPECTED_OFFLINE_SECONDS = 180
EXPECTED_OFFLINE_MIN, EXPECTED_OFFLINE_MAX = 10, 86400


class Power(models.TextChoices):
    """What a panel runs on, as it reports it (configData `power`)."""

    MAINS = "mains", _("Mains")
    BATTERY = "battery", _("Battery")


class Battery(models.TextChoices):
    """Its backup battery, as it reports it (configData `battery`)."""

    OK = "ok", _("OK")
    LOW = "low", _("Low")


class Channel(models.TextChoices):
    GPRS = "gprs", _("GPRS")
    ETHERNET = "ethernet", _("Ethernet")
    GSM_VOICE = "gsm_voice", _("GSM voice")
    SMS = "sms", _("SMS")
    PSTN = "pstn", _("PSTN")
    RADIO = "radio", _("Radio")


class DeviceType(models.Model):
    """A model of panel, e.g. "Nord GSM" (code nord-gsm, SWUpdate's board name)."""

    code = models.CharField(_("code"), max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(_("name"), max_length=200)
    # How long a panel of this type is expected off the line once it starts installing: the
    # seed's install (at most 10 s) plus the reboot and its registration again over GPRS.
    # Announced to the alarm centre with the install (job.install_started); a panel not heard
    # from when it has passed "did not come back" (device.not_returned, docs/security-center.md).
    expected_offline_seconds = models.PositiveIntegerField(
        _("expected offline (seconds)"), default=EXPECTED_OFFLINE_SECONDS,
        validators=[MinValueValidator(EXPECTED_OFFLINE_MIN), MaxValueValidator(EXPECTED_OFFLINE_MAX)],
        help_text=_("How long a panel of this type stays off the line to install an update: the alarm "
                    "centre's console stays quiet for that long; a panel not back by then is reported."),
    )

    class Meta:
        verbose_name = _("device type")
        verbose_name_plural = _("device types")
        ordering = ["name"]

    def __str__(self):
        return self.name


class RemoteUpdate(models.TextChoices):
    """A site's consent to remote software updates (its owner's or its contract's): allowed;
    each update approved by an operator allowed to approve; forbidden (never queued)."""

    ALLOWED = "allowed", _("Allowed")
    APPROVAL = "approval", _("Each update needs approval")
    FORBIDDEN = "forbidden", _("Forbidden")


# What a site says when it says anything but "allowed": `site_consent_idx` holds those sites.
CONSENT_ASKED = (RemoteUpdate.APPROVAL, RemoteUpdate.FORBIDDEN)


class _SaysConsent(models.Func):
    """`site_consent_idx`'s own condition, its values written in the SQL: SQLite uses a
    partial index only for a query that has the index's condition word for word (with bound
    parameters it reads all 100,000 sites, 20 ms, then 0.3 ms); PostgreSQL proves it either
    way. (Site.objects.consenting)"""

    template = "%(expressions)s IN (" + ", ".join(f"'{value}'" for value in CONSENT_ASKED) + ")"
    output_field = models.BooleanField()


class SiteQuerySet(models.QuerySet):
    def consenting(self, value: str) -> "SiteQuerySet":
        """The sites whose `remote_update` is `value`, approval or forbidden (the few that say
        anything but allowed), found by `site_consent_idx` on every database."""
        assert value in CONSENT_ASKED, value
        return self.filter(_SaysConsent(models.F("remote_update")), remote_update=value)


class Site(models.Model):
    """A protected object, known to operators by its number on its receiver."""

    receiver = models.ForeignKey("receivers.Receiver", verbose_name=_("receiver"), on_delete=models.PROTECT, related_name="sites")
    number = models.PositiveIntegerField(_("number"))
    name = models.CharField(_("name"), max_length=200, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    # Read by the eligibility rule (forbidden) and by queueing (approval): firmware_updates.
    remote_update = models.CharField(_("remote update"), max_length=16, choices=RemoteUpdate.choices,
                                     default=RemoteUpdate.ALLOWED)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = SiteQuerySet.as_manager()

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["receiver", "number"]
        constraints = [
            models.UniqueConstraint(fields=["receiver", "number"], name="site_number_unique_per_receiver")
        ]
        indexes = [
            # The eligibility rule asks which sites forbid updates, queueing which ask for
            # approval (firmware_updates.eligibility.site_consent), every time for the whole
            # fleet: few sites say anything but `allowed`, so only those are in it.
            models.Index(fields=["remote_update"], name="site_consent_idx",
                         condition=models.Q(remote_update__in=list(CONSENT_ASKED))),
        ]

    def __str__(self):
        if self.name:
            return gettext("Site {number} ({name})").format(number=self.number, name=self.name)
        return gettext("Site {number}").format(number=self.number)


# Device columns `save()` never writes back: the job services' (active job, last outcome) and
# the database's own (sites/search.py: the site's words on the panel's row).
DATABASE_KEPT = ("active_job", "last_outcome", "search_text", "site_number", "site_name")


class Device(models.Model):
    """The panel installed at a site. Its serial is the DDI controllerId."""

    # Empty for a panel a gateway registered before anyone told us its site (DESIGN.md 4).
    site = models.OneToOneField(
        Site, verbose_name=_("site"), null=True, blank=True, on_delete=models.SET_NULL, related_name="device"
    )
    # Denormalised from site so fleet statistics group by (receiver, device type) on one index.
    # No index of its own: device_fleet_idx starts with it (each index is written again by
    # every device update that cannot stay on its page, 100,000 of them in a rollout).
    receiver = models.ForeignKey("receivers.Receiver", verbose_name=_("receiver"), on_delete=models.PROTECT, related_name="devices",
                                 db_index=False)
    serial = models.CharField(_("serial"), max_length=64, validators=[serial_validate])  # sites/serials.py
    device_type = models.ForeignKey(
        DeviceType, verbose_name=_("device type"), null=True, blank=True, on_delete=models.PROTECT, related_name="devices"
    )
    hardware_revision = models.CharField(_("hardware revision"), max_length=32, blank=True)
    firmware_version = models.CharField(_("firmware version"), max_length=40, blank=True)
    firmware_version_key = models.CharField(_("firmware version key"), max_length=40, blank=True, editable=False)
    channels = models.JSONField(_("channels"), default=list, blank=True)
    # Kept by the services that write `channels`: GPRS or Ethernet present (seed: only IP panels update).
    has_ip_channel = models.BooleanField(_("has ip channel"), default=False, editable=False)
    partitions = models.JSONField(_("partitions"),
        default=list, blank=True, help_text='[{"number": 1, "armed": true}, ...]'
    )
    settings_digest = models.CharField(_("settings digest"), max_length=128, blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True, help_text=_("Last DDI configData."))
    attributes_at = models.DateTimeField(_("attributes at"), null=True, blank=True)
    last_seen = models.DateTimeField(_("last seen"), null=True, blank=True)
    # Away to install (docs/security-center.md): set when its job starts installing, cleared
    # by its next request to the server (`services.device_touch`). Past `install_offline_until`
    # without a word, beat's reconciliation sets `not_returned_since` (= when it left) once.
    install_offline_since = models.DateTimeField(_("install offline since"), null=True, blank=True, editable=False)
    install_offline_until = models.DateTimeField(_("install offline until"), null=True, blank=True, editable=False)
    install_offline_job = models.BigIntegerField(_("install offline job"), null=True, blank=True, editable=False)
    not_returned_since = models.DateTimeField(_("not returned since"), null=True, blank=True, editable=False)
    # The device's active update job (NULL: none). A copy of what the partial unique index
    # "one active job per device" of firmware_updates says, so fleet statistics and lists need
    # no join with the jobs. Written only by the job services, in SQL, in the transaction that
    # queues or finishes the job; reconciliation repairs any drift (DEVELOPERS.md). No
    # constraint in the database: a rollout writes 100,000 of them at once, and the check of
    # each at commit cost up to a second there; a deleted job is still forgotten (SET_NULL by
    # Django's delete), and the repair finds any pointer to a job that is gone.
    active_job = models.ForeignKey(
        "firmware_updates.UpdateJob", verbose_name=_("active job"), null=True, blank=True, editable=False, on_delete=models.SET_NULL,
        related_name="+", db_constraint=False,
    )
    # The final state of the device's newest finished job (succeeded, failed, cancelled; ""
    # never updated): the red breakdown's "last update failed / cancelled" without reading the
    # jobs. Written with `active_job` by the job services when a job finishes
    # (`device_active_job_clear`), never by `save()`.
    last_outcome = models.CharField(_("last outcome"), max_length=16, blank=True, editable=False)
    # What the panel's search reads: serial, site name and address, a space apart. Kept by the
    # database's triggers (sites/search.py), never by `save()`.
    search_text = models.TextField(_("search text"), blank=True, default="", editable=False)
    # The site's number and name, what the device type page's list sorts by, on the panel's own
    # row so that a sort over thousands of found panels joins no site (sites/search.py: the
    # same triggers, never `save()`). NULL and "" without a site.
    site_number = models.PositiveIntegerField(_("site number"), null=True, blank=True, editable=False)
    site_name = models.CharField(_("site name"), max_length=200, blank=True, default="", editable=False)
    # NULL (not "") for a panel without a token: unique among those that have one.
    token_hash = models.CharField(_("token hash"), max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("panel")
        verbose_name_plural = _("panels")
        ordering = ["serial"]
        # Constraints rather than unique=True: on PostgreSQL that adds a second, LIKE-pattern
        # index to each column, which nothing here queries by pattern.
        constraints = [
            models.UniqueConstraint(fields=["serial"], name="device_serial_unique"),
            models.UniqueConstraint(fields=["token_hash"], name="device_token_hash_unique"),
        ]
        indexes = [
            # The revision last: the list's version and hardware filters together read only the
            # panels they keep (bench `find`, 7,797 of a version's 16,685: 26 -> 12 ms).
            models.Index(fields=["receiver", "device_type", "firmware_version_key", "hardware_revision"],
                         name="device_fleet_idx"),
            # Reconciliation's "did not come back" pass: only panels away installing are in it.
            models.Index(fields=["install_offline_until"], condition=models.Q(install_offline_until__isnull=False),
                         name="device_install_offline_idx"),
            # The device type page's "did not come back" list, on each refresh: only the flagged
            # panels are in it (a pass over the type's 100,000 devices took 14-26 ms).
            models.Index(fields=["receiver", "device_type", "not_returned_since"],
                         condition=models.Q(not_returned_since__isnull=False), name="device_not_returned_idx"),
            # The statistics' offline panels (sites/tally.py: read apart from the tally), without
            # a pass over the type's devices.
            models.Index(fields=["receiver", "device_type", "last_seen"], name="device_seen_idx"),
            # The device type page's list in site number order (its default) and by site name.
            models.Index(fields=["receiver", "device_type", "site_number"], name="device_site_number_idx"),
            models.Index(fields=["receiver", "device_type", "site_name", "site_number"], name="device_site_name_idx"),
        ]

    def __str__(self):
        return self.serial

    def save(self, *args, **kwargs):
        self.refresh_derived()
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            # A whole-row save of an instance read earlier (admin, configData) must not put back
            # an active_job another transaction has changed since: that column is the job
            # services' alone (and the site's words the database's).
            kwargs["update_fields"] = [f.name for f in self._meta.concrete_fields
                                       if not f.primary_key and f.name not in DATABASE_KEPT]
        super().save(*args, **kwargs)

    def refresh_derived(self) -> None:
        """Derived columns only (sort key, channel flag); bulk writers call this themselves."""
        self.firmware_version_key = version_key(self.firmware_version)
        self.has_ip_channel = bool(IP_CHANNELS.intersection(self.channels or []))

    @property
    def any_partition_disarmed(self) -> bool:
        return any(not p.get("armed") for p in self.partitions or [])

    # A panel installs only on mains power with its battery ok (as it installs only while a
    # partition is disarmed): what it last reported (configData `power`, `battery`, checked by
    # sites.services.attributes_parse). A panel that never reported them is not held back.
    @property
    def on_battery(self) -> bool:
        return (self.attributes or {}).get("power") == Power.BATTERY

    @property
    def battery_low(self) -> bool:
        return (self.attributes or {}).get("battery") == Battery.LOW


class DeviceTally(models.Model):
    """How many devices share what the statistics read of them (sites/tally.py): kept by
    database triggers on the devices' table, never written by the application but to check
    and fold it. Plain columns, no foreign keys: a deleted receiver's rows go to zero and are
    folded away. Named as the device's own fields where the eligibility rule reads them
    (`site`, `active_job`: NULL or 1, so the rule's `__isnull` tests read the same; `last_seen`
    NULL or the day of the last contact), so the rule applies to a group as to a device."""

    receiver_id = models.BigIntegerField()
    device_type_id = models.BigIntegerField(null=True)
    site = models.SmallIntegerField(null=True)
    firmware_version = models.CharField(max_length=40)
    firmware_version_key = models.CharField(max_length=40)
    hardware_revision = models.CharField(max_length=32)
    has_ip_channel = models.BooleanField()
    active_job = models.SmallIntegerField(null=True)
    last_outcome = models.CharField(max_length=16)
    last_seen = models.DateTimeField(null=True)  # NULL: never seen; else the day, tally.seen_day
    n = models.IntegerField()

    class Meta:
        verbose_name = _("device tally")
        indexes = [models.Index(fields=["receiver_id", "device_type_id"], name="device_tally_idx")]

    def __str__(self):
        return f"{self.n} × {self.firmware_version or '-'} ({self.hardware_revision or '-'})"
