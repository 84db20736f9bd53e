"""Releases: the archives per device type, upload and "Mark current" (DESIGN.md 6)."""

from django.contrib import messages
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.panel import require
from core.permissions import MARK_RELEASE_CURRENT, UPLOAD_RELEASE, VIEW_RELEASE
from sites.models import DeviceType

from .. import services
from ..errors import ReleaseRejected
from ..forms import DeltaUploadForm, ReleaseUploadForm
from ..models import Release


def _release_page(request, form: ReleaseUploadForm | None = None, status: int = 200):
    types = DeviceType.objects.prefetch_related(
        Prefetch("releases", queryset=Release.objects.select_related("created_by").prefetch_related("deltas")
                 .order_by("-version_key"))
    ).order_by("name")
    can_upload = request.user.has_perm(UPLOAD_RELEASE)
    context = {
        "device_types": types,
        "upload_form": form or (ReleaseUploadForm() if can_upload else None),
        "can_upload": can_upload,
        "can_mark_current": request.user.has_perm(MARK_RELEASE_CURRENT),
        "open_upload": form is not None and bool(form.errors),
    }
    return render(request, "firmware_updates/release_list.html", context, status=status)


@require(VIEW_RELEASE)
def release_list(request):
    return _release_page(request)


@require_POST
@require(UPLOAD_RELEASE)
def release_upload(request):
    form = ReleaseUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            release = services.release_create(archive=form.cleaned_data["archive"], created_by=request.user,
                                              description=form.cleaned_data["description"],
                                              deltas=form.cleaned_data["deltas"])
        except ReleaseRejected as exc:
            # The reason names what was wrong (hash, signature, device type, version, a delta's
            # base...); the service stored nothing.
            if exc.field == "deltas":
                form.add_error("deltas", _("The delta was refused: {reason}").format(reason=exc.reason))
            else:
                form.add_error("archive", _("The archive was refused: {reason}").format(reason=exc.reason))
        else:
            messages.success(request, _("{type} {version} uploaded. Mark it current to offer it to the panels.").format(
                type=release.device_type, version=release.version))
            return redirect(f"{reverse('release-list')}#type-{release.device_type.code}")
    return _release_page(request, form)


@require_POST
@require(MARK_RELEASE_CURRENT)
def release_mark_current(request, pk: int):
    release = get_object_or_404(Release.objects.select_related("device_type"), pk=pk)
    services.release_mark_current(release=release, actor=request.user)
    messages.success(request, _("{type} {version} is now the current version.").format(
        type=release.device_type, version=release.version))
    return redirect(f"{reverse('release-list')}#type-{release.device_type.code}")


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
    return redirect(f"{reverse('release-list')}#type-{release.device_type.code}")
