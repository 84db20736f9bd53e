"""Reads: fleet statistics per receiver and device type, the device type page's list, and
rollouts' waves and history for a page of rollouts (the API's list and the panel's)."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.utils import timezone

from receivers.models import Receiver
from sites.models import Device, DeviceType, Site

from .badges import Badge, badge_expression
from .deltas import TransferEstimate, delta_failed_before, transfer_estimate
from .eligibility import ELIGIBLE, refusal_expression
from .errors import Refusal
from .models import Release, ReleaseDelta, RolloutEvent, RolloutWave, UpdateJob
from .services.rollout_control import rollouts_job_counts


@dataclass(frozen=True)
class FirmwareStatsRow:
    device_type: DeviceType
    current_release: Release | None
    total: int
    current: int  # green
    updating: int  # yellow
    not_planned: int  # red
    not_eligible: int  # of the red: may not be queued (eligibility rule), split below
    offline: int  # of the red: not heard from lately
    not_eligible_reasons: dict = field(default_factory=dict)  # refusal code -> count

    @property
    def current_version(self) -> str | None:
        return self.current_release.version if self.current_release else None

    @property
    def outdated(self) -> int:
        return self.updating + self.not_planned


def current_releases() -> dict[int, Release]:
    return {r.device_type_id: r for r in Release.objects.filter(is_current=True).select_related("device_type")}


def receiver_firmware_stats(*, receiver: Receiver, device_type: DeviceType | None = None) -> list[FirmwareStatsRow]:
    """One row per device type on the receiver; three queries whatever the fleet size.

    Devices are counted per (type, refusal, offline) in one pass over the receiver's devices:
    the refusal is the eligibility rule's code (firmware_updates/eligibility.py), which also
    says the badge (already_current: green, already_updating: yellow, the rest red, "" being
    the red a rollout would queue). "Has an active job" is the device's own column
    (`Device.active_job`), so no job is read: a join with the jobs made PostgreSQL hash every
    active job of the database on each call (bench `stats`, docs/benchmarks.md).
    """
    releases = current_releases()
    offline_since = timezone.now() - receiver.offline_after
    # Panels at sites: one a gateway registered before anyone gave it a site is not counted.
    devices = Device.objects.filter(receiver=receiver, device_type__isnull=False, site__isnull=False)
    if device_type is not None:
        devices = devices.filter(device_type=device_type)
    groups = (
        devices.annotate(
            refusal=refusal_expression(releases),
            offline=ExpressionWrapper(Q(last_seen__isnull=True) | Q(last_seen__lt=offline_since),
                                      output_field=BooleanField()),
        )
        .values("device_type_id", "refusal", "offline")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[int, Counter] = defaultdict(Counter)
    reasons: dict[int, Counter] = defaultdict(Counter)
    for g in groups:
        row, n, refusal = counts[g["device_type_id"]], g["n"], g["refusal"]
        row["total"] += n
        if refusal == Refusal.ALREADY_CURRENT.value:
            row["current"] += n
        elif refusal == Refusal.ALREADY_UPDATING.value:
            row["updating"] += n
        else:  # red: outdated and nothing planned
            row["not_planned"] += n
            row["offline"] += n if g["offline"] else 0
            if refusal != ELIGIBLE:
                row["not_eligible"] += n
                reasons[g["device_type_id"]][refusal] += n
    types = DeviceType.objects.in_bulk(list(counts))
    result = [
        FirmwareStatsRow(
            device_type=types[type_id], current_release=releases.get(type_id),
            not_eligible_reasons=dict(reasons[type_id]),
            **{k: c.get(k, 0) for k in ("total", "current", "updating", "not_planned", "not_eligible", "offline")},
        )
        for type_id, c in counts.items()
    ]
    return sorted(result, key=lambda row: row.device_type.name)


def device_type_sites(*, receiver: Receiver, device_type: DeviceType, badge: str | None = None,
                      site_number: str | None = None) -> QuerySet[Device]:
    """The sites of a type on a receiver (their devices) with `badge`, `refusal` (the
    eligibility rule's code) and `last_job_*` annotations and the active job (`active_job`, with its release
    and its rollout, whose install window the list shows) joined, in site number order.

    Filtered on the site's receiver so PostgreSQL walks the (receiver, number) index in order
    and stops after a page (100k sites: ~100 ms -> under 1 ms). Panels a gateway registered
    without a site are counted in the statistics but are not sites, so they are not listed.
    """
    release = Release.objects.filter(device_type=device_type, is_current=True).first()
    current_version = release.version if release else None
    last = UpdateJob.objects.filter(device=OuterRef("pk")).order_by("-created_at", "-pk")
    qs = (
        Device.objects.filter(receiver=receiver, site__receiver=receiver, device_type=device_type)
        .select_related("site", "device_type", "active_job__release", "active_job__rollout")
        .annotate(
            last_job_state=Subquery(last.values("state")[:1]),
            last_job_reason=Subquery(last.values("reason")[:1]),
            badge=badge_expression(current_version=current_version),
            refusal=refusal_expression({device_type.pk: release} if release else {}),
        )
        .order_by("site__number", "pk")
    )
    if badge in Badge.ALL:
        qs = qs.filter(badge=badge)
    if site_number:
        qs = qs.filter(site__number__startswith=site_number) if site_number.isdigit() else qs.none()
    return qs


def site_list(*, receiver: Receiver | None = None, number: int | None = None,
              device_type: DeviceType | None = None, badge: str | None = None) -> QuerySet[Site]:
    """Sites with their panel, `badge` and the panel's active job (`device.active_job`, with
    its release) joined.

    Same colours as the device type page for every device type at once: the current release of
    each site's type is a subquery. A site without a panel is red. Two queries a page.
    """
    current = Release.objects.filter(device_type=OuterRef("device__device_type"), is_current=True)
    qs = (
        Site.objects.select_related("receiver", "device__device_type", "device__active_job__release")
        .annotate(
            current_version=Subquery(current.values("version")[:1]),
            badge=badge_expression(current_version=F("current_version"), prefix="device__"),
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


def progress_and_waves(rollouts) -> tuple[dict[int, dict[str, int]], dict[int, list[RolloutWave]]]:
    """For a page of rollouts: their jobs by state, and their waves, each with its
    `succeeded` and `failed` counts (counted as the rollout's conditions count them). Two
    queries whatever the page, one pass over the rollouts' jobs."""
    progress, outcomes = rollouts_job_counts(rollout_ids=[r.pk for r in rollouts])
    by_rollout: dict[int, list[RolloutWave]] = defaultdict(list)
    for wave in RolloutWave.objects.filter(rollout__in=[r.pk for r in rollouts]):
        wave.succeeded, wave.failed = outcomes.get(wave.pk, (0, 0))
        by_rollout[wave.rollout_id].append(wave)
    return progress, {r.pk: sorted(by_rollout[r.pk], key=lambda w: w.number) for r in rollouts}


def waves_of(rollouts) -> dict[int, list[RolloutWave]]:
    """The waves of a page of rollouts with their counts (`progress_and_waves`)."""
    return progress_and_waves(rollouts)[1]


def history_of(rollouts) -> dict[int, list[RolloutEvent]]:
    """The events of a page of rollouts, oldest first: one query."""
    events = defaultdict(list)
    for event in RolloutEvent.objects.filter(rollout__in=[r.pk for r in rollouts]).order_by("at", "pk"):
        events[event.rollout_id].append(event)
    return events


def not_returned_panels(*, receiver: Receiver, device_type: DeviceType, limit: int = 20) -> list[dict]:
    """The panels of the type on the receiver that did not come back after their install
    (alarm_events: reconciliation flags them), longest away first: `serial`, `site_number`,
    `since`. One query (the fleet index, then the few flagged rows); at most `limit` + 1 rows,
    so the page can say there are more."""
    return [{"serial": serial, "site_number": number, "since": since}
            for serial, number, since in Device.objects.filter(
                receiver=receiver, device_type=device_type, not_returned_since__isnull=False)
            .order_by("not_returned_since", "pk").values_list("serial", "site__number", "not_returned_since")
            [:limit + 1]]


def rollout_transfer(*, receiver: Receiver, device_type: DeviceType, release: Release | None) -> TransferEstimate | None:
    """What "Update software at all sites" would send to the panels it would queue now (the
    eligibility rule's red), full archives and deltas (`deltas.delta_for`'s choice), in one
    query: the panels by version, with the size of the release's delta from it."""
    if release is None:
        return None
    delta_size = Subquery(ReleaseDelta.objects.filter(release=release, base_version=OuterRef("firmware_version"))
                          .values("size")[:1])
    rows = (Device.objects.filter(receiver=receiver, device_type=device_type)
            .annotate(refusal=refusal_expression({device_type.pk: release}), failed=delta_failed_before(release),
                      delta_size=delta_size)
            .filter(refusal=ELIGIBLE).values_list("delta_size", "failed").annotate(n=Count("pk")).order_by())
    return transfer_estimate(release=release, rows=list(rows))
