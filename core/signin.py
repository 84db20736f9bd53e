"""Sign-in guard and audit: the client's address, failed sign-ins recorded and counted, and
the panel's and the admin's login pages paused (429) after too many failures.

- The client's address is DRF's rule (`BaseThrottle.get_ident`) with NUM_PROXIES, which
  settings set from TRUSTED_PROXY_COUNT: with 0 the connection's address, X-Forwarded-For
  ignored (anyone can send it); with n proxies, the n-th entry from its end, the one the
  outermost trusted proxy wrote. One setting, one rule, for DRF's throttles and ours.
- Every failed sign-in (Django's `user_login_failed`: panel, admin, API token) is a
  `SignInFailure` row and a log line, and counts against its address and its user name in
  the cache, in a window of SIGNIN_COOL_OFF seconds that starts at the first failure.
- `signin_guarded` login pages refuse a sign-in (429, templates/429.html) while the address
  has SIGNIN_FAILURES_PER_ADDRESS failures in its window or the name
  SIGNIN_FAILURES_PER_NAME. The window ends by itself: never a lockout someone must lift.
  A successful sign-in forgets its name's failures (not its address's: a guesser with an
  account of their own could otherwise reset their count). The API token endpoint
  (core.api_support.TokenObtainView) asks the same `signin_refusal` (429 in JSON) and
  forgets the same way; on top it keeps its rate (PasswordGuessThrottle, per address, 20 a
  minute). Failures anywhere count for all three.
- The counters live in Django's cache (Redis in production; per process with the embedded
  locmem cache). A cache that does not answer lifts the limits with a log line; it never
  turns a sign-in into an error page.
- Housekeeping (beat, every HOUSEKEEPING_INTERVAL): `signin_failures_prune` deletes failures
  older than SIGNIN_FAILURE_RETENTION_DAYS, so a guesser cannot grow the table without end;
  `sessions_clear` deletes expired sessions (Django's `clearsessions`), which nothing else
  removes from the database.
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from rest_framework.throttling import BaseThrottle

from .bulk import delete_in_batches
from .models import SignInFailure

log = logging.getLogger(__name__)


def client_address(request) -> str:
    """The client's address as far as the trusted proxies vouch for it (module docstring)."""
    return BaseThrottle().get_ident(request) or ""


def cache_outage_log(what: str, exc: Exception) -> None:
    log.warning("%s: the cache does not answer (%s: %s); going on without it",
                what, type(exc).__name__, exc)


@dataclass(frozen=True)
class SignInRefusal:
    reason: str
    retry_after: int  # seconds until the window ends


def _key(kind: str, value: str) -> str:
    # Hashed: names and forwarded addresses are anyone's text; cache keys are not.
    return f"signin-failures:{kind}:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


def _name_key(username: str) -> str | None:
    # Case-folded: "Anna" and "anna" share one count (Django's names are case-sensitive, so
    # this only ever counts more).
    name = username.strip().casefold()
    return _key("name", name) if name else None


def _counters(*, address: str, username: str) -> list[tuple[str, int, str]]:
    """(cache key, limit, words) of each count that applies."""
    counters = [(_key("address", address), settings.SIGNIN_FAILURES_PER_ADDRESS,
                 gettext_noop("Too many failed sign-ins from your address."))]
    if name_key := _name_key(username):
        counters.append((name_key, settings.SIGNIN_FAILURES_PER_NAME,
                         gettext_noop("Too many failed sign-ins for this user name.")))
    return counters


def _entry(request) -> str:
    if request is None:
        return SignInFailure.Entry.OTHER
    if request.path_info.startswith("/api/"):
        return SignInFailure.Entry.API
    if request.path_info.startswith("/admin/"):
        return SignInFailure.Entry.ADMIN
    return SignInFailure.Entry.PANEL


