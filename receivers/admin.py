from django.contrib import admin
from django.db import models
from django.db.models import Count

from .models import Receiver


@admin.register(Receiver)
class ReceiverAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "site_count", "wakeup_url", "poll_sleep", "gateway_token_set", "created_at")
    search_fields = ("code", "name")
    # The gateway token is stored only as a hash: shown as set / not set, never editable.
    # New tokens come from the API (POST receivers/{code}/gateway-token/), shown once.
    readonly_fields = ("gateway_token_set", "created_at")
    fields = ("code", "name", "wakeup_url", "poll_sleep", "gateway_token_set", "created_at")
    # Receivers' wake-up endpoints are usually on the monitoring LAN, often plain http.
    formfield_overrides = {models.URLField: {"assume_scheme": "http"}}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_site_count=Count("sites"))

    @admin.display(description="Sites", ordering="_site_count")
    def site_count(self, obj):
        return obj._site_count

    @admin.display(description="Gateway token", boolean=True)
    def gateway_token_set(self, obj):
        return bool(obj.gateway_token_hash)
