from django.contrib import admin

from .models import Device, DeviceType, Site


@admin.register(DeviceType)
class DeviceTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "code")
    search_fields = ("name", "code")


class DeviceInline(admin.StackedInline):
    model = Device
    extra = 0
    max_num = 1
    can_delete = False
    fields = ("serial", "device_type", "hardware_revision", "firmware_version", "channels", "partitions",
              "last_seen", "token_set")
    readonly_fields = ("last_seen", "token_set")
    autocomplete_fields = ("device_type",)

    @admin.display(description="Target token", boolean=True)
    def token_set(self, obj):
        return bool(obj.token_hash)


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("number", "name", "receiver", "panel_serial", "panel_type", "panel_firmware", "created_at")
    list_filter = ("receiver", "device__device_type")
    search_fields = ("=number", "name", "device__serial")
    list_select_related = ("receiver", "device__device_type")
    autocomplete_fields = ("receiver",)
    inlines = (DeviceInline,)

    def save_formset(self, request, form, formset, change):
        # The panel's receiver is denormalised from its site (fleet statistics group on it).
        for device in formset.save(commit=False):
            device.receiver_id = form.instance.receiver_id
            device.save()
        formset.save_m2m()

    @admin.display(description="Panel", ordering="device__serial")
    def panel_serial(self, obj):
        device = getattr(obj, "device", None)
        return device.serial if device else "—"

    @admin.display(description="Device type", ordering="device__device_type__name")
    def panel_type(self, obj):
        device = getattr(obj, "device", None)
        return device.device_type if device and device.device_type else "—"

    @admin.display(description="Firmware", ordering="device__firmware_version_key")
    def panel_firmware(self, obj):
        device = getattr(obj, "device", None)
        return device.firmware_version if device else "—"


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("serial", "site", "receiver", "device_type", "hardware_revision", "firmware_version",
                    "has_ip_channel", "last_seen")
    list_filter = ("receiver", "device_type", "has_ip_channel", "hardware_revision")
    search_fields = ("serial", "=site__number", "firmware_version")
    list_select_related = ("site", "receiver", "device_type")
    autocomplete_fields = ("site", "receiver", "device_type")
    # The target token is stored only as a hash: never shown or edited here (the API rotates it).
    readonly_fields = ("token_set", "has_ip_channel", "firmware_version_key", "active_job", "attributes",
                       "attributes_at", "last_seen", "created_at")
    fieldsets = (
        (None, {"fields": ("serial", "site", "receiver", "device_type")}),
        ("Panel", {"fields": ("hardware_revision", "firmware_version", "channels", "has_ip_channel", "partitions",
                              "settings_digest", "active_job")}),
        ("Reported", {"fields": ("attributes", "attributes_at", "last_seen", "token_set", "created_at")}),
    )

    @admin.display(description="Target token", boolean=True)
    def token_set(self, obj):
        return bool(obj.token_hash)
