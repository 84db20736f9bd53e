"""A site's badge, the colour the seed gives it (DESIGN.md 3), defined once.

green: runs the current version; yellow: outdated, an update is under way; red: outdated,
nothing planned. `badge_expression` is what every queryset annotates; `device_badge` says
the same of one device already loaded (tested equal to the expression).
"""

from django.db.models import CharField, Q, Value, When
from django.db.models.expressions import Case


class Badge:
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    ALL = (GREEN, YELLOW, RED)


def runs_version(version, prefix: str = "") -> Q:
    """The device (at `prefix`, e.g. "device__" from a site) runs `version`: a version string,
    an expression (a subquery per type), or None (no current release: never)."""
    if version is None:
        return Q(pk__in=[])
    return Q(**{f"{prefix}firmware_version": Value(version) if isinstance(version, str) else version})


def has_active_job(prefix: str = "") -> Q:
    """The device has an active job, as its own column says (`Device.active_job`)."""
    return Q(**{f"{prefix}active_job__isnull": False})


def badge_expression(*, current_version, prefix: str = "") -> Case:
    """The badge of each device (at `prefix`) whose type's current version is
    `current_version` (as `runs_version` takes it)."""
    return Case(
        When(runs_version(current_version, prefix), then=Value(Badge.GREEN)),
        When(has_active_job(prefix), then=Value(Badge.YELLOW)),
        default=Value(Badge.RED),
        output_field=CharField(),
    )


def device_badge(*, device, current_version: str | None, has_active_job: bool) -> str:
    if current_version is not None and device.firmware_version == current_version:
        return Badge.GREEN
    return Badge.YELLOW if has_active_job else Badge.RED

