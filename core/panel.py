"""Pieces every engineering panel view shares: access checks, htmx partials, paging, words.

The panel follows one pattern (STYLE.md, htmx): a full page includes a partial template, and
the same URL answers an htmx request (HX-Request header) with that partial alone, so a live
region refreshes itself by polling its own URL. Actions answer htmx with the refreshed form
partial plus the flash messages out of band, and ask the page to refresh (HX-Trigger).
"""

from functools import wraps
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, gettext_noop
from django_htmx.http import trigger_client_event

from .permissions import CAPABILITY, granting_group

PAGE_SIZE = 50
# Seconds between refreshes of a live region: quick while something moves, slow otherwise
# so a page left open still notices what other operators did.
POLL_ACTIVE = 4
POLL_IDLE = 30


def refusal_words(perm: str) -> str:
    what = gettext(CAPABILITY.get(perm, gettext_noop("see this page")))
    group = granting_group(perm)
    if group:
        return gettext("Your account may not {what} (the {group} group may).").format(what=what, group=gettext(group))
    return gettext("Your account may not {what}.").format(what=what)


def require(*perms: str):
    """Signed-in operators only (others go to the login page), holding every one of `perms`."""

    def decorator(view):
        signed_in_view = login_required(view)

        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated and getattr(request, "htmx", False):
                # A live region polling after the session expired: send the whole page to the
                # login page instead of swapping the login form into a table.
                page = request.htmx.current_url_abs_path or request.get_full_path()
                response = HttpResponse(status=204)
                response["HX-Redirect"] = f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': page})}"
                return response
            for perm in perms:
                if request.user.is_authenticated and not request.user.has_perm(perm):
                    raise PermissionDenied(refusal_words(perm))
            return signed_in_view(request, *args, **kwargs)

        return wrapped

    return decorator


def is_partial(request) -> bool:
    """An htmx request for a live region (not a boosted page load or history restore)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_live(request, *, page: str, partial: str, context: dict):
    """The full page, or only its live partial for htmx; caches keep the two apart (Vary)."""
    response = render(request, partial if is_partial(request) else page, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def htmx_action_response(request, template: str, context: dict, *, done: bool):
    """Answer an htmx form post: the form again, the flash messages out of band, and when the
    action `done`, events that close the dialog and refresh the page's live regions."""
    html = render_to_string(template, context, request=request)
    html += render_to_string("partials/messages.html", {"oob": True}, request=request)
    response = HttpResponse(html)
    if done:
        trigger_client_event(response, "dialogs-close")
        trigger_client_event(response, "panel-refresh")
    return response


def local_url(request, target: str | None) -> str | None:
    """`target` when a redirect may go there: a path of this site (`/receivers/`) or an absolute
    URL of this host (in https when the request is); else None.

    Never handed to `redirect()` as it came: that reads a text without "/" or "." as a URL
    name, so `next=foo` raised NoReverseMatch (a 500), and `next=home` went wherever that
    name points. A relative path without its leading "/" is refused with the rest.
    """
    if not target or not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                         require_https=request.is_secure()):
        return None
    if not target.startswith("/") and not urlsplit(target).scheme:
        return None
    return target


def redirect_back(request, fallback: str):
    """After a form posted without JavaScript: back to `next` if it is ours, else `fallback`."""
    target = local_url(request, request.POST.get("next") or request.GET.get("next"))
    return HttpResponseRedirect(target) if target else redirect(fallback)


def paginate(request, queryset, *, per_page: int = PAGE_SIZE, count: int | None = None):
    """A page of `queryset`; `count`, when the caller already knows it, saves a COUNT(*)."""
    paginator = Paginator(queryset, per_page)
    if count is not None:
        paginator.count = count  # a cached_property: the instance value wins
    return paginator.get_page(request.GET.get("page"))


def page_links(page, path: str, **params) -> list[dict]:
    """Links to the first, last and nearby pages, with a gap marker where numbers are skipped."""
    last = page.paginator.num_pages
    shown = [n for n in range(1, last + 1) if n in (1, last) or abs(n - page.number) <= 2]
    links, previous = [], 0
    for number in shown:
        if number - previous > 1:
            links.append({"gap": True})
        links.append({"number": number, "current": number == page.number,
                      "url": query_url(path, **params, page=number)})
        previous = number
    return links


def query_url(path: str, **params) -> str:
    """`path` with the non-empty `params` as its query string."""
    kept = {k: v for k, v in params.items() if v not in (None, "") and not (k == "page" and str(v) == "1")}
    return f"{path}?{urlencode(kept)}" if kept else path


def poll_trigger(active: bool, *extra: str) -> str:
    """The hx-trigger of a live region: its polling interval plus the events that refresh it."""
    return ", ".join([f"every {POLL_ACTIVE if active else POLL_IDLE}s", *extra])


def duration_words(value) -> str:
    """A poll interval as operators say it: "30 s", "5 min", "1 h 30 min"."""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [gettext("{n} h").format(n=hours) if hours else "", gettext("{n} min").format(n=minutes) if minutes else "",
             gettext("{n} s").format(n=seconds) if seconds else ""]
    return " ".join(p for p in parts if p) or gettext("{n} s").format(n=0)


def percent(part: int, whole: int) -> float:
    return round(part * 100 / whole, 2) if whole else 0
