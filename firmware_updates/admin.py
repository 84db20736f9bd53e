"""Django admin for releases, update jobs and rollouts. Writes go through the services, as
in the panel and the API (which also record the operator's action): a release is added by
uploading its archive and described with release_update, a job is cancelled with
update_job_cancel, and jobs and rollouts are otherwise read-only here."""

from django.contrib import admin, messages
from django.contrib.admin.helpers import AdminErrorList, AdminForm
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from core.admin_support import AuditedByServices, form_changes

from . import services
from .errors import ReleaseNotAllowed, UpdateNotAllowed, count_words
from .forms import ReleaseUploadForm
from .models import JobState, Release, ReleaseDelta, Rollout, UpdateJob, UpdateJobEvent, Webhook
from .stored_words import stored_words
from .views.history import event_view
from .views.presenters import skipped_words


class ReleaseDeltaInline(admin.TabularInline):
    """A release's deltas, as intake stored them (added on the panel's Releases page or the API)."""

    model = ReleaseDelta
    extra = 0
    can_delete = False
    fields = readonly_fields = ("base_version", "base_sha256", "filename", "size", "sha256", "signer", "created_at")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Release)
class ReleaseAdmin(AuditedByServices, admin.ModelAdmin):
    list_display = ("__str__", "device_type", "version", "is_current", "archived_at", "hardware_revisions", "size",
                    "sha256_short", "signer", "created_by", "created_at")
    list_filter = ("device_type", "is_current", ("archived_at", admin.EmptyFieldListFilter))
    search_fields = ("version", "sha256", "device_type__name", "device_type__code")
    list_select_related = ("device_type", "created_by")
    actions = ("mark_current",)
    inlines = (ReleaseDeltaInline,)
    # Everything but the description comes from the archive and is checked at upload.
    readonly_fields = ("device_type", "version", "hardware_revisions", "archive", "filename", "size", "sha256",
                       "sha1", "md5", "signer", "is_current", "archived_at", "created_by", "created_at")
    fields = ("device_type", "version", "description", "notes", "hardware_revisions", "is_current", "archived_at",
              "archive", "filename", "size", "sha256", "sha1", "md5", "signer", "created_by", "created_at")

    @admin.display(description="SHA-256", ordering="sha256")
    def sha256_short(self, obj):
        return format_html('<span title="{}">{}…</span>', obj.sha256, obj.sha256[:12])

    def add_view(self, request, form_url="", extra_context=None):
        """Upload an archive; services.release_create reads and checks it (nothing stored if refused)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ReleaseUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid() and (release := form.release_create(created_by=request.user)):
            self.message_user(request, gettext("{release} uploaded. Use “Mark selected release current” to "
                                               "offer it to the panels.").format(release=release), messages.SUCCESS)
            return redirect(reverse("admin:firmware_updates_release_change", args=[release.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Upload release"),
            "subtitle": None,
            "adminform": AdminForm(form, [(None, {"fields": list(form.fields)})], {}),
            "object_id": None,
            "original": None,
            "is_popup": False,
            "to_field": None,
            "media": self.media + form.media,
            "inline_admin_formsets": [],
            "errors": AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        response = self.render_change_form(request, context, add=True, form_url=form_url)
        response.template_name = ["admin/firmware_updates/release/upload.html"]
        return response

    def save_model(self, request, obj, form, change):
        services.release_update(release=obj, actor=request.user, **form_changes(form))

    @admin.action(description=_("Mark selected release current"), permissions=["change"])
    def mark_current(self, request, queryset):
        releases = list(queryset.select_related("device_type"))
        types = [r.device_type_id for r in releases]
        if len(types) != len(set(types)):
            self.message_user(request, gettext("Select at most one release per device type: only one can be current."),
                              messages.ERROR)
            return
        for release in releases:
            try:
                services.release_mark_current(release=release, actor=request.user)
            except ReleaseNotAllowed as exc:
                # A downgrade is confirmed on the panel's Releases page, which shows who it affects.
                self.message_user(request, gettext("{reason} (Releases page of the panel: Mark current...)").format(
                    reason=exc.reason), messages.ERROR)
            else:
                self.message_user(request, gettext("{release} is now the current version.").format(release=release),
                                  messages.SUCCESS)


def _state_words(state: str) -> str:
    try:
        return JobState(state).label if state else "—"
    except ValueError:
        return state


class UpdateJobEventInline(admin.TabularInline):
    model = UpdateJobEvent
    extra = 0
    can_delete = False
    # What happened in the operator's words, as the panel's history says it (views/history.py);
    # the panel's own report stays one click away there, as it came.
    fields = ("at", "actor_label", "from_state_words", "to_state_words", "what_happened")
    readonly_fields = fields
    ordering = ("at", "id")

    @admin.display(description=_("from state"))
    def from_state_words(self, obj):
        return _state_words(obj.from_state)

    @admin.display(description=_("to state"))
    def to_state_words(self, obj):
        return _state_words(obj.to_state)

    @admin.display(description=_("What happened"))
    def what_happened(self, obj):
        view = event_view(obj)
        return "; ".join([view.sentence, *view.lines])

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(UpdateJob)
class UpdateJobAdmin(admin.ModelAdmin):
    list_display = ("id", "site_number", "receiver", "device", "release", "state", "progress", "rollout_ref",
                    "created_by", "created_at", "state_changed_at")
    list_filter = ("state", "device__receiver", "release__device_type", ("rollout", admin.EmptyFieldListFilter))
    search_fields = ("device__serial", "=device__site__number", "release__version")
    list_select_related = ("device__site", "device__receiver", "release__device_type", "created_by", "rollout")
    date_hierarchy = "created_at"
    actions = ("cancel_selected",)
    inlines = (UpdateJobEventInline,)
    # A job changes state only through the transition function (services); nothing is edited here.
    # Reasons and warnings are stored in English; shown in the operator's language (stored_words.py).
    exclude = ("reason", "warnings", "snapshot")
    readonly_fields = ("device", "release", "rollout", "state", "state_before_cancel", "bytes_downloaded",
                       "bytes_total", "reason_words", "warnings_words", "snapshot_words", "confirmed_at",
                       "wakeup_sent_at", "created_by", "created_at", "state_changed_at", "progress_at", "finished_at")

    @admin.display(description=_("snapshot"))
    def snapshot_words(self, obj):
        """The panel as it was before the install (checked again when it comes back), in words."""
        snapshot = obj.snapshot or {}
        if not snapshot:
            return "—"
        partitions = ", ".join(
            gettext("{number}: {state}").format(number=p.get("number"),
                                                 state=gettext("armed") if p.get("armed") else gettext("disarmed"))
            for p in snapshot.get("partitions") or [] if isinstance(p, dict))
        return "; ".join([
            gettext("version {version}").format(version=snapshot.get("firmware_version") or "—"),
            gettext("settings digest {digest}").format(digest=snapshot.get("settings_digest") or "—"),
            gettext("partitions {partitions}").format(partitions=partitions or "—"),
        ])

    @admin.display(description=_("reason"))
    def reason_words(self, obj):
        return stored_words(obj.reason) or "—"

    @admin.display(description=_("warnings"))
    def warnings_words(self, obj):
        return "; ".join(stored_words(w) for w in obj.warnings) or "—"

    def has_add_permission(self, request):
        return False  # queue sites from the panel or the API: they check eligibility

    def has_change_permission(self, request, obj=None):
        # "change" lets the list cancel jobs (the action); a job's own page only shows it: its
        # Save would write back the whole row as read, over what the device reported meanwhile.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # the history is the audit trail

    @admin.display(description=_("Site"), ordering="device__site__number")
    def site_number(self, obj):
        return obj.device.site.number if obj.device.site_id else "—"

    @admin.display(description=_("Receiver"), ordering="device__receiver__code")
    def receiver(self, obj):
        return obj.device.receiver.code

    @admin.display(description=_("Rollout"), ordering="rollout_id")
    def rollout_ref(self, obj):
        return f"#{obj.rollout_id}" if obj.rollout_id else "—"

    @admin.display(description=_("Progress"))
    def progress(self, obj):
        return f"{obj.progress_percent}%" if obj.bytes_total else "—"

    @admin.action(description=_("Cancel selected updates"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        done = 0
        for job in queryset.select_related("device__site"):
            try:
                services.update_job_cancel(job=job, actor=request.user)
            except UpdateNotAllowed as exc:
                site = (pgettext("in parentheses", "site {number}").format(number=job.device.site.number)
                        if job.device.site_id else
                        pgettext("in parentheses", "panel {serial}").format(serial=job.device.serial))
                self.message_user(request, gettext("Job #{id} ({site}): {reason}").format(
                    id=job.pk, site=site, reason=exc.reason), messages.WARNING)
            else:
                done += 1
        if done:
            self.message_user(request, ngettext("{n} update cancelled or being cancelled.",
                                                "{n} updates cancelled or being cancelled.", done).format(n=done),
                              messages.SUCCESS)


@admin.register(Rollout)
class RolloutAdmin(admin.ModelAdmin):
    list_display = ("id", "receiver", "device_type", "release", "state", "current_wave", "queued",
                    "skipped_words", "created_by", "created_at", "finished_at")
    list_filter = ("state", "receiver", "device_type")
    search_fields = ("receiver__code", "device_type__name", "release__version")
    list_select_related = ("receiver", "device_type", "release", "created_by")
    # The pause reason is stored in English; shown in the operator's language (stored_words.py).
    exclude = ("paused_reason", "skipped")
    readonly_fields = ("receiver", "device_type", "release", "state", "paused_reason_words", "current_wave", "total",
                       "eligible", "processed", "queued", "joined_late", "skipped_words", "success_threshold_percent",
                       "error_threshold_percent", "error_threshold_count", "error_threshold_min",
                       "approve_each_wave", "install_window_start", "install_window_end", "retry_of", "cursor",
                       "created_by", "created_at", "started_at", "finished_at", "heartbeat_at")

    @admin.display(description=_("paused reason"))
    def paused_reason_words(self, obj):
        return stored_words(obj.paused_reason) or "—"

    @admin.display(description=_("skipped"))
    def skipped_words(self, obj):
        """The skipped sites by reason, in the panel's words (the API keeps the codes)."""
        return ", ".join(count_words(words, count) for words, count in skipped_words(obj.skipped)) or "—"

    def has_add_permission(self, request):
        return False  # "Update software at all sites" in the panel or POST rollouts/ starts one

    def has_change_permission(self, request, obj=None):
        return False  # written by its run (services.rollout_run) alone: a Save would put back old counters

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    """Where each receiver's Security Center hears of its events (docs/webhooks.md); how far
    each has got (read only: the delivery writes it)."""

    list_display = ("receiver", "url", "is_active", "delivered_through", "failures", "last_error", "created_at")
    fields = ("receiver", "url", "secret", "is_active", "types", "delivered_through", "failures", "retry_at",
              "last_error", "created_at")
    readonly_fields = ("delivered_through", "failures", "retry_at", "last_error", "created_at")
    list_filter = ("is_active", "receiver")
    search_fields = ("url", "receiver__code")
    list_select_related = ("receiver",)
