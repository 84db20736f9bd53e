"""Answering through an outage of the broker or the database.

- `enqueue_after_commit`: the one way a task is sent. After the caller's transaction
  commits; a broker that cannot take it is logged, never raised, so the request that
  stored its rows answers as usual. What was not sent is re-sent from those rows by beat's
  reconciliation once the broker is back (wake-ups of queued jobs whose `wakeup_sent_at` is
  unset, rollouts pending or quiet past ROLLOUT_STALE_AFTER).
- `DatabaseOutageMiddleware` (in MIDDLEWARE) and `database_guard` (around the device
  protocol's views, which skip the middleware stack): a database out of reach answers 503
  with Retry-After, `{"detail": ...}` to the API and devices, a short page to browsers.
  Nothing else is needed to recover: a broken connection is closed at the end of its request
  (Django, CONN_HEALTH_CHECKS) and the next request connects again.
"""

import logging
import sys
import threading
import time
from functools import partial, wraps

from django.conf import settings
from django.core import signals
from django.db import InterfaceError, OperationalError, transaction
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from kombu.exceptions import OperationalError as BrokerError

log = logging.getLogger(__name__)


class EveryFewSeconds:
    """A warning said at most once per `seconds` per process: an outage is told, not
    repeated for every request."""

    def __init__(self, seconds: float):
        self.seconds, self.last = seconds, None
        self.lock = threading.Lock()

    def __call__(self, message: str, *args) -> None:
        now = time.monotonic()
        with self.lock:
            if self.last is not None and now - self.last < self.seconds:
                return
            self.last = now
        log.warning(message, *args)


# --- The broker ---------------------------------------------------------------------------

def enqueue_after_commit(task, *args, if_lost: str = "reconciliation sends it again",
                         countdown: float | None = None) -> None:
    """Send `task(*args)` once the current transaction commits (at once outside one), to run
    `countdown` seconds later if given.

    If the broker cannot take it (down, unreachable), a warning says what was not sent and
    what recovers it (`if_lost`); the caller's request or task goes on. With
    CELERY_TASK_ALWAYS_EAGER the task runs in place and its errors propagate, as ever.
    """
    transaction.on_commit(partial(_send, task, args, if_lost, countdown))


def _send(task, args, if_lost: str, countdown: float | None = None) -> None:
    if task.app.conf.task_always_eager:
        task.delay(*args)
        return
    try:
        if countdown:
            task.apply_async(args, countdown=countdown)
        else:
            task.delay(*args)
    except (BrokerError, OSError) as exc:
        log.warning("%s%s not sent, the broker is unreachable (%s): %s", task.name, _short(args), exc, if_lost)


def _short(args) -> str:
    text = repr(tuple(args))
    return text if len(text) <= 200 else text[:200] + "...)"


# --- The database -------------------------------------------------------------------------

DATABASE_ERRORS = (OperationalError, InterfaceError)
DETAIL = "The database is unreachable; try again shortly."
_said = EveryFewSeconds(30)


def database_unreachable(request, exc: Exception) -> HttpResponse:
    """503 with Retry-After: JSON `{"detail": ...}` for the API, devices and any client that
    does not ask for HTML; a short page (templates/database_unreachable.html) for browsers."""
    _said("database unreachable, answering 503 (%s: %s)", type(exc).__name__, str(exc).strip()[:200])
    retry_after = settings.DATABASE_OUTAGE_RETRY_AFTER
    if request.path_info.startswith("/api/") or "text/html" not in request.headers.get("Accept", ""):
        response = JsonResponse({"detail": DETAIL}, status=503)
    else:
        # Rendered without the request: context processors (the user, messages) would ask the
        # database.
        response = HttpResponse(render_to_string("database_unreachable.html", {"retry_after": retry_after}),
                                status=503)
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response


def database_guard(view):
    """`view`, answering 503 (`database_unreachable`) when the database is out of reach."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except DATABASE_ERRORS as exc:
            return database_unreachable(request, exc)

    return guarded


class DatabaseOutageMiddleware:
    """In MIDDLEWARE after the device protocol's own (whose views `database_guard` wraps). A
    view's database error becomes the 503 (`process_exception`); one raised by a middleware,
    which Django has already turned into its 500 page, is replaced by the 503 too (found
    through `got_request_exception`, sent while the error is handled)."""

    def __init__(self, get_response):
        self.get_response = get_response
        signals.got_request_exception.connect(_note_database_error, dispatch_uid="core.outages")

    def __call__(self, request):
        response = self.get_response(request)
        exc = getattr(request, "_database_error", None)
        if exc is not None and response.status_code == 500:
            return database_unreachable(request, exc)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, DATABASE_ERRORS):
            return database_unreachable(request, exception)
        return None


def _note_database_error(sender, request=None, **kwargs) -> None:
    exc = sys.exc_info()[1]
    if request is not None and isinstance(exc, DATABASE_ERRORS):
        request._database_error = exc