def signin_failure_record(*, username: str, request) -> SignInFailure:
    """Audit a failed sign-in and count it against its address and user name."""
    address = client_address(request) if request is not None else ""
    failure = SignInFailure.objects.create(
        username=username[:150], address=address[:64], entry=_entry(request)
    )
    log.warning("sign-in failed: user name %r from %s (%s)", failure.username, address or "?", failure.entry)
    window = settings.SIGNIN_COOL_OFF
    try:
        for key, _limit, _words in _counters(address=address, username=username):
            # add() leaves a running window alone; incr() keeps its expiry.
            cache.add(key, 0, window)
            cache.add(f"{key}:until", time.time() + window, window)
            try:
                cache.incr(key)
            except ValueError:  # the window ended between add() and incr()
                cache.set_many({key: 1, f"{key}:until": time.time() + window}, window)
    except Exception as exc:  # any cache client's error (redis.ConnectionError, OSError, ...)
        cache_outage_log("sign-in failure not counted", exc)
    return failure


def signin_refusal(*, address: str, username: str) -> SignInRefusal | None:
    """Why a sign-in from `address` as `username` is refused now, or None."""
    counters = _counters(address=address, username=username)
    try:
        values = cache.get_many([k for key, _, _ in counters for k in (key, f"{key}:until")])
    except Exception as exc:  # as above: no limits rather than no sign-in
        cache_outage_log("sign-in limits not checked", exc)
        return None
    for key, limit, words in counters:
        if (values.get(key) or 0) >= limit:
            until = values.get(f"{key}:until") or time.time() + settings.SIGNIN_COOL_OFF
            return SignInRefusal(gettext(words), max(1, math.ceil(until - time.time())))
    return None


def signin_success_forget(*, username: str) -> None:
    """A successful sign-in ends its user name's failure window."""
    if (key := _name_key(username)) is None:
        return
    try:
        cache.delete_many([key, f"{key}:until"])
    except Exception as exc:
        cache_outage_log("sign-in failures not forgotten", exc)


def signin_guarded(view):
    """A login view (the panel's, the admin's) whose sign-ins pause after too many failures."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if request.method == "POST":
            username = request.POST.get(get_user_model().USERNAME_FIELD, "")
            address = client_address(request)
            refusal = signin_refusal(address=address, username=username)
            if refusal is not None:
                log.warning("sign-in refused for %ss: user name %r from %s (%s)",
                            refusal.retry_after, username[:150], address or "?", refusal.reason)
                response = render(request, "429.html", {
                    "reason": refusal.reason, "minutes": math.ceil(refusal.retry_after / 60),
                }, status=429)
                response["Retry-After"] = str(refusal.retry_after)
                return response
        return view(request, *args, **kwargs)

    return guarded


# --- housekeeping (beat) ----------------------------------------------------------------

PRUNE_BATCH = 10_000


def signin_failures_prune(*, now=None) -> int:
    """Delete failed sign-ins older than SIGNIN_FAILURE_RETENTION_DAYS, a batch at a time (a
    guessing spree may have left millions). Returns how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SIGNIN_FAILURE_RETENTION_DAYS)
    deleted = delete_in_batches(SignInFailure.objects.filter(at__lt=cutoff), batch=PRUNE_BATCH)
    if deleted:
        log.info("%s failed sign-ins older than %s days deleted", deleted, settings.SIGNIN_FAILURE_RETENTION_DAYS)
    return deleted


def sessions_clear() -> None:
    """Delete expired sessions, as `manage.py clearsessions` does, whatever SESSION_ENGINE."""
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()


# --- signal receivers (connected in core.apps) -------------------------------------------


def on_user_login_failed(sender, credentials, request=None, **kwargs):
    # The login forms and DRF's token serializer all pass the name as `username`.
    signin_failure_record(username=str(credentials.get("username") or ""), request=request)


def on_user_logged_in(sender, request, user, **kwargs):
    signin_success_forget(username=user.get_username())
