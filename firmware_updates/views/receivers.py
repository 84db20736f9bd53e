"""Engineering panel: receivers, and a receiver's tabs "Site software update" and "Sites".

The update app's, as every page showing badges and statistics is; the registry apps
(receivers, sites) have no pages of their own but the admin's."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core.panel import (
    duration_words,
    page_links,
    paginate,
    percent,
    poll_trigger,
    query_url,
    redirect_back,
    render_live,
    require,
)
from core.permissions import (
    ADD_DEVICE,
    ADD_SITE,
    VIEW_DEVICE,
    VIEW_DEVICE_TYPE,
    VIEW_RECEIVER,
    VIEW_SITE,
)
from core.preferences import receiver_zone_use
from receivers.models import Receiver
from sites.models import Device, Site
from sites.services import site_create

from ..badges import Badge
from ..forms import GiveSiteForm
from ..selectors import SiteFilters, receiver_firmware_stats, site_list
from .device_types import BADGE_FILTERS
from .presenters import BADGE_WORDS, StatsView


@require()
def home(request):
    return redirect("receiver-list")


def _count(model, **filters):
    return Subquery(model.objects.filter(receiver=OuterRef("pk"), **filters).order_by()
                    .values("receiver").annotate(n=Count("pk")).values("n"), output_field=IntegerField())


@require(VIEW_RECEIVER)
def receiver_list(request):
    page = paginate(request, Receiver.objects.annotate(site_count=_count(Site)).order_by("code"))
    rows = []
    for receiver in page.object_list:
        stats = receiver_firmware_stats(receiver=receiver)
        totals = {k: sum(getattr(r, k) for r in stats) for k in ("total", "current", "updating", "not_planned")}
        totals["shares"] = {"green": percent(totals["current"], totals["total"]),
                            "yellow": percent(totals["updating"], totals["total"]),
                            "red": percent(totals["not_planned"], totals["total"])}
        rows.append({"receiver": receiver, "totals": totals, "poll": duration_words(receiver.poll_sleep),
                     "url": reverse("receiver-software-update", kwargs={"code": receiver.code})})
    return render(request, "receivers/receiver_list.html", {"rows": rows, "page": page})


def _header(receiver: Receiver, tab: str) -> dict:
    return {"receiver": receiver, "tab": tab, "poll_words": duration_words(receiver.poll_sleep)}


@require(VIEW_RECEIVER)
def receiver_detail(request, code: str):
    return redirect("receiver-software-update", code=code)


@require(VIEW_RECEIVER, VIEW_DEVICE_TYPE)
def receiver_software_update(request, code: str):
    """The tab "Site software update": statistics per device type, refreshing itself."""
    receiver = get_object_or_404(Receiver, code=code)
    receiver_zone_use(request, receiver)
    stats = [StatsView(row) for row in receiver_firmware_stats(receiver=receiver)]
    context = {
        **_header(receiver, "software-update"),
        "stats": stats,
        "stats_url": request.path,
        # The seed's table is a live view of the fleet: it refreshes every few seconds.
        "stats_trigger": poll_trigger(True),
    }
    return render_live(request, page="receivers/receiver_software_update.html",
                       partial="receivers/partials/firmware_stats.html", context=context)


@require(VIEW_RECEIVER, VIEW_SITE)
def receiver_sites(request, code: str):
    """The tab "Sites": every site of the receiver with its panel and badge."""
    receiver = get_object_or_404(Receiver, code=code)
    receiver_zone_use(request, receiver)
    badge = request.GET.get("badge", "")
    badge = badge if badge in Badge.ALL else ""
    q = request.GET.get("q", "").strip()[:200]
    # The same search as the device type page's: number, name, address, serial.
    sites = site_list(receiver=receiver, filters=SiteFilters(q=q, badge=badge))
    page = paginate(request, sites)
    path = request.path
    context = {
        **_header(receiver, "sites"),
        "page": page,
        "badge": badge,
        "q": q,
        "badge_words": BADGE_WORDS,
        "chips": [{"key": key or "all", "label": label, "count": None, "active": key == badge,
                   "url": query_url(path, badge=key, q=q)}
                  for key, label in BADGE_FILTERS],
        "page_links": page_links(page, path, badge=badge, q=q),
        "list_url": query_url(path, badge=badge, q=q, page=page.number),
        "list_trigger": poll_trigger(False),
    }
    return render_live(request, page="receivers/receiver_sites.html", partial="receivers/partials/site_table.html",
                       context=context)


def _unassigned(receiver: Receiver):
    """The receiver's panels its gateway registered and nobody has given a site yet."""
    return Device.objects.filter(receiver=receiver, site__isnull=True).select_related("device_type").order_by("serial")


@require(VIEW_RECEIVER, VIEW_DEVICE)
def receiver_unassigned(request, code: str):
    """The tab "Panels without a site": registered by the receiver's gateway, waiting to be
    given a site (as `GET /api/v1/devices/?receiver=&unassigned=1`). Two queries a page."""
    receiver = get_object_or_404(Receiver, code=code)
    receiver_zone_use(request, receiver)
    page = paginate(request, _unassigned(receiver))
    context = {
        **_header(receiver, "unassigned"),
        "page": page,
        "page_links": page_links(page, request.path),
        "can_give_site": request.user.has_perm(ADD_SITE) and request.user.has_perm(ADD_DEVICE),
    }
    return render(request, "receivers/receiver_unassigned.html", context)


@require_http_methods(["GET", "POST"])
@require(ADD_SITE, ADD_DEVICE)
def panel_give_site(request, code: str, serial: str):
    """"Give a site..." → "Give site": the panel is attached to a new site by the service the
    API's `POST /api/v1/sites/` uses (`sites.services.site_create`), its refusal in the form."""
    receiver = get_object_or_404(Receiver, code=code)
    receiver_zone_use(request, receiver)
    device = get_object_or_404(_unassigned(receiver), serial=serial)
    list_url = reverse("receiver-unassigned", kwargs={"code": receiver.code})
    context = {"receiver": receiver, "device": device, "page_url": list_url, "give_site_url": request.path,
               "next": request.POST.get("next") or request.GET.get("next", "")}
    form = GiveSiteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        number = form.cleaned_data["site_number"]
        try:
            # The panel's own reports (type, version, board) are kept: the form gives none.
            site_create(receiver=receiver, number=number, name=form.cleaned_data["name"], serial=device.serial,
                        device_type=device.device_type, actor=request.user)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error("site_number" if field == "number" else None, errors)
        else:
            messages.success(request, _("Panel {serial} is now the panel of site {number}.").format(serial=device.serial, number=number))
            return redirect_back(request, reverse("site-detail", kwargs={"code": receiver.code, "number": number}))
    # A refusal is the form again (200, as the other actions' pages answer).
    return render(request, "receivers/give_site.html", {**context, "give_site_form": form})
