from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .events import EventType
from .models import Event, SignInFailure


@admin.register(SignInFailure)
class SignInFailureAdmin(admin.ModelAdmin):
    """The sign-in audit: read only (rows are written by core.signin)."""

    list_display = ("at", "username", "address", "entry")
    list_filter = ("entry",)
    search_fields = ("username", "=address")
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The alarm centre's events (docs/security-center.md): read only, written with the changes
    they report (core.events)."""

    list_display = ("position", "type_words", "type", "at", "receiver", "site_number", "serial", "job", "rollout")
    list_filter = ("type",)
    search_fields = ("=receiver", "=serial")
    ordering = ("-id",)

    @admin.display(description=_("event"), ordering="type")
    def type_words(self, obj):
        """What happened in the operator's words; `type` is the code webhooks and the feed carry."""
        try:
            return EventType(obj.type).label
        except ValueError:
            return obj.type

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
