"""Reads: fleet statistics per receiver and device type, the device type page's list, and
rollouts' waves and history for a page of rollouts (the API's list and the panel's)."""

import json
import re
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

from django.db import connection
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import StrIndex, Upper
from django.db.models.lookups import Exact, GreaterThan
from django.utils.translation import gettext

from core.db import read_connection
from core.statements import Bound, Slot, Statement, bind
from receivers.models import Receiver
from sites.models import Device, DeviceTally, DeviceType, RemoteUpdate, Site
from sites.services import offline_since
from sites.tally import seen_day
from sites.versions import version_key

from .badges import Badge, badge_expression
from .deltas import TransferEstimate, delta_failed_before, transfer_estimate
from .eligibility import (
    ELIGIBLE,
    OFFLINE,
    RED_REASONS,
    offline_q,
    red_reason_of,
    refusal_expression,
    refusal_of,
    verdict_expression,
)
from .errors import Refusal
from .models import JobState, Release, ReleaseDelta, Rollout, RolloutEvent, RolloutWave, UpdateJob
from .services.rollout_control import (
    rollout_settled_counts,
    rollouts_job_counts,
    rollouts_settled_counts,
)


@dataclass(frozen=True)
class FirmwareStatsRow:
    device_type: DeviceType
    current_release: Release | None
    total: int
    current: int  # green
    updating: int  # yellow
    not_planned: int  # red
    not_eligible: int  # of the red: may not be queued (eligibility rule), split below
    offline: int  # of the red that could be queued: not heard from lately
    not_eligible_reasons: dict = field(default_factory=dict)  # refusal code -> count
    # The red by reason (eligibility.RED_REASONS): each red site under exactly one reason.
    red_reasons: dict = field(default_factory=dict)
    # With `facets`: the sites by firmware version and by hardware revision (the filters' choices).
    versions: dict = field(default_factory=dict)
    hardware: dict = field(default_factory=dict)
    # With `transfer`: what "Update software at all sites" would send now (`rollout_transfer`).
    transfer: TransferEstimate | None = None
    # With `listed`: the sites the device type page's list keeps (its `SiteFilters`).
    listed: int | None = None

    @property
    def current_version(self) -> str | None:
        return self.current_release.version if self.current_release else None

    @property
    def outdated(self) -> int:
        return self.updating + self.not_planned


_CURRENT_RELEASES = Statement(lambda: Release.objects.filter(is_current=True).select_related("device_type"))


def current_releases() -> dict[int, Release]:
    return {r.device_type_id: r for r in _CURRENT_RELEASES.objects()}


def group_counts(queryset: QuerySet, *keys, weight: str | None = None, also: tuple = ()) -> list[tuple]:
    """`queryset`'s rows counted by `keys` (expressions over its rows): a (key values...,
    count) tuple per group, in no order; with `weight` (a column), its sum rather than the
    rows; `also`: more querysets of the same model, their rows counted with these (UNION
    ALL: each read by its own index, where an OR of their conditions reads every row). One
    query.

    Counted over a derived table, so that PostgreSQL plans the few groups there are: it
    estimates the groups of an expression from the columns the expression reads, and the
    eligibility verdict reads the site, the active job and the last contact, one value per
    device: it planned one group per device (100,000) and sorted them on disk, 110 ms for a
    pass that takes ~50 ms hashed (bench `rollouts`, docs/benchmarks.md). A derived
    table's column has no statistics (200 groups assumed), so it hashes the real few in
    memory. OFFSET 0 keeps PostgreSQL from pulling the derived table up into the outer
    query; SQLite has no such estimate and no OFFSET without LIMIT."""
    return _execute(group_counts_sql(queryset, *keys, weight=weight, also=also))


def group_counts_sql(queryset: QuerySet, *keys, weight: str | None = None, also: tuple = ()) -> tuple[str, tuple]:
    """`group_counts`' statement and its parameters."""
    names = [f"g{i}" for i in range(len(keys))]
    parts = [part.order_by().annotate(**dict(zip(names, keys, strict=True))).values_list(*names, *([weight] if weight else []))
             .query.sql_with_params() for part in (queryset, *also)]
    sql, params = " UNION ALL ".join(sql for sql, _ in parts), tuple(p for _, part in parts for p in part)
    fence = " OFFSET 0" if connection.vendor == "postgresql" else ""
    columns = ", ".join(connection.ops.quote_name(name) for name in names)
    total = f"SUM({connection.ops.quote_name(weight)})" if weight else "COUNT(*)"
    return f"SELECT {columns}, {total} FROM ({sql}{fence}) grouped GROUP BY {columns}", params


# fleet_counts' statements, compiled once per process for each receiver, type, current
# releases and list filter (`_statement_key`), as the device protocol's reads are (ddi/lookup.py):
# building and compiling them (the rule's CASE five times over) cost ~20 ms a page, their SQL 3.
_STATEMENTS: dict[tuple, tuple[tuple[str, tuple], tuple[str, tuple]]] = {}
_STATEMENTS_MAX = 512
_STATEMENTS_LOCK = threading.Lock()


def _kept(cache: dict, limit: int, key, make):
    """`cache[key]`, made by `make()` the first time and kept (past `limit` entries the oldest
    is dropped); the web threads share the caches."""
    if (value := cache.get(key)) is None:
        value = make()
        with _STATEMENTS_LOCK:
            if len(cache) >= limit:
                cache.pop(next(iter(cache)))  # the oldest
            value = cache.setdefault(key, value)
    return value


def _statement_key(receiver, device_type, releases, keys, condition) -> tuple:
    """Everything fleet_counts' SQL is made from but the clock: the receiver (its sites' consent
    is a subquery on it), the type, what the rule reads of each current release, the keys
    and the list's condition (both hashable expressions)."""
    return (connection.alias, receiver.pk, device_type.pk if device_type is not None else None,
            tuple(sorted((pk, r.pk, r.version, r.version_key, tuple(r.hardware_revisions or ()))
                         for pk, r in releases.items())),
            tuple(keys), condition)


