from django.contrib import admin

from .models import SignInFailure


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
