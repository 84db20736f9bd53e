"""Engineering panel: the site page (panel facts, partitions, the site's consent to remote
updates, update timeline: views/history.py)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.panel import poll_trigger, refusal_words, render_live, require
from core.permissions import (
    APPROVE_UPDATE,
    CANCEL_UPDATE,
    CHANGE_SITE,
    QUEUE_SITE,
    VIEW_SITE,
    VIEW_UPDATE_JOB,
)
from core.preferences import receiver_zone_use
from receivers.models import Receiver
from sites.models import RemoteUpdate, Site
from sites.services import device_is_online, site_update

from .. import services
from ..badges import Badge, device_badge
from ..eligibility import update_refusal
from ..errors import site_name
from ..forms import CancelUpdateForm, QueueSiteForm, RemoteUpdateForm
from ..models import UpdateJob, UpdateJobEvent
from .history import job_timeline
from .presenters import BADGE_WORDS, JobView, channel_list


@require(VIEW_SITE, VIEW_UPDATE_JOB)
def site_detail(request, code: str, number: int):
    receiver = get_object_or_404(Receiver, code=code)
    receiver_zone_use(request, receiver)
    site = get_object_or_404(Site.objects.select_related("receiver", "device__device_type", "device__receiver"),
                             receiver=receiver, number=number)
    device = getattr(site, "device", None)
    jobs, active, release, badge, refusal = [], None, None, Badge.RED, None
    if device is not None:
        jobs = list(
            UpdateJob.objects.filter(device=device)
            .select_related("release", "created_by", "rollout")
            .prefetch_related(Prefetch("events", queryset=UpdateJobEvent.objects.order_by("at", "id")))
            .order_by("-created_at", "-pk")
        )
        active = next((job for job in jobs if job.is_active), None)
        services.job_progress_overlay([active])
        if device.device_type_id:
            release = services.current_release(device_type=device.device_type)
        badge = device_badge(device=device, current_version=release.version if release else None,
                             has_active_job=active is not None)
        if badge == Badge.RED and release is not None:
            refusal = update_refusal(device=device, release=release, site=site_name(site.number))
    online = device_is_online(device=device, receiver=receiver) if device else False
    context = {
        "receiver": receiver,
        "site": site,
        "device": device,
        "device_type": device.device_type if device else None,
        "channels": channel_list(device) if device else [],
        "online": online,
        "release": release,
        "badge": badge,
        "badge_label": BADGE_WORDS[badge],
        "refusal": refusal.reason if refusal else "",
        "active": JobView(active, device, online) if active else None,
        # The retry-storm brake held the active job's downloads back (docs/ddi.md): its event says why.
        "download_storm": next((e.details.get("message", "") for e in (active.events.all() if active else [])
                                if e.kind == services.DOWNLOAD_BUDGET_EVENT), ""),
        "timeline": job_timeline(jobs),
        "live_url": request.path,
        "live_trigger": poll_trigger(active is not None, "panel-refresh from:body"),
        # Offered only where it can succeed: an outdated panel with nothing planned and no refusal.
        "can_queue": (request.user.has_perm(QUEUE_SITE) and device is not None and release is not None
                      and badge == Badge.RED and refusal is None),
        "can_cancel": request.user.has_perm(CANCEL_UPDATE),
        "can_approve": request.user.has_perm(APPROVE_UPDATE),
        "can_change_consent": request.user.has_perm(CHANGE_SITE),
        "consent_label": RemoteUpdate(site.remote_update).label,
        "consent_form": RemoteUpdateForm(initial={"remote_update": site.remote_update}),
        "consent_url": reverse("site-remote-update", kwargs={"code": receiver.code, "number": site.number}),
        # Said in visible text, not only by a missing button.
        "permission_notes": [refusal_words(perm) for perm in (QUEUE_SITE, CANCEL_UPDATE)
                             if not request.user.has_perm(perm)],
        "queue_form": QueueSiteForm(initial={"site_number": site.number}),
        "cancel_form": CancelUpdateForm(),
        "cancel_url": reverse("job-cancel", kwargs={"code": receiver.code}),
        "approve_url": reverse("job-approve", kwargs={"code": receiver.code}),
    }
    if device is not None and device.device_type_id:
        context["device_type_url"] = reverse("device-type-update", kwargs={
            "code": receiver.code, "device_type_code": device.device_type.code})
        context["queue_url"] = reverse("site-queue", kwargs={
            "code": receiver.code, "device_type_code": device.device_type.code})
    return render_live(request, page="sites/site_detail.html", partial="sites/partials/site_live.html",
                       context=context)


@require_POST
@require(CHANGE_SITE)
def site_remote_update(request, code: str, number: int):
    """The site's consent to remote updates, changed from its page (confirmed in the page's
    dialog; a plain form without JavaScript): through site_update, audited, an event."""
    receiver = get_object_or_404(Receiver, code=code)
    site = get_object_or_404(Site, receiver=receiver, number=number)
    form = RemoteUpdateForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("remote_update", [])))
    else:
        choice = form.cleaned_data["remote_update"]
        try:
            site_update(site=site, actor=request.user, remote_update=choice)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Remote update at site %(number)s: %(choice)s.") % {
                "number": site.number, "choice": RemoteUpdate(choice).label.lower()})
    return redirect(reverse("site-detail", kwargs={"code": receiver.code, "number": site.number}))
