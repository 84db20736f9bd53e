"""Django admin for device types, sites and their panels. Writes go through sites.services, as
in the API: the same rules (shown on the form's fields) and the same audit record."""

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin_support import AuditedByServices, ServiceCheckedForm, form_changes

from . import services
from .models import Channel, Device, DeviceType, Site

_NUMBERS = re.compile(r"\s*\d{1,3}\s*(?:,\s*\d{1,3}\s*)*")


class ChannelsField(forms.MultipleChoiceField):
    """A panel's channels as boxes to tick, in the reader's language (the API takes the codes)."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        super().__init__(choices=Channel.choices, required=False, **kwargs)


class PartitionsWidget(forms.MultiWidget):
    def __init__(self):
        super().__init__([
            forms.TextInput(attrs={"aria-label": _("Armed partitions"), "placeholder": _("armed: 1, 3"),
                                   "inputmode": "numeric"}),
            forms.TextInput(attrs={"aria-label": _("Disarmed partitions"), "placeholder": _("disarmed: 2"),
                                   "inputmode": "numeric"}),
        ])

    def decompress(self, value):
        partitions = [p for p in value or [] if isinstance(p, dict)]
        return [", ".join(str(p.get("number")) for p in partitions if state is bool(p.get("armed")))
                for state in (True, False)]


class PartitionsField(forms.MultiValueField):
    """A panel's partitions as two lists of numbers, the armed and the disarmed ones, instead
    of the API's JSON ([{"number": 1, "armed": true}]): no English word to type or read."""

    widget = PartitionsWidget

    def __init__(self, **kwargs):
        super().__init__(fields=[forms.CharField(required=False), forms.CharField(required=False)],
                         require_all_fields=False, required=False, **kwargs)
        self.help_text = _("Partition numbers separated by commas: first those armed, then those disarmed.")

    def prepare_value(self, value):
        # The stored list of dicts (a list, so MultiWidget would take it as already split).
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            return self.widget.decompress(value)
        return value

    def has_changed(self, initial, data):
        try:
            given = self.compress(data if isinstance(data, list) else self.widget.decompress(data))
        except ValidationError:
            return True
        stored = sorted(({"number": p.get("number"), "armed": bool(p.get("armed"))} for p in initial or []
                         if isinstance(p, dict)), key=lambda p: p["number"])
        return given != stored

    def compress(self, data_list):
        armed, disarmed = ((data_list or []) + ["", ""])[:2]
        partitions = {}
        for text, state in ((armed, True), (disarmed, False)):
            if not (text or "").strip():
                continue
            if not _NUMBERS.fullmatch(text):
                raise ValidationError(gettext("Give partition numbers separated by commas, e.g. 1, 3."))
            for number in (int(part) for part in text.split(",")):
                if partitions.get(number, state) != state:
                    raise ValidationError(gettext("Partition {number} cannot be both armed and disarmed.").format(
                        number=number))
                partitions[number] = state
        return [{"number": number, "armed": state} for number, state in sorted(partitions.items())]



@admin.register(DeviceType)
class DeviceTypeAdmin(AuditedByServices, admin.ModelAdmin):
    list_display = ("name", "code", "expected_offline_seconds")
    search_fields = ("name", "code")
    fields = ("code", "name", "expected_offline_seconds")

    def get_readonly_fields(self, request, obj=None):
        # The code is the board name its releases' archives carry: set once.
        return ("code",) if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            services.device_type_update(device_type=obj, actor=request.user, **form_changes(form))
        else:
            created = services.device_type_create(code=obj.code, name=obj.name, actor=request.user,
                                                  expected_offline_seconds=obj.expected_offline_seconds)
            obj.pk = created.pk


class DeviceForm(ServiceCheckedForm):
    """A panel's fields, checked by the rule of the API and the services (device_fields_validate)."""

    channels = ChannelsField(label=_("channels"))
    partitions = PartitionsField(label=_("partitions"))

    def service_check(self, **values):
        services.device_fields_validate(device=self.instance if self.instance.pk else None, **values)


class DeviceInline(admin.StackedInline):
    model = Device
    form = DeviceForm
    extra = 0
    max_num = 1
    can_delete = False
    fields = ("serial", "device_type", "hardware_revision", "firmware_version", "channels", "partitions",
              "last_seen", "token_set")
    readonly_fields = ("last_seen", "token_set")
    autocomplete_fields = ("device_type",)

    def has_add_permission(self, request, obj=None):
        return False  # a panel comes with its site (site_create) or registers through its gateway

    @admin.display(description=_("Target token"), boolean=True)
    def token_set(self, obj):
        return bool(obj.token_hash)


class SiteForm(ServiceCheckedForm):
    def service_check(self, **values):
        services.site_fields_validate(site=self.instance, **values)  # as stored: the form changes it later


