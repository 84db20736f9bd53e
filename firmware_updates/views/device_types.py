"""The device type update page and two of its actions (DESIGN.md 6; seed: "Updating Software
on Selected Site", "Update Process Stopping"); "Updating Software on all Sites" and the
rollout's controls and history are in rollouts.py.

Each action is a dialog on the page (htmx posts the form, the dialog shows refusals in the
service's words) and, without JavaScript, a page of its own at the same URL.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy, pgettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from core.panel import (
    htmx_action_response,
    is_partial,
    page_links,
    paginate,
    poll_trigger,
    query_url,
    redirect_back,
    refusal_words,
    render_live,
    require,
)
from core.permissions import (
    APPROVE_UPDATE,
    CANCEL_UPDATE,
    CHANGE_DEVICE_TYPE,
    QUEUE_SITE,
    START_ROLLOUT,
    VIEW_SITE,
    VIEW_UPDATE_JOB,
)
from core.preferences import receiver_zone_use
from receivers.models import Receiver
from sites import services as sites_services
from sites.models import DeviceType
from sites.versions import version_key

from .. import services
from ..badges import Badge
from ..eligibility import RED_REASON_WORDS, RED_REASONS
from ..errors import UpdateNotAllowed
from ..forms import (
    ApproveUpdateForm,
    CancelUpdateForm,
    ExpectedOfflineForm,
    QueueSiteForm,
    RolloutOptionsForm,
)
from ..models import JobState, UpdateJob
from ..selectors import (
    NOT_RETURNED_SHOWN,
    SiteFilters,
    awaiting_approval_count,
    device_type_site_ids,
    device_type_sites,
    latest_rollout,
    not_returned_panels,
    receiver_firmware_stats,
    rollout_outcomes_and_waves,
)
from .presenters import RolloutView, StatsView, TransferView, empty_stats, site_row

BADGE_FILTERS = [("", gettext_lazy("All")), (Badge.RED, gettext_lazy("Red")), (Badge.YELLOW, gettext_lazy("Yellow")),
                 (Badge.GREEN, gettext_lazy("Green"))]


def device_type_objects(code: str, device_type_code: str) -> tuple[Receiver, DeviceType]:
    return get_object_or_404(Receiver, code=code), get_object_or_404(DeviceType, code=device_type_code)


def device_type_url(receiver, device_type) -> str:
    return reverse("device-type-update", kwargs={"code": receiver.code, "device_type_code": device_type.code})


def device_type_stats(receiver, device_type, filters: SiteFilters | None = None) -> StatsView:
    """The type's statistics with the filters' facets and what a rollout would send; with
    `filters` narrowing the list, also how many sites it keeps (`listed`)."""
    listed = filters if filters and not filters.q and (filters.badge or filters.narrowed) else None
    rows = receiver_firmware_stats(receiver=receiver, device_type=device_type, facets=True, transfer=True,
                                   listed=listed)
    if rows:
        return StatsView(rows[0])
    return StatsView(empty_stats(device_type, services.current_release(device_type=device_type)))


def _latest_rollout(receiver, device_type) -> RolloutView | None:
    """The rollout the card shows: the newest, open or not, with its finished jobs and its
    waves' outcomes (three queries)."""
    rollout = latest_rollout(receiver=receiver, device_type=device_type)
    if rollout is None:
        return None
    finished, waves = rollout_outcomes_and_waves(rollout)
    return RolloutView(rollout, finished, waves=waves)


def _capabilities(user) -> dict:
    """What the operator may do here, and in visible words what not (not only in a tooltip:
    a phone has no hover)."""
    perms = {"can_queue": QUEUE_SITE, "can_cancel": CANCEL_UPDATE, "can_rollout": START_ROLLOUT}
    capabilities = {name: user.has_perm(perm) for name, perm in perms.items()}
    capabilities["permission_notes"] = [refusal_words(perm) for name, perm in perms.items() if not capabilities[name]]
    capabilities["can_change_type"] = user.has_perm(CHANGE_DEVICE_TYPE)
    capabilities["can_approve"] = user.has_perm(APPROVE_UPDATE)
    return capabilities