def _list_key(receiver, device_type, release) -> tuple:
    """`_statement_key` of the device type page's list: one type and its current release."""
    return _statement_key(receiver, device_type, {device_type.pk: release} if release else {}, (), None)


def _fleet_statements(*, receiver, device_type, releases, keys, condition) -> tuple[tuple, tuple]:
    one_type = device_type is not None
    since, day = Bound("since", DateTimeField()), Bound("day", DateTimeField())
    release = releases.get(device_type.pk) if one_type else None
    tally = DeviceTally.objects.filter(receiver_id=receiver.pk, device_type_id__isnull=False)
    devices = Device.objects.filter(receiver=receiver, device_type__isnull=False)
    if one_type:
        tally, devices = tally.filter(device_type_id=device_type.pk), devices.filter(device_type=device_type)
    if condition:
        badge = badge_expression(current_version=release.version if release else None)
        tally, devices = tally.alias(badge=badge), devices.alias(badge=badge)
        keys = [*keys, ExpressionWrapper(condition, output_field=BooleanField())]

    def as_tallied():  # offline: never seen or seen before the threshold's day; every site allows
        return verdict_expression(releases, offline_since=day, consent=False, one_type=one_type)

    counted = group_counts_sql(tally, F("device_type_id"), as_tallied(), *keys, weight="n")
    # Each found by its own index (an OR of the two would read every device). The panels at
    # forbidding sites by their site (`site_id` is unique): on SQLite, without statistics, the
    # receiver and type conditions would otherwise lead it to walk every panel of the type
    # (`_Unindexed`; 100,000 sites and none forbidding: 90 ms -> under 1).
    of_receiver = _Unindexed.equal("receiver_id", receiver.pk)
    forbidding = Site.objects.consenting(RemoteUpdate.FORBIDDEN).filter(of_receiver)
    at_forbidding = Device.objects.filter(of_receiver, site__in=forbidding, device_type__isnull=False)
    if one_type:
        at_forbidding = at_forbidding.filter(_Unindexed.equal("device_type_id", device_type.pk))
    if condition:
        at_forbidding = at_forbidding.alias(badge=badge)
    stale = Q(last_seen__gte=day, last_seen__lt=since)
    real = verdict_expression(releases, offline_since=since, one_type=one_type)
    moved = group_counts_sql(devices.filter(stale), F("device_type_id"), as_tallied(), real, *keys,
                             also=(at_forbidding.exclude(stale),))
    return counted, moved


class _Unindexed(Func):
    """A column as its value, which SQLite's planner does not look up by an index (a unary
    `+`, as SQLite's documentation advises); the column itself on other databases."""

    template = "%(expressions)s"

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="+%(expressions)s", **extra_context)

    @classmethod
    def equal(cls, column: str, value) -> Exact:
        """`column = value`, not looked up by an index on SQLite."""
        return Exact(cls(F(column)), value)


def _execute(statement: tuple[str, tuple], **values) -> list[tuple]:
    """A statement's rows, its `Slot`s given `values`."""
    sql, params = statement
    params = bind(params, values)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


def fleet_counts(*, receiver: Receiver, device_type: DeviceType | None, releases: dict[int, Release],
                 keys, condition: Q | None = None) -> list[tuple]:
    """The receiver's devices with a type (of `device_type` if given) counted by
    (type id, verdict, *keys, [condition]): what one pass over the devices would count, read
    from the fleet's tally (sites/tally.py) in a few hundred rows rather than 100,000.

    The tally knows neither the clock nor the sites' consent, only the day of each panel's
    last contact, so its groups get the verdict as if the panels seen on the offline
    threshold's day or later were online and every site allowed updates; the panels seen that
    day but not since, or at a site that forbids updates (few, found by index), are read
    directly, with both verdicts, and moved from the one to the other. `keys`: expressions over fields
    the tally and the device share (firmware version, board revision, `site__isnull`...);
    `condition` the same, `badge` allowed (the list's, counted as a last key). Two queries,
    compiled once per process (`_STATEMENTS`), the receiver's `offline_since` and its day
    bound at each execution."""
    counted, moved = _kept(
        _STATEMENTS, _STATEMENTS_MAX, _statement_key(receiver, device_type, releases, keys, condition),
        lambda: _fleet_statements(receiver=receiver, device_type=device_type, releases=releases, keys=keys,
                                  condition=condition))
    threshold = offline_since(receiver)
    since = connection.ops.adapt_datetimefield_value(threshold)
    day = connection.ops.adapt_datetimefield_value(seen_day(threshold))
    counts: Counter = Counter()
    for type_id, verdict, *rest in _execute(counted, day=day):
        counts[(type_id, verdict, *rest[:-1])] += rest[-1]
    for type_id, was, verdict, *rest in _execute(moved, since=since, day=day):
        *key_values, n = rest
        counts[(type_id, was, *key_values)] -= n
        counts[(type_id, verdict, *key_values)] += n
    return [(*key, n) for key, n in counts.items() if n]


