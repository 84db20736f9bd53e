"""Updating software on all sites (DESIGN.md 6; seed: "Updating Software on all Sites"): the
dialog that starts a rollout in waves, the rollout card's controls (pause, resume, start the
next wave now, stop, retry the failed sites) and the rollout history page.

The controls are POST only. With htmx each is confirmed in the page's rollout dialog and
answered as every action of the page is: the dialog's form again (with the service's
refusal, if any), the messages out of band, and the page's refresh. Without JavaScript the
card's button posts at once and comes back to the page with the message.
"""

from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from core.panel import (
    htmx_action_response,
    is_partial,
    page_links,
    paginate,
    redirect_back,
    require,
)
from core.permissions import START_ROLLOUT, VIEW_ROLLOUT
from core.preferences import receiver_zone_use

from .. import services
from ..errors import UpdateNotAllowed
from ..forms import RolloutOptionsForm
from ..models import Rollout
from ..selectors import history_of, waves_of
from .device_types import action_page, device_type_objects, device_type_stats, device_type_url
from .presenters import RolloutView, TransferView

START_TITLE = gettext_lazy("Update software at all sites")
CONTROL_FORM = "firmware_updates/partials/rollout_control_form.html"
# The card's controls: the service each calls (each refuses with an operator's sentence).
CONTROL_SERVICES = {
    "pause": services.rollout_pause,
    "resume": services.rollout_resume,
    "advance": services.rollout_advance,
    "stop": services.rollout_stop,
    "retry": services.rollout_retry_failed,
}


@require_http_methods(["GET", "POST"])
@require(START_ROLLOUT)
def rollout_start(request, code: str, device_type_code: str):
    """"Update software at all sites" → "Update all sites": a rollout queues the outdated
    sites in waves (the default ones, or those of the dialog's options)."""
    receiver, device_type = device_type_objects(code, device_type_code)
    receiver_zone_use(request, receiver)
    template = "firmware_updates/partials/update_all_form.html"
    form = RolloutOptionsForm(request.POST) if request.method == "POST" else RolloutOptionsForm()
    stats = device_type_stats(receiver, device_type)
    transfer = stats.transfer
    context = {"receiver": receiver, "device_type": device_type, "page_url": device_type_url(receiver, device_type),
               "update_all_url": request.path, "stats": stats, "rollout_form": form,
               "transfer": TransferView(transfer) if transfer else None}
    if request.method == "POST" and form.is_valid():
        try:
            rollout, created = services.rollout_start(receiver=receiver, device_type=device_type,
                                                      actor=request.user, **form.rollout_options())
        except UpdateNotAllowed as exc:
            context["error"] = exc.reason
        else:
            if created:
                messages.success(request, _started_words(rollout))
            else:
                messages.info(request, _("An update of all sites is already running; its progress is shown below."))
            if is_partial(request):
                return htmx_action_response(request, template, {**context, "rollout_form": RolloutOptionsForm(),
                                                                "in_dialog": True}, done=True)
            return redirect_back(request, context["page_url"])
    if is_partial(request):
        return htmx_action_response(request, template, {**context, "in_dialog": True}, done=False)
    return action_page(request, title=START_TITLE, form_template=template, context=context)


def _started_words(rollout: Rollout) -> str:
    waves = rollout.waves.count()
    version = rollout.release.version
    if waves == 1:
        return _("Updating all sites to version {version}: every site is being added to the update queue.").format(
            version=version)
    if rollout.approve_each_wave:
        return _("Updating all sites to version {version} in {waves} waves: wave 1 is being queued; each next wave "
                 "waits for your approval.").format(version=version, waves=waves)
    return _("Updating all sites to version {version} in {waves} waves: wave 1 is being queued; each next wave "
             "starts once the one before succeeded.").format(version=version, waves=waves)


@require_POST
@require(START_ROLLOUT)
def rollout_control(request, code: str, device_type_code: str, rollout_id: int, action: str):
    """One of the rollout card's controls (`action`, from the URL pattern), after its
    confirmation; a refusal is the service's sentence."""
    receiver, device_type = device_type_objects(code, device_type_code)
    receiver_zone_use(request, receiver)
    rollout = get_object_or_404(Rollout.objects.select_related("receiver", "device_type", "release"),
                                pk=rollout_id, receiver=receiver, device_type=device_type)
    page = device_type_url(receiver, device_type)
    try:
        result = CONTROL_SERVICES[action](rollout=rollout, actor=request.user)
    except UpdateNotAllowed as exc:
        if is_partial(request):
            return htmx_action_response(request, CONTROL_FORM, {"error": exc.reason}, done=False)
        messages.error(request, exc.reason)
        return redirect_back(request, page)
    messages.success(request, _control_words(action, rollout, result))
    if is_partial(request):
        return htmx_action_response(request, CONTROL_FORM, {}, done=True)
    return redirect_back(request, page)


def _control_words(action: str, rollout: Rollout, result: Rollout) -> str:
    if action == "pause":
        return _("Rollout #{id} paused: no further site is queued; updates under way go on.").format(id=rollout.pk)
    if action == "resume":
        if result.state == Rollout.State.RUNNING:
            return _("Rollout #{id} resumed: wave {wave} is running.").format(id=rollout.pk, wave=result.current_wave)
        return _("Rollout #{id} resumed.").format(id=rollout.pk)
    if action == "advance":
        return _("Rollout #{id}: wave {wave} started.").format(id=rollout.pk, wave=result.current_wave)
    if action == "stop":
        return _("Rollout #{id} stopped: its updates not downloaded yet are being cancelled.").format(id=rollout.pk)
    return _("Retrying the failed sites of rollout #{id} as rollout #{new}.").format(id=rollout.pk, new=result.pk)


@require(VIEW_ROLLOUT)
def rollout_history(request, code: str, device_type_code: str):
    """Every rollout of the device type on the receiver, newest first, with its waves and
    events: the same number of queries for a page of 1 or of 50."""
    receiver, device_type = device_type_objects(code, device_type_code)
    receiver_zone_use(request, receiver)
    rollouts = (Rollout.objects.filter(receiver=receiver, device_type=device_type)
                .select_related("release", "created_by", "receiver", "device_type").order_by("-created_at", "-pk"))
    page = paginate(request, rollouts)
    shown = list(page.object_list)
    waves, events = waves_of(shown), history_of(shown)
    path = request.path
    return render(request, "firmware_updates/rollout_history.html", {
        "receiver": receiver,
        "device_type": device_type,
        "page_url": device_type_url(receiver, device_type),
        "rollouts": [RolloutView(r, waves=waves[r.pk], events=events.get(r.pk, [])) for r in shown],
        "page": page,
        "page_links": page_links(page, path),
    })
