"""Engineering panel: receivers, and a receiver's tabs "Site software update" and "Sites".

The update app's, as every page showing badges and statistics is; the registry apps
(receivers, sites) have no pages of their own but the admin's."""

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from core.panel import (
    duration_words,
    page_links,
    paginate,
    percent,
    poll_trigger,
    query_url,
    render_live,
    require,
)
from core.permissions import VIEW_DEVICE_TYPE, VIEW_RECEIVER, VIEW_SITE
from receivers.models import Receiver
from sites.models import Site

from ..badges import Badge
from ..selectors import receiver_firmware_stats, site_list
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
    badge = request.GET.get("badge", "")
    badge = badge if badge in Badge.ALL else ""
    q = request.GET.get("q", "").strip()
    sites = site_list(receiver=receiver, badge=badge or None)
    if q:
        sites = sites.filter(number__startswith=q) if q.isdigit() else sites.none()
    page = paginate(request, sites)
    path = request.path
    context = {
        **_header(receiver, "sites"),
        "page": page,
        "badge": badge,
        "q": q,
        "q_invalid": bool(q) and not q.isdigit(),
        "badge_words": BADGE_WORDS,
        "chips": [{"key": key or "all", "label": label, "count": None, "active": key == badge,
                   "url": query_url(path, badge=key, q=q)}
                  for key, label in [("", "All"), (Badge.RED, "Red"), (Badge.YELLOW, "Yellow"),
                                     (Badge.GREEN, "Green")]],
        "page_links": page_links(page, path, badge=badge, q=q),
        "list_url": query_url(path, badge=badge, q=q, page=page.number),
        "list_trigger": poll_trigger(False),
    }
    return render_live(request, page="receivers/receiver_sites.html", partial="receivers/partials/site_table.html",
                       context=context)