def receiver_firmware_stats(*, receiver: Receiver, device_type: DeviceType | None = None,
                            facets: bool = False, transfer: bool = False,
                            listed: "SiteFilters | None" = None) -> list[FirmwareStatsRow]:
    """One row per device type on the receiver; four queries whatever the fleet size, three for
    one type (with `transfer`, one or two more).

    Devices are counted per (type, verdict) from the fleet's tally (`fleet_counts`: a few
    hundred groups, not a pass over the devices, which cost the device type page 50-120 ms at
    100,000 sites, bench `rollouts`): the verdict (firmware_updates/eligibility.py) is the
    rule's refusal code, which also says the badge (already_current: green, already_updating:
    yellow, the rest red), or for a red device a rollout would queue its reason (offline,
    failed, cancelled, not queued); so the red splits under one reason each
    (`eligibility.RED_REASONS`) and the breakdown adds up. `facets` also counts the sites by
    firmware version and hardware revision. `transfer` (with a `device_type`) also says what a
    rollout would send now (`rollout_transfer`'s answer, from the same counts). `listed` (with
    a `device_type`; the list's `SiteFilters`) also counts the sites the device type page's
    list keeps: its paginator's count. The list's condition (`site_filter_q`) is a group key,
    but for its red reason, which is the verdict itself; not with search words, which the
    tally does not know (the list with a search counts the sites it finds itself). The
    list takes the devices at a site of the receiver, these the devices of the receiver at a
    site: the same, a panel's receiver being its site's (`sites.services.site_update` keeps
    them equal).
    """
    transfer = transfer and device_type is not None
    listed = listed.valid if device_type is not None and listed is not None else None
    if listed is not None and listed.q:
        raise ValueError("a search is counted by the list itself: the tally knows no site's name or address")
    # The list's condition but its red reason (compared below with the verdict).
    condition = site_filter_q(replace(listed, reason="")) if listed is not None else None
    releases = current_releases()
    if device_type is not None:
        # Only its release's conditions in the CASE, and no test of the type before each.
        releases = {pk: release for pk, release in releases.items() if pk == device_type.pk}
    # Panels at sites: one a gateway registered before anyone gave it a site is not counted.
    # A rollout does queue it, so the transfer counts it too, grouped apart.
    keys = [*([F("firmware_version")] if facets or transfer else []), *([F("hardware_revision")] if facets else []),
            ExpressionWrapper(Q(site__isnull=False), output_field=BooleanField())]
    counts: dict[int, Counter] = defaultdict(Counter)
    reasons: dict[int, Counter] = defaultdict(Counter)
    red: dict[int, Counter] = defaultdict(Counter)
    versions: dict[int, Counter] = defaultdict(Counter)
    hardware: dict[int, Counter] = defaultdict(Counter)
    to_queue: Counter = Counter()  # the devices a rollout would queue, by firmware version
    kept = 0  # the sites the list keeps
    for type_id, verdict, *rest in fleet_counts(receiver=receiver, device_type=device_type, releases=releases,
                                                keys=keys, condition=condition):
        n = rest.pop()
        version = rest.pop(0) if facets or transfer else None
        revision = rest.pop(0) if facets else None
        refusal = refusal_of(verdict)
        if transfer and refusal == ELIGIBLE:
            to_queue[version] += n
        if not rest.pop(0):  # not at a site: in the transfer only
            continue
        if listed is not None and (rest.pop(0) if condition else True) and verdict == (listed.reason or verdict):
            kept += n
        row = counts[type_id]
        row["total"] += n
        if facets:
            versions[type_id][version] += n
            hardware[type_id][revision] += n
        if refusal == Refusal.ALREADY_CURRENT.value:
            row["current"] += n
        elif refusal == Refusal.ALREADY_UPDATING.value:
            row["updating"] += n
        else:  # red: outdated and nothing planned
            row["not_planned"] += n
            red[type_id][red_reason_of(verdict)] += n
            if refusal != ELIGIBLE:
                row["not_eligible"] += n
                reasons[type_id][refusal] += n
    estimate = None
    if transfer:
        counts[device_type.pk]  # its row even without a site: the transfer is the page's
    # One type asked for: the caller's own (no query); else the types counted.
    types = ({device_type.pk: device_type} if device_type is not None
             else DeviceType.objects.in_bulk(list(counts)))
    if transfer and device_type.pk in releases:
        estimate = _transfer_of(receiver=receiver, release=releases[device_type.pk], to_queue=to_queue)
    result = [
        FirmwareStatsRow(
            device_type=types[type_id], current_release=releases.get(type_id),
            not_eligible_reasons=dict(reasons[type_id]), offline=red[type_id][OFFLINE],
            red_reasons={code: red[type_id][code] for code in RED_REASONS if red[type_id][code]},
            versions=dict(versions[type_id]), hardware=dict(hardware[type_id]), transfer=estimate,
            listed=kept if listed is not None else None,
            **{k: c.get(k, 0) for k in ("total", "current", "updating", "not_planned", "not_eligible")},
        )
        for type_id, c in counts.items()
    ]
    return sorted(result, key=lambda row: row.device_type.name)


# The device type page's sortable columns: the key in the URL (`?sort=`, "-" first for
# descending) -> the ordering; the site number (then pk) breaks ties so pages never overlap.
# Over devices, the site's number and name as the device's row has them (sites/search.py):
# no site joined to sort thousands of found panels.
SORTS = {
    "site": ("site_number",),
    "name": ("site_name", "site_number"),
    "status": ("badge_rank", "site_number"),
    "firmware": ("firmware_version_key", "site_number"),
    "hardware": ("hardware_revision", "site_number"),
    "seen": ("last_seen", "site_number"),
}
# The same sorts over sites (`sorted_sites(from_site=True)`): the site's own columns.
_SITE_COLUMNS = {"site_number": "number", "site_name": "name"}
DEFAULT_SORT = "site"


@dataclass(frozen=True)
class SiteFilters:
    """What the device type page's list (and its CSV, and the API's `sites/`) is narrowed to.
    Each value as typed; `errors` says which ones were not understood (the panel says so,
    the API answers 400)."""

    q: str = ""  # words: site number (its start), site name or address, panel serial
    badge: str = ""
    reason: str = ""  # a red reason (eligibility.RED_REASONS)
    version: str = ""  # firmware version, exactly
    hardware: str = ""  # hardware revision, exactly
    sort: str = DEFAULT_SORT

    @classmethod
    def from_query(cls, params) -> "SiteFilters":
        values = {name: (params.get(name) or "").strip()[:200]
                  for name in ("q", "badge", "reason", "version", "hardware", "sort")}
        return cls(**{**values, "sort": values["sort"] or DEFAULT_SORT})

    @property
    def errors(self) -> dict[str, str]:
        errors = {}
        if self.badge and self.badge not in Badge.ALL:
            errors["badge"] = gettext("Unknown badge {badge}; use green, yellow or red.").format(badge=repr(self.badge))
        if self.reason and self.reason not in RED_REASONS:
            errors["reason"] = gettext("Unknown reason {reason}; use one of {reasons}.").format(
                reason=repr(self.reason), reasons=", ".join(RED_REASONS))
        if self.sort.removeprefix("-") not in SORTS:
            errors["sort"] = gettext("Unknown sort {sort}; use one of {sorts} (\"-\" first: descending).").format(
                sort=repr(self.sort), sorts=", ".join(SORTS))
        return errors

    @property
    def valid(self) -> "SiteFilters":
        """The filters with what was not understood left out."""
        errors = self.errors
        return SiteFilters(q=self.q, version=self.version, hardware=self.hardware,
                           **{name: "" if name in errors else getattr(self, name)
                              for name in ("badge", "reason")},
                           sort=DEFAULT_SORT if "sort" in errors else self.sort)

    @property
    def narrowed(self) -> bool:
        """Anything but the badge narrows the list (the statistics' counts no longer apply)."""
        return bool(self.q or self.reason or self.version or self.hardware)

    def params(self, **changes) -> dict:
        """As URL parameters, the defaults left out, with `changes` applied."""
        values = {"q": self.q, "badge": self.badge, "reason": self.reason, "version": self.version,
                  "hardware": self.hardware, "sort": self.sort, **changes}
        if values.get("sort") == DEFAULT_SORT:
            values["sort"] = ""
        return values


