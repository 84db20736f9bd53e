"""Engineering panel: the site page (panel facts, partitions, update timeline)."""

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.urls import reverse

from core.panel import poll_trigger, refusal_words, render_live, require
from core.permissions import CANCEL_UPDATE, QUEUE_SITE, VIEW_SITE, VIEW_UPDATE_JOB
from receivers.models import Receiver
from sites.models import Site
from sites.services import device_is_online

from .. import services
from ..badges import Badge, device_badge
from ..eligibility import update_refusal
from ..forms import CancelUpdateForm, QueueSiteForm
from ..models import JobState, UpdateJob, UpdateJobEvent
from .presenters import BADGE_WORDS, JobView, channel_list

STATE_WORDS = dict(JobState.choices)


def event_lines(details: dict) -> list[str]:
    """An event's details as sentences: what the device reported, why, on whose request."""
    details = details or {}
    lines = []
    if message := details.get("message"):
        lines.append(str(message))
    if "release" in details:
        lines.append(f"Release {details['release']}")
    if "rollout" in details:
        lines.append(f"Part of rollout #{details['rollout']} (Update software at all sites)")
    if execution := details.get("execution"):
        finished = details.get("finished")
        lines.append(f"Device reported {execution}" + (f", result {finished}" if finished and finished != "none" else ""))
    if progress := details.get("progress"):
        if isinstance(progress, dict) and progress.get("of"):
            lines.append(f"Step {progress.get('cnt')} of {progress.get('of')}")
    if cancel := details.get("cancel"):
        lines.append(f"Cancel {cancel}")
    reported = details.get("details")
    if isinstance(reported, list):
        lines.extend(str(line) for line in reported if line)
    known = {"message", "release", "rollout", "execution", "finished", "progress", "cancel", "details", "site_number"}
    lines.extend(f"{key.replace('_', ' ')}: {value}" for key, value in details.items() if key not in known)
    return lines


def _timeline(jobs: list[UpdateJob]) -> list[dict]:
    return [
        {
            "job": JobView(job),
            "events": [{"event": e, "from_label": STATE_WORDS.get(e.from_state, e.from_state),
                        "to_label": STATE_WORDS.get(e.to_state, e.to_state), "lines": event_lines(e.details)}
                       for e in job.events.all()],
        }
        for job in jobs
    ]


@require(VIEW_SITE, VIEW_UPDATE_JOB)
def site_detail(request, code: str, number: int):
    receiver = get_object_or_404(Receiver, code=code)
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
            refusal = update_refusal(device=device, release=release, site=f"Site {site.number}")
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
        "timeline": _timeline(jobs),
        "live_url": request.path,
        "live_trigger": poll_trigger(active is not None, "panel-refresh from:body"),
        # Offered only where it can succeed: an outdated panel with nothing planned and no refusal.
        "can_queue": (request.user.has_perm(QUEUE_SITE) and device is not None and release is not None
                      and badge == Badge.RED and refusal is None),
        "can_cancel": request.user.has_perm(CANCEL_UPDATE),
        # Said in visible text, not only by a missing button.
        "permission_notes": [refusal_words(perm) for perm in (QUEUE_SITE, CANCEL_UPDATE)
                             if not request.user.has_perm(perm)],
        "queue_form": QueueSiteForm(initial={"site_number": site.number}),
        "cancel_form": CancelUpdateForm(),
        "cancel_url": reverse("job-cancel", kwargs={"code": receiver.code}),
    }
    if device is not None and device.device_type_id:
        context["device_type_url"] = reverse("device-type-update", kwargs={
            "code": receiver.code, "device_type_code": device.device_type.code})
        context["queue_url"] = reverse("site-queue", kwargs={
            "code": receiver.code, "device_type_code": device.device_type.code})
    return render_live(request, page="sites/site_detail.html", partial="sites/partials/site_live.html",
                       context=context)