def device_type_context(request, receiver: Receiver, device_type: DeviceType) -> dict:
    asked = SiteFilters.from_query(request.GET)
    filters = asked.valid
    stats = device_type_stats(receiver, device_type, filters)
    release = stats.current_release
    badge = filters.badge
    sites = device_type_site_ids(receiver=receiver, device_type=device_type, filters=filters, release=release)
    counts = {"": stats.total, Badge.RED: stats.not_planned, Badge.YELLOW: stats.updating, Badge.GREEN: stats.current}
    if filters.reason:
        counts = {"": stats.red_reasons.get(filters.reason, 0), Badge.RED: stats.red_reasons.get(filters.reason, 0),
                  Badge.YELLOW: 0, Badge.GREEN: 0}
    # The statistics' pass counted the sites the list keeps: no COUNT of the list's own query.
    # Their counts by badge and reason are the chips' unless searching or filtering on
    # something else.
    counted = not (filters.q or filters.version or filters.hardware)
    if filters.q:
        # A search: every site it finds, in order (a few thousand ids for a common word), so
        # their number is the list's own, without a COUNT doing the search's work again.
        sites, count = list(sites), None
    else:
        count = stats.total if stats.listed is None else stats.listed
    page = paginate(request, sites, count=count)
    rollout = _latest_rollout(receiver, device_type)
    devices = device_type_sites(receiver=receiver, device_type=device_type, ids=list(page.object_list),
                                release=release, rollouts=[rollout.rollout] if rollout else ())
    # Download progress is written to the row every few seconds; the cache has the freshest byte.
    services.job_progress_overlay([d.active_job for d in devices])
    rows = [site_row(device=d, receiver=receiver, release=release, job=d.active_job) for d in devices]
    not_returned = not_returned_panels(receiver=receiver, device_type=device_type)
    # Of the yellow: held at sites that ask for approval.
    awaiting_approval = awaiting_approval_count(receiver=receiver, device_type=device_type) if stats.updating else 0
    transfer = stats.transfer
    live = stats.updating > 0 or bool(rollout and rollout.open)
    path = device_type_url(receiver, device_type)
    params = filters.params()
    return {
        "receiver": receiver,
        "device_type": device_type,
        "stats": stats,
        "awaiting_approval": awaiting_approval,
        "release": release,
        "transfer": TransferView(transfer) if transfer else None,
        "rows": rows,
        "page": page,
        "page_links": page_links(page, path, **params),
        "chips": [{"key": key or "all", "label": label, "count": counts[key] if counted else None,
                   "active": key == badge, "url": query_url(path, **filters.params(badge=key))}
                  for key, label in BADGE_FILTERS],
        "filters": filters,
        "filter_problems": list(asked.errors.values()),
        "filter_choices": filter_choices(stats, filters),
        "columns": sort_columns(path, filters),
        "badge": badge,
        "q": filters.q,
        "narrowed": bool(badge) or filters.narrowed,
        "page_url": path,
        "csv_url": query_url(reverse("device-type-sites-csv", kwargs={"code": receiver.code,
                                                                      "device_type_code": device_type.code}),
                             **params),
        "list_url": query_url(path, **params, page=page.number),
        "live": live,
        "list_trigger": poll_trigger(live, "panel-refresh from:body"),
        "rollout": rollout,
        "not_returned": not_returned[:NOT_RETURNED_SHOWN],
        "not_returned_more": len(not_returned) > NOT_RETURNED_SHOWN,
        "expected_offline_url": reverse("device-type-expected-offline", kwargs={
            "code": receiver.code, "device_type_code": device_type.code}),
        "queue_url": reverse("site-queue", kwargs={"code": receiver.code, "device_type_code": device_type.code}),
        "update_all_url": reverse("rollout-start", kwargs={"code": receiver.code,
                                                           "device_type_code": device_type.code}),
        "history_url": reverse("rollout-history", kwargs={"code": receiver.code,
                                                          "device_type_code": device_type.code}),
        "rollout_form": RolloutOptionsForm(),
        "cancel_url": reverse("job-cancel", kwargs={"code": receiver.code}),
        "approve_url": reverse("job-approve", kwargs={"code": receiver.code}),
        "queue_form": QueueSiteForm(),
        "cancel_form": CancelUpdateForm(),
        **_capabilities(request.user),
    }