SEARCH_WORDS = 8  # a search reads its first eight words


def site_search_q(q: str, receiver: Receiver | None = None) -> Q:
    """Sites (of `receiver` if given) whose number starts with, or whose name, address or
    panel serial contains, each word of `q` (any case): the panel's search over sites (the
    receiver's site table). Over devices, the device type page's list, the same rule is
    `device_search_q`.

    A word of three characters or more is one subquery of the sites it finds (by name or
    address, by number, and the sites of the panels whose serial has it), so that on
    PostgreSQL the trigram indexes answer it (sites/migrations 0009: a rare word in 100,000
    sites is a few index pages, not a pass over every name, address and serial). Words of one
    or two characters (a house number) have no trigram: the rows are asked directly."""
    sites = Site.objects.order_by() if receiver is None else Site.objects.filter(receiver=receiver).order_by()
    condition = Q()
    for word in q.split()[:SEARCH_WORDS]:
        if len(word) < 3:
            either = Q(name__icontains=word) | Q(address__icontains=word) | Q(device__serial__icontains=word)
            if word.isdigit():
                either |= Q(number__startswith=word)
        else:
            # A site has at most one panel (Device.site is one-to-one): its serial names it.
            serial = Device.objects.filter(serial__icontains=word, site__isnull=False).order_by().values("site_id")
            numbered = [sites.filter(number__startswith=word).values("pk")] if word.isdigit() else []
            found = sites.filter(Q(name__icontains=word) | Q(address__icontains=word)).values("pk").union(
                serial, *numbered, all=True)
            either = Q(pk__in=found)
        condition &= either
    return condition


def device_search_q(q: str) -> Q:
    """Devices whose site number starts with, or whose serial, site name or site address
    contains, each word of `q` (any case): `site_search_q`'s rule over devices.

    The words are read from the device's own row (`Device.search_text`, kept by the
    database: sites/search.py), so that on PostgreSQL one trigram index finds the panels of a
    word and the list's other conditions (type, colour, version) filter them as they are read,
    rather than the sites found each looking up its panel (bench `find`: a word in 8 % of
    100,000 sites, 80-100 ms -> 20-30 ms). A word of digits may also be the start of a site
    number: the panels it finds either way, one subquery (three characters or more: an OR
    with the site's number would read every panel of the list), or asked of the rows directly
    (one or two: no trigram)."""
    condition = Q()
    for word in q.split()[:SEARCH_WORDS]:
        either = _text_has(word)
        if word.isdigit():
            if len(word) < 3:
                either |= Q(site_number__startswith=word)
            else:
                numbered = Device.objects.filter(site_number__startswith=word).order_by().values("pk")
                either = Q(pk__in=Device.objects.filter(search_text__search_contains=word).order_by().values("pk")
                           .union(numbered, all=True))
        condition &= either
    return condition


_PARTS = re.compile(r"\w+")


def _text_has(word: str) -> Q:
    """The device's search text contains `word` (`SearchContains`). A word of several parts (a
    serial "NG-0012-16", "Mira,") is looked up in the trigram index by its longest part alone
    and the whole word checked on the rows found (STRPOS: no wildcard): the trigrams across
    its punctuation (" 00", "12 ") are in nearly every serial of a fleet, and each costs the
    index a pass over all their entries (a whole serial at bench `find`, 100,000 sites: the
    ids 42 -> 12 ms). Finds the same rows."""
    part = max(_PARTS.findall(word), key=len, default="")
    if part == word or len(part) < 3:
        return Q(search_text__search_contains=word)
    return Q(search_text__search_contains=part) & Q(GreaterThan(StrIndex("search_text", Upper(Value(word))), 0))


_ASK = object()  # release not given: the type's current one is read


def _current(device_type: DeviceType, release):
    """`release` if given, else the type's current one (or None)."""
    if release is _ASK:
        return Release.objects.filter(device_type=device_type, is_current=True).first()
    return release


def _listed_devices(receiver: Receiver, device_type: DeviceType, release, *, shown: bool,
                    since=None, needs=("badge", "verdict")) -> tuple[QuerySet, object]:
    """The device type page's list before its filters: the type's panels at the receiver's
    sites, each with its `badge` and `verdict` (annotated when `shown`; else only filtered and
    sorted on, and only those of `needs`: resolving the verdict's CASE is 2 ms a page), and
    the offline threshold the verdict was made with: `since`, else the receiver's
    `offline_since` now. `release`: the type's current one, or _ASK to read it."""
    release = _current(device_type, release)
    if since is None:
        since = offline_since(receiver)
    expressions = {}
    if shown or "badge" in needs:
        expressions["badge"] = badge_expression(current_version=release.version if release else None)
    if shown or "verdict" in needs:
        expressions["verdict"] = verdict_expression({device_type.pk: release} if release else {},
                                                    offline_since=since, one_type=True)
    # At a site (of the receiver: a panel's receiver is its site's, sites.services.site_update),
    # said of the device's own row, whose indexes then give the list in site number or name
    # order without a site joined.
    qs = Device.objects.filter(receiver=receiver, device_type=device_type, site_number__isnull=False)
    return (qs.annotate(**expressions) if shown else qs.alias(**expressions)), since


