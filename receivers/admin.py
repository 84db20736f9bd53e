from django.contrib import admin, messages
from django.db import models
from django.db.models import Count
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin_support import AuditedByServices, form_changes

from . import services
from .models import Receiver


@admin.register(Receiver)
class ReceiverAdmin(AuditedByServices, admin.ModelAdmin):
    """Receivers are created and changed through receivers.services, as in the API."""

    list_display = ("code", "name", "site_count", "wakeup_url", "poll_sleep", "gateway_token_set", "created_at")
    search_fields = ("code", "name")
    # The gateway token is stored only as a hash: shown as set / not set, never editable.
    # The first is shown once on creation; new ones come from the API (POST
    # receivers/{code}/gateway-token/), also shown once.
    readonly_fields = ("gateway_token_set", "created_at")
    fields = ("code", "name", "wakeup_url", "poll_sleep", "gateway_token_set", "created_at")
    # Receivers' wake-up endpoints are usually on the monitoring LAN, often plain http.
    formfield_overrides = {models.URLField: {"assume_scheme": "http"}}

    def get_readonly_fields(self, request, obj=None):
        # The code is the DDI tenant in every one of its panels' URLs (receiver_update keeps it).
        return ("code", *self.readonly_fields) if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            services.receiver_update(receiver=obj, actor=request.user, **form_changes(form))
            return
        receiver, token = services.receiver_create(
            code=obj.code, name=obj.name, wakeup_url=obj.wakeup_url, poll_sleep=obj.poll_sleep, actor=request.user
        )
        obj.pk = receiver.pk  # the admin answers with `obj`: it becomes the row the service wrote
        obj.refresh_from_db()
        self.message_user(request, gettext("Gateway token of {receiver}: {token} — give it to the receiver's gateway "
                                           "now: it is stored only as a hash and is not shown again.").format(
                                               receiver=receiver, token=token), messages.WARNING)

    def get_queryset(self, request):
        # The aggregate's GROUP BY drops the model's ordering: the autocomplete pages by it.
        return super().get_queryset(request).annotate(_site_count=Count("sites")).order_by("code")

    @admin.display(description=_("Sites"), ordering="_site_count")
    def site_count(self, obj):
        return obj._site_count

    @admin.display(description=_("Gateway token"), boolean=True)
    def gateway_token_set(self, obj):
        return bool(obj.gateway_token_hash)
