from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission
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


# Django stores a permission's name once, in English ("Can add receiver"), and its admin shows
# that name; here it is said in the reader's language from the codename and the model's own
# (translated) verbose name.
PERMISSION_ACTIONS = {"add": _("Can add {model}"), "change": _("Can change {model}"),
                      "delete": _("Can delete {model}"), "view": _("Can view {model}")}
# The project's own permissions (Meta.permissions), by codename.
PERMISSION_NAMES = {"approve_updatejob": _("Can approve update jobs")}


def permission_words(permission: Permission) -> str:
    """"Администрирование | запись в журнале | Добавление" rather than "... | Can add log entry"."""
    model = permission.content_type.model_class()
    action, _sep, model_name = permission.codename.partition("_")
    if model is not None and action in PERMISSION_ACTIONS and model_name == model._meta.model_name:
        name = str(PERMISSION_ACTIONS[action]).format(model=model._meta.verbose_name)
    else:
        name = str(PERMISSION_NAMES.get(permission.codename, permission.name))
    return f"{permission.content_type} | {name}"


class PermissionsInWords:
    """The permissions' choices of a group or a user, in the reader's language."""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name in ("permissions", "user_permissions"):
            field.label_from_instance = permission_words
        return field


admin.site.unregister(Group)
admin.site.unregister(get_user_model())


@admin.register(Group)
class OperatorGroupAdmin(PermissionsInWords, GroupAdmin):
    pass


@admin.register(get_user_model())
class OperatorAdmin(PermissionsInWords, UserAdmin):
    pass