def device_type_site_ids(*, receiver: Receiver, device_type: DeviceType, filters: SiteFilters,
                         release: "Release | None | object" = _ASK) -> "SiteIds":
    """The device type page's list as device ids alone, narrowed and sorted as
    `device_type_sites` does it, joined with nothing but the sites: a sort over thousands of
    matches (status, version, last seen) reads no job, release or rollout for each of them
    (30-40 ms of a 60 ms query at 100,000 sites, bench `find`). A page of it then reads its
    rows (`device_type_sites(ids=...)`). `release`: the type's current one, if known."""
    return SiteIds(receiver=receiver, device_type=device_type, filters=filters.valid,
                   release=_current(device_type, release))


def _site_ids_queryset(receiver, device_type, release, filters: SiteFilters, since) -> QuerySet:
    needs = [name for name, needed in (("badge", filters.badge or filters.sort.removeprefix("-") == "status"),
                                       ("verdict", filters.reason)) if needed]
    qs, since = _listed_devices(receiver, device_type, release, shown=False, since=since, needs=needs)
    return sorted_sites(qs.filter(site_filter_q(filters, offline_since=since)), filters.sort).values_list("pk", flat=True)


# The list's ids statements (`SiteIds`), one per receiver, type, current release, filters and
# slice: the same list asked again (the page refreshing itself every few seconds, the next
# page, a sort given back) is not composed and compiled again by the ORM (its CASEs over three
# tables and the search's words: 2-8 ms a page at bench `find`), only the clock bound anew.
_IDS: dict[tuple, Statement] = {}
_IDS_MAX = 128


@dataclass(frozen=True)
class SiteIds:
    """`device_type_site_ids`' answer: the list's device ids in its order, read a slice at a
    time (a page: `ids[50:100]`, as the paginator asks) or whole (`list(ids)`: a search's every
    match), each read one statement compiled once (`_IDS`), the offline threshold bound at each
    read. `count()` counts them (the page knows its count otherwise: the statistics' pass, or a
    search's ids)."""

    receiver: Receiver
    device_type: DeviceType
    filters: SiteFilters
    release: "Release | None"

    def queryset(self, since=None) -> QuerySet:
        """The ORM's queryset of these ids (with the threshold `since`, else now's)."""
        return _site_ids_queryset(self.receiver, self.device_type, self.release, self.filters, since)

    def count(self) -> int:
        return self.queryset().count()

    def __iter__(self):
        return iter(self[:])

    def __getitem__(self, window: slice) -> list[int]:
        if not isinstance(window, slice) or window.step is not None:
            raise TypeError("SiteIds are read by slices (start:stop)")
        start, stop = window.start or 0, window.stop
        key = (*_list_key(self.receiver, self.device_type, self.release), self.filters, start, stop)
        statement = _kept(_IDS, _IDS_MAX, key, lambda: Statement(
            lambda: self.queryset(since=Bound("since", DateTimeField()))[start:stop]))
        since = connection.ops.adapt_datetimefield_value(offline_since(self.receiver))
        return [row[0] for row in statement.rows(since=since)]


def device_type_sites(*, receiver: Receiver, device_type: DeviceType, badge: str | None = None,
                      site_number: str | None = None, filters: SiteFilters | None = None,
                      ids: list[int] | None = None,
                      release: "Release | None | object" = _ASK,
                      rollouts: "list[Rollout] | tuple" = ()) -> QuerySet[Device] | list[Device]:
    """The sites of a type on a receiver (their devices) with `badge` and `verdict` (the
    eligibility rule's code or the red breakdown's reason: `eligibility.refusal_of`,
    `red_reason_of`), and the active job (`active_job`, with its release and its rollout,
    whose install window the list shows) joined; narrowed and sorted by `filters` (site
    number order by default).

    Sorted by the site number the device's row has (`Device.site_number`), so PostgreSQL walks
    the devices' (receiver, type, site number) index in order and stops after a page (100k
    sites: ~100 ms -> under 1 ms). Panels a gateway registered
    without a site are counted in the statistics but are not sites, so they are not listed.
    With `ids` (a page of `device_type_site_ids`): those devices' rows, in that order, a list,
    each with how its last update ended (`last_jobs_attach`). `release`: the type's current
    one, if known; `rollouts`: rollouts the page has already read (its rollout card's).
    """
    filters = (filters or SiteFilters(badge=badge or "", q=site_number or "")).valid
    if ids is not None:
        release = _current(device_type, release)
        rows = {device.pk: device for device in _rows_of(receiver, device_type, release, [int(pk) for pk in ids])}
        devices = [rows[pk] for pk in ids if pk in rows]
        for device in devices:  # the list's own (it is filtered on them), not read again
            device.receiver, device.device_type = receiver, device_type
        _job_releases_attach([d.active_job for d in devices if d.active_job is not None], release, rollouts)
        return last_jobs_attach(devices)
    qs, since = _listed_devices(receiver, device_type, release, shown=True)
    qs = qs.select_related("site", "device_type", "active_job__release", "active_job__rollout")
    return sorted_sites(qs.filter(site_filter_q(filters, offline_since=since)), filters.sort)


def _job_releases_attach(jobs: list[UpdateJob], release: Release | None, known=()) -> None:
    """The jobs' release and rollout, each read once for the page, not joined to each row: a
    page of a running rollout is 50 jobs of one release and one rollout, and a release's row
    is ~2 KB of JSON made into 50 copies (bench `rollouts`: the rows 23 -> 12 ms). The
    type's current release and the rollouts `known` are the page's own; any other release,
    and any other rollout, one query each (none when the page has them all)."""
    releases = {release.pk: release} if release is not None else {}
    missing = {job.release_id for job in jobs} - releases.keys()
    if missing:
        releases |= Release.objects.in_bulk(missing)
    rollouts = {rollout.pk: rollout for rollout in known}
    if missing := {job.rollout_id for job in jobs if job.rollout_id is not None} - rollouts.keys():
        rollouts |= Rollout.objects.in_bulk(missing)
    for job in jobs:
        job.release = releases[job.release_id]
        job.rollout = rollouts.get(job.rollout_id)