PANEL_FIELDS = ("serial", "device_type", "hardware_revision", "firmware_version", "channels", "partitions")


class SiteAddForm(ServiceCheckedForm):
    """A site with its panel, as site_create takes them (it also issues the panel's TargetToken)."""

    serial = Device._meta.get_field("serial").formfield()
    device_type = Device._meta.get_field("device_type").formfield(required=True)
    hardware_revision = Device._meta.get_field("hardware_revision").formfield()
    firmware_version = Device._meta.get_field("firmware_version").formfield()
    channels = ChannelsField(label=_("channels"))
    partitions = PartitionsField(label=_("partitions"))

    def service_check(self, *, receiver=None, number=None, name=None, address=None, remote_update=None, **panel):
        if receiver is not None and number is not None:
            services.site_fields_validate(receiver=receiver, number=number)
        services.device_fields_validate(**panel)


@admin.register(Site)
class SiteAdmin(AuditedByServices, admin.ModelAdmin):
    list_display = ("number", "name", "address", "receiver", "remote_update", "panel_serial", "panel_type",
                    "panel_firmware", "created_at")
    list_filter = ("receiver", "remote_update", "device__device_type")
    search_fields = ("=number", "name", "address", "device__serial")
    list_select_related = ("receiver", "device__device_type")
    autocomplete_fields = ("receiver",)
    form = SiteForm
    inlines = (DeviceInline,)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = SiteAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ("receiver", "number", "name", "address", "remote_update")}),
                    (_("Panel"), {"fields": PANEL_FIELDS})]
        return super().get_fieldsets(request, obj)

    def get_inlines(self, request, obj):
        return self.inlines if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            # Moved to another receiver, the site's panel goes along (site_update).
            services.site_update(site=obj, actor=request.user, **form_changes(form))
            return
        site, token = services.site_create(actor=request.user, **form.cleaned_data)
        obj.pk = site.pk  # the admin answers with `obj`: it becomes the row the service wrote
        obj.refresh_from_db()
        self.message_user(request, gettext("TargetToken of panel {serial}: {token} — set it in the panel now: it is "
                                           "stored only as a hash and is not shown again.").format(
                                               serial=site.device.serial, token=token), messages.WARNING)

    def save_formset(self, request, form, formset, change):
        for device_form in formset.forms:
            if device_form.instance.pk and device_form.has_changed():
                services.device_update(device=device_form.instance, actor=request.user, **form_changes(device_form))

    @admin.display(description=_("Panel"), ordering="device__serial")
    def panel_serial(self, obj):
        device = getattr(obj, "device", None)
        return device.serial if device else "—"

    @admin.display(description=_("Device type"), ordering="device__device_type__name")
    def panel_type(self, obj):
        device = getattr(obj, "device", None)
        return device.device_type if device and device.device_type else "—"

    @admin.display(description=_("Firmware"), ordering="device__firmware_version_key")
    def panel_firmware(self, obj):
        device = getattr(obj, "device", None)
        return device.firmware_version if device else "—"


@admin.register(Device)
class DeviceAdmin(AuditedByServices, admin.ModelAdmin):
    list_display = ("serial", "site", "receiver", "device_type", "hardware_revision", "firmware_version",
                    "has_ip_channel", "last_seen")
    list_filter = ("receiver", "device_type", "has_ip_channel", "hardware_revision")
    search_fields = ("serial", "=site__number", "firmware_version")
    list_select_related = ("site", "receiver", "device_type")
    autocomplete_fields = ("site", "device_type")
    form = DeviceForm
    # The target token is stored only as a hash: never shown or edited here (the API rotates it).
    # The receiver is the site's (device_update moves the panel with a site on another receiver).
    readonly_fields = ("receiver", "token_set", "has_ip_channel", "firmware_version_key", "active_job", "attributes",
                       "attributes_at", "last_seen", "created_at")
    fieldsets = (
        (None, {"fields": ("serial", "site", "receiver", "device_type")}),
        (_("Panel"), {"fields": ("hardware_revision", "firmware_version", "channels", "has_ip_channel", "partitions",
                              "settings_digest", "active_job")}),
        (_("Reported by the panel"), {"fields": ("attributes", "attributes_at", "last_seen", "token_set", "created_at")}),
    )

    def has_add_permission(self, request):
        return False  # a panel comes with its site (Add site, POST sites/) or registers through its gateway

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "site":
            field.widget.can_add_related = False  # a new site comes with a panel of its own (site_create)
        return field

    def save_model(self, request, obj, form, change):
        services.device_update(device=obj, actor=request.user, **form_changes(form))

    @admin.display(description=_("Target token"), boolean=True)
    def token_set(self, obj):
        return bool(obj.token_hash)
