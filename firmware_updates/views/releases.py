"""Releases: the archives per device type, upload, notes, "Mark current" (with the downgrade
warning) and the archive (DESIGN.md 6)."""

from django import forms
from django.contrib import messages
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from core.panel import refusal_words, require
from core.permissions import MARK_RELEASE_CURRENT, UPLOAD_RELEASE, VIEW_RELEASE
from sites.models import DeviceType

from .. import services
from ..errors import ReleaseNotAllowed, ReleaseRejected
from ..forms import DeltaUploadForm, ReleaseUploadForm
from ..models import Release
from ..selectors import release_downgrade_impact
from ..services.releases import downgrade_words


class ReleaseNotesForm(forms.Form):
    notes = forms.CharField(
        label=gettext_lazy("Notes"), required=False, max_length=5000,
        help_text=gettext_lazy("What changed, what to watch for: shown with the release, kept with its history."),
        widget=forms.Textarea(attrs={"rows": 6, "data-testid": "release-notes-input"}),
    )


def _release_page(request, form: ReleaseUploadForm | None = None, status: int = 200):
    types = list(DeviceType.objects.prefetch_related(
        Prefetch("releases", queryset=Release.objects.select_related("created_by").prefetch_related("deltas")
                 .order_by("-version_key"))
    ).order_by("name"))
    for device_type in types:
        releases = list(device_type.releases.all())
        current = next((r for r in releases if r.is_current), None)
        for release in releases:
            # Marked current, an older one is a downgrade: asked on a page of its own, which says who it affects.
            release.is_older = current is not None and release.version_key < current.version_key
        device_type.offered = [r for r in releases if not r.is_archived]
        device_type.archived = [r for r in releases if r.is_archived]
    can_upload = request.user.has_perm(UPLOAD_RELEASE)
    can_manage = request.user.has_perm(MARK_RELEASE_CURRENT)
    context = {
        "device_types": types,
        "upload_form": form or (ReleaseUploadForm() if can_upload else None),
        "can_upload": can_upload,
        "can_mark_current": can_manage,
        "open_upload": form is not None and bool(form.errors),
        "permission_notes": [refusal_words(perm) for perm, allowed in
                             ((UPLOAD_RELEASE, can_upload), (MARK_RELEASE_CURRENT, can_manage)) if not allowed],
    }
    return render(request, "firmware_updates/release_list.html", context, status=status)


def _type_url(release: Release) -> str:
    return f"{reverse('release-list')}#type-{release.device_type.code}"


@require(VIEW_RELEASE)
def release_list(request):
    return _release_page(request)


@require_POST
@require(UPLOAD_RELEASE)
def release_upload(request):
    form = ReleaseUploadForm(request.POST, request.FILES)
    if form.is_valid() and (release := form.release_create(created_by=request.user)):
        messages.success(request, _("{type} {version} uploaded. Mark it current to offer it to the panels.").format(
            type=release.device_type, version=release.version))
        return redirect(_type_url(release))
    return _release_page(request, form)


@require_http_methods(["GET", "POST"])
@require(MARK_RELEASE_CURRENT)
def release_mark_current(request, pk: int):
    """"Mark current": at once for a newer release (the list's dialog asked); an older one is
    a downgrade, confirmed on this page, which says how many sites on which receivers turn
    outdated. Without JavaScript the list's button posts here at once, and a downgrade comes
    back here to be confirmed."""
    release = get_object_or_404(Release.objects.select_related("device_type"), pk=pk)
    error = None
    if request.method == "POST":
        try:
            services.release_mark_current(release=release, actor=request.user,
                                          downgrade_confirmed=request.POST.get("confirm_downgrade") == "1")
        except ReleaseNotAllowed as exc:
            error = exc.reason if exc.code != "downgrade_not_confirmed" else None
        else:
            messages.success(request, gettext("%(release)s is now the current version.") % {"release": release})
            return redirect(_type_url(release))
    impact = release_downgrade_impact(release=release)
    return render(request, "firmware_updates/release_mark_current.html", {
        "release": release, "impact": impact, "impact_words": downgrade_words(impact) if impact else "",
        "error": error, "back_url": _type_url(release),
    })


@require_POST
@require(MARK_RELEASE_CURRENT)
def release_archive(request, pk: int):
    release = get_object_or_404(Release.objects.select_related("device_type"), pk=pk)
    try:
        services.release_archive(release=release, actor=request.user)
    except ReleaseNotAllowed as exc:
        messages.error(request, exc.reason)
    else:
        messages.success(request, gettext("%(release)s archived: no longer offered, kept for its history.")
                         % {"release": release})
    return redirect(_type_url(release))


@require_POST
@require(MARK_RELEASE_CURRENT)
def release_restore(request, pk: int):
    release = get_object_or_404(Release.objects.select_related("device_type"), pk=pk)
    services.release_restore(release=release, actor=request.user)
    messages.success(request, gettext("%(release)s restored from the archive.") % {"release": release})
    return redirect(_type_url(release))


@require_http_methods(["GET", "POST"])
@require(MARK_RELEASE_CURRENT)
def release_notes(request, pk: int):
    """"Notes...": the operators' words on a release, editable after upload."""
    release = get_object_or_404(Release.objects.select_related("device_type"), pk=pk)
    form = ReleaseNotesForm(request.POST if request.method == "POST" else None, initial={"notes": release.notes})
    if request.method == "POST" and form.is_valid():
        services.release_update(release=release, actor=request.user, notes=form.cleaned_data["notes"])
        messages.success(request, gettext("Notes of %(release)s saved.") % {"release": release})
        return redirect(_type_url(release))
    return render(request, "firmware_updates/release_notes.html",
                  {"release": release, "form": form, "back_url": _type_url(release)})


@require_POST
@require(UPLOAD_RELEASE)
def release_delta_upload(request, pk: int):
    """"Add delta...": a delta archive for a stored release; the page says what happened."""
    release = get_object_or_404(Release.objects.select_related("device_type"), pk=pk)
    form = DeltaUploadForm(request.POST, request.FILES)
    words = {"release": f"{release.device_type} {release.version}"}
    if not form.is_valid():
        messages.error(request, _("Choose a delta archive to add to %(release)s.") % words)
    else:
        try:
            delta = services.release_delta_create(release=release, archive=form.cleaned_data["archive"],
                                                  created_by=request.user)
        except ReleaseRejected as exc:
            messages.error(request, _("The delta was refused: {reason}").format(reason=exc.reason))
        else:
            messages.success(request, _("Delta from %(base)s added to %(release)s: panels on %(base)s download "
                                        "%(size)s instead of %(full)s.") % {
                **words, "base": delta.base_version, "size": filesizeformat(delta.size),
                "full": filesizeformat(release.size)})
    return redirect(_type_url(release))