# The device type page's rows for a page of ids (`device_type_sites(ids=...)`), one statement
# per receiver, type and current release (`_statement_key`, as fleet_counts' are): the list's
# devices with `badge`, `verdict`, their site and their active job, as the ORM's
# select_related reads them (the jobs' release and rollout: `_job_releases_attach`), the ids
# and the clock bound at each execution, and on PostgreSQL prepared once per connection
# (core/db.py). Building and compiling it (two CASE annotations over three tables) and planning
# it cost ~10 ms of the page, Django's row iterator ~4 more (bench `find`, 100,000 sites).
_ROWS: dict[tuple, Statement] = {}
_ROWS_MAX = 64
# What no row shows, not read for 50 of them: the search's copy of the site's words, the
# settings digest, the token's hash. (The partitions and configData are: a row waiting for
# the install window says why, Device.has_disarmed_partition and on_battery.)
_ROWS_UNREAD = ("search_text", "attributes_at", "settings_digest", "token_hash")


def _rows_statement(receiver: Receiver, device_type: DeviceType, release: Release | None) -> Statement:
    def build():
        qs, _ = _listed_devices(receiver, device_type, release, shown=True, since=Bound("since", DateTimeField()))
        pk = f"{connection.ops.quote_name(Device._meta.db_table)}.{connection.ops.quote_name(Device._meta.pk.column)}"
        within = f"{pk} = ANY(%s)" if connection.vendor == "postgresql" else f"{pk} IN (SELECT value FROM json_each(%s))"
        return (qs.select_related("site", "active_job").defer(*_ROWS_UNREAD)
                .filter(RawSQL(within, [Slot("ids")], output_field=BooleanField())).order_by())

    return _kept(_ROWS, _ROWS_MAX, _list_key(receiver, device_type, release), lambda: Statement(build))


def _rows_of(receiver: Receiver, device_type: DeviceType, release: Release | None, ids: list[int]) -> list[Device]:
    conn = read_connection()
    return _rows_statement(receiver, device_type, release).objects(
        through=conn.alias, ids=ids if conn.vendor == "postgresql" else json.dumps(ids),
        since=conn.ops.adapt_datetimefield_value(offline_since(receiver)))


def last_jobs_attach(devices: list[Device]) -> list[Device]:
    """Each device with how its newest job ended, as its row says it ("Last update failed:
    <reason>", "cancelled after 120 KB of 315 KB"): `last_job_state`, `last_job_reason`,
    `last_job_received`, `last_job_size` (None without a job). Read only for the devices
    whose last update failed or was cancelled (`last_outcome`): one query, none if no device
    needs it. Rather than four subqueries a row in the rows' own query (a fifth of
    compiling it, and each row's jobs read four times); a statement written once (`_LAST_JOBS`,
    the ids bound as the rows' are), not composed by the ORM on each page (~3 ms)."""
    for device in devices:
        device.last_job_state = device.last_job_reason = device.last_job_received = device.last_job_size = None
    ended = {d.pk: d for d in devices if d.last_outcome in (JobState.FAILED, JobState.CANCELLED)}
    if not ended:
        return devices
    conn = read_connection()
    ids = list(ended) if conn.vendor == "postgresql" else json.dumps(list(ended))
    with conn.cursor() as cursor:
        cursor.execute(_LAST_JOBS[conn.vendor], [ids])
        for device_id, state, reason, received, size in cursor.fetchall():
            device = ended[device_id]
            device.last_job_state, device.last_job_reason = state, reason
            device.last_job_received, device.last_job_size = received, size
    return devices


def _last_jobs_sql(ids: str) -> str:
    """The newest job of each device of `ids` (SQL of a set of ids, `d.id`)."""
    jobs = UpdateJob._meta.db_table
    return (f"SELECT j.device_id, j.state, j.reason, j.bytes_downloaded, j.bytes_total FROM {jobs} j "
            f"WHERE j.id IN (SELECT (SELECT n.id FROM {jobs} n WHERE n.device_id = d.id "
            f"ORDER BY n.created_at DESC, n.id DESC LIMIT 1) FROM {ids})")


_LAST_JOBS = {"postgresql": _last_jobs_sql("unnest(%s::bigint[]) AS d (id)"),
              "sqlite": _last_jobs_sql("(SELECT value AS id FROM json_each(%s)) d")}


def site_filter_q(filters: SiteFilters, *, offline_since=None) -> Q:
    """What `filters` keep of the device type page's list, as one condition over devices
    annotated with their `badge` and `verdict` (as `device_type_sites` annotates them, with
    `offline_since`): the list applies it, and the statistics' pass counts the sites it keeps
    (`receiver_firmware_stats(listed=filters)`), so the count beside the list is the list's own.

    Two conditions are said twice, once more in what an index reads, so that the list does
    not compute the verdict of every panel of the type to keep a few thousand (bench `find`,
    100,000 sites: 50-70 ms each): a version is also its sort key (`device_fleet_idx`: the key
    is made from the version, so the same panels), and the offline verdict is also "not heard
    from since" (`device_seen_idx`: a panel is offline only then, eligibility.offline_q)."""
    condition = Q()
    if filters.badge:
        condition &= Q(badge=filters.badge)
    if filters.reason:
        condition &= Q(verdict=filters.reason)  # a red reason is its own verdict
        if filters.reason == OFFLINE and offline_since is not None:
            condition &= offline_q(offline_since)
    if filters.version:
        condition &= Q(firmware_version=filters.version, firmware_version_key=version_key(filters.version))
    if filters.hardware:
        condition &= Q(hardware_revision=filters.hardware)
    if filters.q:
        condition &= device_search_q(filters.q)
    return condition


# What the CSV export reads of each site, in its columns' order (`device_type_sites_export`).
EXPORT_FIELDS = ("site__number", "site__name", "site__address", "serial", "hardware_revision", "firmware_version",
                 "channels", "badge", "verdict", "last_seen", "active_job__state", "active_job__bytes_downloaded",
                 "active_job__bytes_total", "last_outcome")