def filter_choices(stats: StatsView, filters: SiteFilters) -> dict:
    """The filters' options with how many sites each has (from the statistics' pass): every
    red reason, and the versions and hardware revisions the sites report."""
    def options(counts: dict, chosen: str, words=None) -> list[dict]:
        keys = sorted(counts, key=lambda k: version_key(k) if words is None else 0)
        if chosen and chosen not in counts:
            keys.append(chosen)  # asked for but none has it: still shown as chosen
        return [{"value": k, "label": (words or {}).get(k) or k or gettext("unknown"), "count": counts.get(k, 0),
                 "selected": k == chosen} for k in keys]

    reasons = [{"value": code, "label": RED_REASON_WORDS[code], "count": stats.red_reasons.get(code, 0),
                "selected": code == filters.reason} for code in RED_REASONS]
    return {"reasons": reasons,
            "versions": options(stats.versions, filters.version)[::-1],  # newest first
            "hardware": options(stats.hardware, filters.hardware)}


# The list's columns: (sort key or None, heading, class).
COLUMNS = [("site", gettext_lazy("Site"), ""), ("name", gettext_lazy("Name / address"), ""),
           ("status", gettext_lazy("Status"), ""), ("firmware", gettext_lazy("Firmware"), ""),
           ("hardware", gettext_lazy("Hardware"), ""), (None, gettext_lazy("Channels"), ""),
           ("seen", gettext_lazy("Connection"), ""), (None, gettext_lazy("Update"), "col-job"), (None, "", "")]


def sort_columns(path: str, filters: SiteFilters) -> list[dict]:
    """Each heading with the link that sorts by it (ascending, or descending when it is the
    sort already) and `aria-sort` for the one in use."""
    current, descending = filters.sort.removeprefix("-"), filters.sort.startswith("-")
    columns = []
    for key, label, css in COLUMNS:
        column = {"key": key, "label": label, "css": css, "url": None, "aria_sort": None}
        if key:
            active = key == current
            column["url"] = query_url(path, **filters.params(sort=f"-{key}" if active and not descending else key))
            column["aria_sort"] = ("descending" if descending else "ascending") if active else None
        columns.append(column)
    return columns


@require(VIEW_SITE, VIEW_UPDATE_JOB)
def device_type_update(request, code: str, device_type_code: str):
    receiver, device_type = device_type_objects(code, device_type_code)
    receiver_zone_use(request, receiver)
    context = device_type_context(request, receiver, device_type)
    return render_live(request, page="firmware_updates/device_type_update.html",
                       partial="firmware_updates/partials/device_type_live.html", context=context)


@require_http_methods(["GET", "POST"])
@require(CHANGE_DEVICE_TYPE)
def device_type_expected_offline(request, code: str, device_type_code: str):
    """The device type's expected offline window after an install (docs/security-center.md):
    a page of its own, linked from the device type page."""
    receiver, device_type = device_type_objects(code, device_type_code)
    page_url = device_type_url(receiver, device_type)
    title = _("Expected offline after an install")
    context = {"receiver": receiver, "device_type": device_type, "page_url": page_url, "form_url": request.path}
    template = "firmware_updates/partials/expected_offline_form.html"
    if request.method == "GET":
        form = ExpectedOfflineForm(initial={"expected_offline_seconds": device_type.expected_offline_seconds})
        return action_page(request, title=title, form_template=template, context={**context, "form": form})
    form = ExpectedOfflineForm(request.POST)
    if form.is_valid():
        seconds = form.cleaned_data["expected_offline_seconds"]
        try:
            sites_services.device_type_update(device_type=device_type, actor=request.user,
                                              expected_offline_seconds=seconds)
        except ValidationError as exc:
            for error in exc.message_dict.get("expected_offline_seconds", exc.messages):
                form.add_error("expected_offline_seconds", error)
        else:
            messages.success(request, _("%(name)s panels are now expected off the line for %(seconds)s s "
                                        "after an install.") % {"name": device_type.name, "seconds": seconds})
            return redirect_back(request, page_url)
    return action_page(request, title=title, form_template=template, context={**context, "form": form},
                       status=400)


def action_page(request, *, title: str, form_template: str, context: dict, status: int = 200):
    """The action as a page of its own, for browsers without JavaScript."""
    return render(request, "firmware_updates/action_page.html",
                  {**context, "title": title, "form_template": form_template, "in_dialog": False}, status=status)


