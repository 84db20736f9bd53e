"""`GET /healthz`: whether this web process can do its work, for a load balancer, systemd or
a monitoring probe. No authentication, no throttle, nothing secret in the answer (the reasons
are logged, not shown).

- `database`: a `SELECT 1` through Django's connection;
- `broker`: a connection to the Celery broker (Redis in production);
- `reconcile`: the age of beat's last reconciliation pass (firmware_updates.models.Heartbeat,
  written at the end of each pass): old means beat, the workers or the broker stopped.

200 `{"status": "ok", ...}` when all three are fine, else 503 `{"status": "failing",
"problems": [...], ...}`.
"""

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from firmware_updates.models import Heartbeat

from .celery import app

log = logging.getLogger(__name__)


def _database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        log.warning("healthz: database unreachable: %s", exc)
        return False
    return True


def _broker() -> bool:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the answer
        log.warning("healthz: broker unreachable: %s", exc)
        return False
    return True


def _reconcile(database_ok: bool) -> dict:
    max_age = settings.HEALTH_RECONCILE_MAX_AGE
    if not database_ok:
        return {"status": "unknown", "last_pass_at": None, "age_seconds": None, "max_age_seconds": max_age}
    try:
        at = Heartbeat.objects.filter(name=Heartbeat.RECONCILE).values_list("at", flat=True).first()
    except DatabaseError as exc:
        log.warning("healthz: reconciliation time unreadable: %s", exc)
        at = None
    age = None if at is None else max(0, int((timezone.now() - at).total_seconds()))
    status = "never" if at is None else ("ok" if age <= max_age else "late")
    return {"status": status, "last_pass_at": at.isoformat() if at else None, "age_seconds": age,
            "max_age_seconds": max_age}


@never_cache
@require_safe
def healthz(request):
    database_ok = _database()
    broker_ok = _broker()
    reconcile = _reconcile(database_ok)
    problems = []
    if not database_ok:
        problems.append("The database is unreachable.")
    if not broker_ok:
        problems.append("The broker is unreachable.")
    if reconcile["status"] == "never":
        problems.append("Beat's reconciliation has never run.")
    elif reconcile["status"] == "late":
        problems.append(f"Beat's last reconciliation pass is {reconcile['age_seconds']} s old "
                        f"(more than {reconcile['max_age_seconds']} s): beat, the workers or the broker stopped.")
    body = {"status": "failing" if problems else "ok",
            "database": "ok" if database_ok else "unreachable",
            "broker": "ok" if broker_ok else "unreachable",
            "reconcile": reconcile}
    if problems:
        body["problems"] = problems
    return JsonResponse(body, status=503 if problems else 200)


urlpatterns = [path("healthz", healthz, name="healthz")]