def device_type_sites_export(*, receiver: Receiver, device_type: DeviceType, filters: SiteFilters,
                             chunk_size: int = 2000):
    """The device type page's list as `filters` narrow and sort it, every page of it, as
    tuples of EXPORT_FIELDS, read in chunks of `chunk_size` (PostgreSQL: a server-side
    cursor), so memory stays bounded whatever the fleet; one statement, no query per row."""
    qs = device_type_sites(receiver=receiver, device_type=device_type, filters=filters)
    return qs.values_list(*EXPORT_FIELDS).iterator(chunk_size=chunk_size)


def sorted_sites(qs: QuerySet, sort: str, *, from_site: bool = False) -> QuerySet:
    """`qs` (devices, or sites `from_site`) in the order of a `SORTS` key ("-" first:
    descending; ties in site number order), then by pk. Never-seen panels sort as the oldest; the status sorts red,
    yellow, green (what needs attention first)."""
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key == "status":
        qs = qs.annotate(badge_rank=Case(When(badge=Badge.RED, then=Value(0)), When(badge=Badge.YELLOW, then=Value(1)),
                                         default=Value(2), output_field=IntegerField()))
    ordering = []
    for rank, name in enumerate(SORTS.get(key, SORTS[DEFAULT_SORT])):
        if from_site and name != "badge_rank":
            name = _SITE_COLUMNS.get(name) or f"device__{name}"
        down = descending and rank == 0  # ties stay in site number order
        if name.endswith("last_seen"):  # the one nullable column (the others keep their index's order)
            ordering.append(F(name).desc(nulls_last=True) if down else F(name).asc(nulls_first=True))
        else:
            ordering.append(F(name).desc() if down else F(name).asc())
    return qs.order_by(*ordering, "pk")


