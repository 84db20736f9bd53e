"""Reads: fleet statistics per receiver and device type, and the device type page's list."""

from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import partial

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from receivers.models import Receiver
from sites.models import Device, DeviceType, Site

from .models import Release, UpdateJob


class Badge:
    GREEN = "green"  # runs the current version
    YELLOW = "yellow"  # outdated, an update is under way
    RED = "red"  # outdated, nothing planned


@dataclass(frozen=True)
class FirmwareStatsRow:
    device_type: DeviceType
    current_release: Release | None
    total: int
    current: int  # green
    updating: int  # yellow
    not_planned: int  # red
    not_eligible: int  # of the red: no IP channel or hardware not supported
    offline: int  # of the red: not heard from lately

    @property
    def current_version(self) -> str | None:
        return self.current_release.version if self.current_release else None

    @property
    def outdated(self) -> int:
        return self.updating + self.not_planned


def current_releases() -> dict[int, Release]:
    return {r.device_type_id: r for r in Release.objects.filter(is_current=True).select_related("device_type")}


def _is_current(releases: dict[int, Release]) -> Case:
    whens = [When(device_type_id=t, firmware_version=r.version, then=Value(True)) for t, r in releases.items()]
    return Case(*whens, default=Value(False), output_field=BooleanField()) if whens else Value(False)


def _hardware_supported(releases: dict[int, Release]) -> Case:
    whens = [When(device_type_id=t, hardware_revision__in=r.hardware_revisions or ["\0"], then=Value(True))
             for t, r in releases.items()]
    return Case(*whens, default=Value(False), output_field=BooleanField()) if whens else Value(False)


def receiver_firmware_stats(*, receiver: Receiver, device_type: DeviceType | None = None) -> list[FirmwareStatsRow]:
    """One row per device type on the receiver; three queries whatever the fleet size.

    Devices are counted per combination of flags (type, current, active job, eligible,
    offline) in one pass over the receiver's devices and the rows are summed here: each flag
    is computed once per device. "Has an active job" is the device's own column
    (`Device.active_job`), so no job is read: a join with the jobs made PostgreSQL hash every
    active job of the database on each call (bench `stats`, docs/benchmarks.md).
    """
    releases = current_releases()
    offline_since = timezone.now() - receiver.offline_after
    # Panels at sites: one a gateway registered before anyone gave it a site is not counted.
    devices = Device.objects.filter(receiver=receiver, device_type__isnull=False, site__isnull=False)
    if device_type is not None:
        devices = devices.filter(device_type=device_type)
    flag = partial(ExpressionWrapper, output_field=BooleanField())
    groups = (
        devices.annotate(
            is_current=_is_current(releases),
            active=flag(Q(active_job__isnull=False)),
            hw_ok=_hardware_supported(releases),
            offline=flag(Q(last_seen__isnull=True) | Q(last_seen__lt=offline_since)),
        )
        .annotate(eligible=flag(Q(has_ip_channel=True, hw_ok=True)))
        .values("device_type_id", "is_current", "active", "eligible", "offline")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[int, Counter] = defaultdict(Counter)
    for g in groups:
        row, n = counts[g["device_type_id"]], g["n"]
        row["total"] += n
        if g["is_current"]:
            row["current"] += n
        elif g["active"]:
            row["updating"] += n
        else:  # red: outdated and nothing planned
            row["not_planned"] += n
            row["not_eligible"] += n if not g["eligible"] else 0
            row["offline"] += n if g["offline"] else 0
    rows = [{"device_type_id": t, **c} for t, c in counts.items()]
    types = DeviceType.objects.in_bulk([r["device_type_id"] for r in rows])
    result = [
        FirmwareStatsRow(
            device_type=types[r["device_type_id"]],
            current_release=releases.get(r["device_type_id"]),
            **{k: r.get(k, 0) for k in ("total", "current", "updating", "not_planned", "not_eligible", "offline")},
        )
        for r in rows
    ]
    return sorted(result, key=lambda row: row.device_type.name)


def device_type_sites(*, receiver: Receiver, device_type: DeviceType, badge: str | None = None,
                      site_number: str | None = None) -> QuerySet[Device]:
    """The sites of a type on a receiver (their devices) with `badge` and `last_job_*`
    annotations and the active job (`active_job`, with its release) joined, in site number order.

    Filtered on the site's receiver so PostgreSQL walks the (receiver, number) index in order
    and stops after a page (100k sites: ~100 ms -> under 1 ms). Panels a gateway registered
    without a site are counted in the statistics but are not sites, so they are not listed.
    """
    release = Release.objects.filter(device_type=device_type, is_current=True).first()
    current_version = release.version if release else None
    last = UpdateJob.objects.filter(device=OuterRef("pk")).order_by("-created_at", "-pk")
    is_current = Q(firmware_version=current_version) if current_version else Q(pk__in=[])
    qs = (
        Device.objects.filter(receiver=receiver, site__receiver=receiver, device_type=device_type)
        .select_related("site", "device_type", "active_job__release")
        .annotate(
            last_job_state=Subquery(last.values("state")[:1]),
            last_job_reason=Subquery(last.values("reason")[:1]),
            badge=Case(
                When(is_current, then=Value(Badge.GREEN)),
                When(active_job__isnull=False, then=Value(Badge.YELLOW)),
                default=Value(Badge.RED),
                output_field=CharField(),
            ),
        )
        .order_by("site__number", "pk")
    )
    if badge in (Badge.GREEN, Badge.YELLOW, Badge.RED):
        qs = qs.filter(badge=badge)
    if site_number:
        qs = qs.filter(site__number__startswith=site_number) if site_number.isdigit() else qs.none()
    return qs


def device_badge(*, device: Device, current: Release | None, has_active_job: bool) -> str:
    if current and device.firmware_version == current.version:
        return Badge.GREEN
    return Badge.YELLOW if has_active_job else Badge.RED


def site_list(*, receiver: Receiver | None = None, number: int | None = None,
              device_type: DeviceType | None = None, badge: str | None = None) -> QuerySet[Site]:
    """Sites with their panel, `badge` and the panel's active job (`device.active_job`, with
    its release) joined.

    Same colours as `device_badge` for every device type at once: the current release of
    each site's type is a subquery. A site without a panel is red. Two queries a page.
    """
    current = Release.objects.filter(device_type=OuterRef("device__device_type"), is_current=True)
    qs = (
        Site.objects.select_related("receiver", "device__device_type", "device__active_job__release")
        .annotate(
            current_version=Subquery(current.values("version")[:1]),
            badge=Case(
                When(device__firmware_version=F("current_version"), then=Value(Badge.GREEN)),
                When(device__active_job__isnull=False, then=Value(Badge.YELLOW)),
                default=Value(Badge.RED),
                output_field=CharField(),
            ),
        )
        .order_by("receiver__code", "number")
    )
    if receiver is not None:
        qs = qs.filter(receiver=receiver)
    if number is not None:
        qs = qs.filter(number=number)
    if device_type is not None:
        qs = qs.filter(device__device_type=device_type)
    if badge is not None:
        qs = qs.filter(badge=badge)
    return qs