@require_http_methods(["GET", "POST"])
@require(QUEUE_SITE)
def site_queue(request, code: str, device_type_code: str):
    """"Update using site number..." → "Update": the site joins the update queue."""
    receiver, device_type = device_type_objects(code, device_type_code)
    receiver_zone_use(request, receiver)
    template = "firmware_updates/partials/queue_site_form.html"
    context = {"receiver": receiver, "device_type": device_type, "page_url": device_type_url(receiver, device_type),
               "queue_url": request.path, "next": request.POST.get("next") or request.GET.get("next", "")}
    if request.method == "GET":
        return action_page(request, title=_("Update using site number"), form_template=template,
                            context={**context, "queue_form": QueueSiteForm()})
    form = QueueSiteForm(request.POST)
    if form.is_valid():
        number = form.cleaned_data["site_number"]
        try:
            release = services.current_release_required(device_type=device_type)
            # The page's type is explicit: a site of another type is refused, not silently
            # updated to its own type's release.
            services.update_job_create(receiver=receiver, site_number=number, actor=request.user, release=release)
        except UpdateNotAllowed as exc:
            form.add_error("site_number", exc.reason)
        else:
            messages.success(request, _("Site {number} added to the update queue").format(number=number))
            if is_partial(request):
                return htmx_action_response(request, template, {**context, "queue_form": QueueSiteForm(),
                                                                "in_dialog": True}, done=True)
            return redirect_back(request, context["page_url"])
    if is_partial(request):
        return htmx_action_response(request, template, {**context, "queue_form": form, "in_dialog": True},
                                    done=False)
    return action_page(request, title=_("Update using site number"), form_template=template,
                        context={**context, "queue_form": form})


@require_http_methods(["GET", "POST"])
@require(CANCEL_UPDATE)
def job_cancel(request, code: str):
    """"Cancel update..." → confirm: stop the update unless the device has the whole file."""
    receiver = get_object_or_404(Receiver, code=code)
    receiver_zone_use(request, receiver)
    template = "firmware_updates/partials/cancel_form.html"
    form = CancelUpdateForm(request.POST if request.method == "POST" else request.GET, receiver=receiver)
    valid = form.is_valid()
    job = form.cleaned_data["job"] if valid else None
    context = {"receiver": receiver, "cancel_url": request.path, "cancel_form": form, "job": job,
               "next": request.POST.get("next") or request.GET.get("next", ""),
               "page_url": _job_page_url(job) if job else reverse("receiver-software-update",
                                                                 kwargs={"code": receiver.code})}
    if request.method == "GET":
        return action_page(request, title=_("Cancel update"), form_template=template, context=context)
    if valid:
        try:
            job = services.update_job_cancel(job=job, actor=request.user)
        except UpdateNotAllowed as exc:
            form.add_error(None, exc.reason)
        else:
            site = _site_words(job)
            if job.state == JobState.CANCELLED:
                messages.success(request, _("Update of {site} cancelled.").format(site=site))
            else:
                messages.success(request, _("Cancelling the update of {site}; waiting for the device to confirm.").format(
                    site=site))
            if is_partial(request):
                return htmx_action_response(request, template, {**context, "cancel_form": CancelUpdateForm(),
                                                                "job": None, "in_dialog": True}, done=True)
            return redirect_back(request, context["page_url"])
    if is_partial(request):
        return htmx_action_response(request, template, {**context, "in_dialog": True}, done=False)
    return action_page(request, title=_("Cancel update"), form_template=template, context=context)


@require_POST
@require(APPROVE_UPDATE)
def job_approve(request, code: str):
    """"Approve..." → confirm: a job held at a site that asks for approval is queued and its
    panel woken. A plain form (confirmed in the page's dialog): back to where it was pressed."""
    receiver = get_object_or_404(Receiver, code=code)
    form = ApproveUpdateForm(request.POST, receiver=receiver)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect_back(request, reverse("receiver-software-update", kwargs={"code": receiver.code}))
    job = form.cleaned_data["job"]
    try:
        services.update_job_approve(job=job, actor=request.user)
    except UpdateNotAllowed as exc:
        messages.error(request, exc.reason)
    else:
        messages.success(request, _("Update of %(site)s approved: it is queued and the panel asked to connect.")
                         % {"site": _site_words(job)})
    return redirect_back(request, _job_page_url(job))


def _site_words(job: UpdateJob) -> str:
    site = job.device.site
    return (pgettext("in a sentence", "site {number}").format(number=site.number) if site
            else pgettext("in a sentence", "panel {serial}").format(serial=job.device.serial))


def _job_page_url(job: UpdateJob) -> str:
    device = job.device
    if device.site_id:
        return reverse("site-detail", kwargs={"code": device.receiver.code, "number": device.site.number})
    return reverse("receiver-software-update", kwargs={"code": device.receiver.code})