def site_list(*, receiver: Receiver | None = None, number: int | None = None,
              device_type: DeviceType | None = None, badge: str | None = None,
              filters: SiteFilters | None = None) -> QuerySet[Site]:
    """Sites with their panel, `badge` and the panel's active job (`device.active_job`, with
    its release) joined; narrowed and sorted by `filters` as the device type page's list is
    (a red reason only with a `receiver`: whether a panel is offline is its receiver's rule).

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
    )
    filters = (filters or SiteFilters()).valid
    if receiver is not None:
        qs = qs.filter(receiver=receiver)
    if number is not None:
        qs = qs.filter(number=number)
    if device_type is not None:
        qs = qs.filter(device__device_type=device_type)
    if badge or filters.badge:
        qs = qs.filter(badge=badge or filters.badge)
    if filters.q:
        qs = qs.filter(site_search_q(filters.q, receiver=receiver))
    if filters.version:
        qs = qs.filter(device__firmware_version=filters.version)
    if filters.hardware:
        qs = qs.filter(device__hardware_revision=filters.hardware)
    if filters.reason and receiver is not None:
        red = (Device.objects.filter(receiver=receiver, site__isnull=False)
               .annotate(verdict=verdict_expression(current_releases(), offline_since=offline_since(receiver)))
               .filter(verdict=filters.reason).values("site_id"))
        qs = qs.filter(pk__in=red)
    if filters.sort == DEFAULT_SORT:  # across receivers: grouped by receiver first
        return qs.order_by("receiver__code", "number")
    return sorted_sites(qs, filters.sort, from_site=True)


@dataclass(frozen=True)
class DowngradeImpact:
    """What marking `release` current would do when it is older than the `current` one: the
    sites now running the current version turn outdated (red, "would downgrade": an update
    never moves a panel back), counted per receiver (code, name, sites), most first."""

    release: Release
    current: Release
    receivers: list[tuple[str, str, int]]

    @property
    def sites(self) -> int:
        return sum(n for _, _, n in self.receivers)


def release_downgrade_impact(*, release: Release) -> DowngradeImpact | None:
    """None unless `release` is older than its type's current release; then how many sites on
    which receivers turn outdated. Two queries (the current release, one grouped count)."""
    current = Release.objects.filter(device_type=release.device_type_id, is_current=True).first()
    if current is None or current.pk == release.pk or release.version_key >= current.version_key:
        return None
    rows = (Device.objects.filter(device_type=release.device_type_id, site__isnull=False,
                                  firmware_version=current.version)
            .values("receiver__code", "receiver__name").annotate(n=Count("id")).order_by("-n", "receiver__code"))
    return DowngradeImpact(release=release, current=current,
                           receivers=[(r["receiver__code"], r["receiver__name"], r["n"]) for r in rows])


def progress_and_waves(rollouts) -> tuple[dict[int, dict[str, int]], dict[int, list[RolloutWave]]]:
    """For a page of rollouts: their jobs by state, and their waves, each with its
    `succeeded` and `failed` counts (counted as the rollout's conditions count them). Two
    queries whatever the page, one pass over the rollouts' jobs."""
    progress, outcomes = rollouts_job_counts(rollout_ids=[r.pk for r in rollouts])
    return progress, _waves_counted(rollouts, outcomes)


def outcomes_and_waves(rollouts) -> tuple[dict[int, dict[str, int]], dict[int, list[RolloutWave]]]:
    """For a page of rollouts on the panel (the rollout card, the history page): their
    finished jobs by state, and their waves with `succeeded` and `failed`, as
    `progress_and_waves` counts them but from their settled jobs alone
    (`rollouts_settled_counts`): a running rollout's queued jobs are not read. Two queries."""
    finished, outcomes = rollouts_settled_counts(rollout_ids=[r.pk for r in rollouts])
    return finished, _waves_counted(rollouts, outcomes)


_WAVES_OF_ONE = Statement(lambda: RolloutWave.objects.filter(rollout_id=Bound("rollout", BigIntegerField()))
                          .order_by("number"))


def rollout_outcomes_and_waves(rollout: Rollout) -> tuple[dict[str, int], list[RolloutWave]]:
    """`outcomes_and_waves` of one rollout (the device type page's card): its finished jobs by
    state and its waves, by two statements composed once (core/statements.py)."""
    finished, outcomes = rollout_settled_counts(rollout_id=rollout.pk)
    waves = _WAVES_OF_ONE.objects(rollout=rollout.pk)
    for wave in waves:
        wave.succeeded, wave.failed = outcomes.get(wave.pk, (0, 0))
    return finished.get(rollout.pk, {}), waves


def _waves_counted(rollouts, outcomes: dict[int, tuple[int, int]]) -> dict[int, list[RolloutWave]]:
    by_rollout: dict[int, list[RolloutWave]] = defaultdict(list)
    for wave in RolloutWave.objects.filter(rollout__in=[r.pk for r in rollouts]):
        wave.succeeded, wave.failed = outcomes.get(wave.pk, (0, 0))
        by_rollout[wave.rollout_id].append(wave)
    return {r.pk: sorted(by_rollout[r.pk], key=lambda w: w.number) for r in rollouts}


def waves_of(rollouts) -> dict[int, list[RolloutWave]]:
    """The waves of a page of rollouts with their counts (`outcomes_and_waves`)."""
    return outcomes_and_waves(rollouts)[1]


def history_of(rollouts) -> dict[int, list[RolloutEvent]]:
    """The events of a page of rollouts, oldest first: one query."""
    events = defaultdict(list)
    for event in RolloutEvent.objects.filter(rollout__in=[r.pk for r in rollouts]).order_by("at", "pk"):
        events[event.rollout_id].append(event)
    return events


NOT_RETURNED_SHOWN = 20
_NOT_RETURNED = Statement(lambda: Device.objects.filter(
    receiver_id=Bound("receiver", BigIntegerField()), device_type_id=Bound("device_type", BigIntegerField()),
    not_returned_since__isnull=False).order_by("not_returned_since", "pk")
    .values_list("serial", "site_number", "not_returned_since")[:NOT_RETURNED_SHOWN + 1])


def not_returned_panels(*, receiver: Receiver, device_type: DeviceType) -> list[dict]:
    """The panels of the type on the receiver that did not come back after their install
    (alarm_events: reconciliation flags them), longest away first: `serial`, `site_number`,
    `since`. One query (the fleet index, then the few flagged rows); at most
    NOT_RETURNED_SHOWN + 1 rows, so the page can say there are more."""
    return [{"serial": serial, "site_number": number, "since": since}
            for serial, number, since in _NOT_RETURNED.rows(receiver=receiver.pk, device_type=device_type.pk)]


_AWAITING_APPROVAL = Statement(lambda: UpdateJob.objects.filter(
    state=JobState.AWAITING_APPROVAL, device__receiver_id=Bound("receiver", BigIntegerField()),
    device__device_type_id=Bound("device_type", BigIntegerField()))
    .order_by().values("state").annotate(n=Count("pk")).values_list("n"))


def awaiting_approval_count(*, receiver: Receiver, device_type: DeviceType) -> int:
    """How many of the type's panels on the receiver are held at sites that ask for approval
    (one count, by the jobs' state index)."""
    return sum(n for (n,) in _AWAITING_APPROVAL.rows(receiver=receiver.pk, device_type=device_type.pk))


_LATEST_ROLLOUT = Statement(lambda: Rollout.objects.filter(
    receiver_id=Bound("receiver", BigIntegerField()), device_type_id=Bound("device_type", BigIntegerField()))
    .select_related("release", "created_by").order_by("-created_at", "-pk")[:1])


def latest_rollout(*, receiver: Receiver, device_type: DeviceType) -> Rollout | None:
    """The newest rollout of the type on the receiver, open or not, with its release and
    author: what the device type page's rollout card shows. One query."""
    found = _LATEST_ROLLOUT.objects(receiver=receiver.pk, device_type=device_type.pk)
    if not found:
        return None
    found[0].receiver, found[0].device_type = receiver, device_type  # the caller's own, not read again
    return found[0]


def rollout_transfer(*, receiver: Receiver, device_type: DeviceType, release: Release | None) -> TransferEstimate | None:
    """What "Update software at all sites" would send to the panels it would queue now (the
    eligibility rule's red), full archives and deltas (`deltas.delta_for`'s choice): the
    panels a rollout would queue counted by version, then `_transfer_of`. The device type
    page has it from its statistics' pass (`receiver_firmware_stats(transfer=True)`)."""
    if release is None:
        return None
    to_queue = Counter(dict(Device.objects.filter(receiver=receiver, device_type=device_type)
                            .annotate(refusal=refusal_expression({device_type.pk: release}, one_type=True))
                            .filter(refusal=ELIGIBLE).values_list("firmware_version").annotate(n=Count("pk"))
                            .order_by()))
    return _transfer_of(receiver=receiver, release=release, to_queue=to_queue)


_RELEASE_DELTAS = Statement(lambda: ReleaseDelta.objects.filter(release_id=Bound("release", BigIntegerField()))
                            .values_list("base_version", "size"))


def _transfer_of(*, receiver: Receiver, release: Release, to_queue: Counter) -> TransferEstimate:
    """The transfer to the panels of `to_queue` (firmware version -> panels a rollout of
    `release` would queue): a version with a delta of the release gets it, except on the
    panels that had a delta of it fail (`deltas.delta_for`). One query for the release's
    deltas; one more, over the few panels with a failed delta job, only if some panel to
    queue runs a delta's base version."""
    deltas = dict(_RELEASE_DELTAS.rows(release=release.pk))
    bases = sorted(version for version in to_queue if version in deltas)
    failed: Counter = Counter()
    if bases:
        failed = Counter(dict(
            Device.objects.filter(receiver=receiver, device_type=release.device_type_id, firmware_version__in=bases)
            .filter(delta_failed_before(release))
            .annotate(refusal=refusal_expression({release.device_type_id: release}, one_type=True))
            .filter(refusal=ELIGIBLE).values_list("firmware_version").annotate(n=Count("pk")).order_by()))
    rows = [(deltas.get(version), failed_before, count) for version, n in to_queue.items()
            for failed_before, count in ((True, failed[version]), (False, n - failed[version])) if count]
    return transfer_estimate(release=release, rows=rows)
