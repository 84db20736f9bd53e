"""Which panel may be moved to a release, and why not: the one eligibility rule.

Seed: only panels with an IP channel (GPRS or Ethernet) are updated remotely; never a
downgrade; a panel already current or already updating is left alone. Issue 14: never a
panel whose site forbids remote updates (a site that asks for approval may be queued: its
job waits for an approver, services.jobs). The rule is one
ordered list of conditions written once, as SQL, and evaluated by the database for every
reader: the statistics and the badges' split of the red, the device type page's reasons,
"Update software at all sites" (its preview counts and the rollout's skips) and the queueing
of one site. Each device gets the code of the first condition it meets ("" when none: it
may be queued).

The order puts the badge's own conditions first (current: green; updating: yellow; the
same conditions as `badges.badge_expression`), so a
device's refusal says its colour too: every other refusal is a red panel that cannot be
queued (`not_eligible`, counted by reason), and "" a red panel a rollout would queue.
"""

from django.db.models import CharField, Exists, OuterRef, Q, Value, When
from django.db.models.expressions import Case
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from sites.models import Device, RemoteUpdate, Site

from .badges import has_active_job, runs_version
from .errors import Refusal, UpdateNotAllowed
from .models import ACTIVE_STATES, JobState, Release, UpdateJob

ELIGIBLE = ""
# The rule, in order: a device is refused for the first that holds.
RULES = (Refusal.ALREADY_CURRENT, Refusal.ALREADY_UPDATING, Refusal.REMOTE_UPDATE_FORBIDDEN,
         Refusal.NO_IP_CHANNEL, Refusal.HARDWARE_NOT_SUPPORTED, Refusal.WOULD_DOWNGRADE)


def site_consent(value: str) -> Q:
    """The device's site has this `remote_update` (sites.models.RemoteUpdate). A subquery the database
    runs once (PostgreSQL: a hashed subplan, SQLite: an ephemeral table), not a join per
    device: few sites say anything but `allowed`. A panel on no site says nothing."""
    return Q(site__in=Site.objects.consenting(value).values("pk"))


def _conditions(release: Release, active: Q, *, consent: bool = True) -> list[tuple[Refusal, Q]]:
    """The rule's conditions for `release`, in order; without `consent`, as if every site
    allowed remote updates (sites.tally counts devices so, and corrects it with the few
    devices at sites that forbid them)."""
    # "\0": no device has that revision, so a release supporting none refuses every device
    # (an empty IN list would make Django drop the condition).
    supported = release.hardware_revisions or ["\0"]
    condition = {
        Refusal.ALREADY_CURRENT: runs_version(release.version),
        Refusal.ALREADY_UPDATING: active,
        Refusal.REMOTE_UPDATE_FORBIDDEN: site_consent(RemoteUpdate.FORBIDDEN),
        Refusal.NO_IP_CHANNEL: Q(has_ip_channel=False),
        Refusal.HARDWARE_NOT_SUPPORTED: ~Q(hardware_revision__in=supported),
        Refusal.WOULD_DOWNGRADE: Q(firmware_version_key__gt=release.version_key),
    }
    return [(refusal, condition[refusal]) for refusal in RULES
            if consent or refusal != Refusal.REMOTE_UPDATE_FORBIDDEN]


def refusal_expression(releases: dict[int, Release], *, active: Q | Exists | None = None,
                       one_type: bool = False) -> Case:
    """Each device's refusal code for the release of its type in `releases` (device type id ->
    release), "" where it may be queued; a type with no release there: no_current_release.

    `active` says which devices already have an active job: by default the device's column,
    which displays read; decisions that write pass the jobs table itself
    (`active_job_exists()`), which the partial unique index keeps true under races.
    `one_type`: every device asked is of the one type in `releases` (the query says so), so
    its conditions need no test of the type (`_by_type`).
    """
    active = has_active_job() if active is None else active
    return _by_type(releases, lambda release: [
        *((condition, refusal.value) for refusal, condition in _conditions(release, active)), (None, ELIGIBLE)],
        one_type=one_type)


def _by_type(releases: dict[int, Release], outcomes, *, one_type: bool) -> Case:
    """A CASE on the device's type, then on that type's release's conditions in order:
    `outcomes(release)` gives (condition, code) pairs, the last one's condition None (its
    default). Each device tests its type once, not before each condition (in one CASE of
    `type AND condition` a device of the last type tested every type's conditions; the
    device type page's statistics spent about a third of their pass there, bench `rollouts`).
    `one_type`: the devices are all of the single type of `releases`: its own CASE alone."""
    def own(release) -> Case | Value:
        *whens, (_, default) = outcomes(release)
        if not whens:
            return Value(default)
        return Case(*(When(condition, then=Value(code)) for condition, code in whens),
                    default=Value(default), output_field=CharField())

    if one_type and len(releases) == 1:
        [release] = releases.values()
        return own(release)
    return Case(*(When(Q(device_type_id=type_id), then=own(release)) for type_id, release in releases.items()),
                default=Value(Refusal.NO_CURRENT_RELEASE.value), output_field=CharField())


# The red breakdown: why an outdated site has nothing planned. Each red site is counted under
# exactly one reason, the first that holds, so the counts add up to the red total (the
# statistics, the device type page's legend and its reason filter, the API all read this):
# first the rule's own refusals beyond the badge's (RULES after already_updating; or no
# current release for the whole type), then, for a site a rollout would queue: offline, its
# last update failed, its last update was cancelled, and at last "not queued yet".
OFFLINE, LAST_FAILED, LAST_CANCELLED, NOT_QUEUED = "offline", "failed", "cancelled", "not_queued"
BADGE_RULES = (Refusal.ALREADY_CURRENT, Refusal.ALREADY_UPDATING)
NOT_ELIGIBLE_REASONS = (Refusal.NO_CURRENT_RELEASE.value,
                        *(refusal.value for refusal in RULES if refusal not in BADGE_RULES))
RED_REASONS = (*NOT_ELIGIBLE_REASONS, OFFLINE, LAST_FAILED, LAST_CANCELLED, NOT_QUEUED)
# The legend's words: a heading for each reason of the breakdown; a refusal's are its own short
# words (errors.Refusal), as the update-all dialog and the rollout's skips say them.
RED_REASON_WORDS = {
    **{code: _(Refusal(code).short) for code in NOT_ELIGIBLE_REASONS},  # msgids marked in errors.py
    OFFLINE: _("offline"),
    LAST_FAILED: _("last update failed"),
    LAST_CANCELLED: _("last update cancelled"),
    NOT_QUEUED: _("not queued yet"),
}
# What each reason means, for the legend (a site is counted under the first that holds).
RED_REASON_HELP = {
    Refusal.NO_CURRENT_RELEASE.value: _("No release of this device type is marked current."),
    Refusal.REMOTE_UPDATE_FORBIDDEN.value: _("The site forbids remote updates: its panel is never queued."),
    Refusal.NO_IP_CHANNEL.value: _("The panel has neither GPRS nor Ethernet: it cannot be updated remotely."),
    Refusal.HARDWARE_NOT_SUPPORTED.value: _("The current release does not support the panel's board revision."),
    Refusal.WOULD_DOWNGRADE.value: _("The panel runs a newer version than the current release."),
    OFFLINE: _("Could be updated, but has not connected lately: the update starts when it connects."),
    LAST_FAILED: _("Could be updated; its last update failed."),
    LAST_CANCELLED: _("Could be updated; its last update was cancelled."),
    NOT_QUEUED: _("Could be updated and is online; nobody has queued it yet."),
}


def offline_q(offline_since, prefix: str = "") -> Q:
    """The device (at `prefix`) has not been heard from since `offline_since` (receiver's
    `offline_after` and the grace ago: `sites.services.offline_since`), or never."""
    return Q(**{f"{prefix}last_seen__isnull": True}) | Q(**{f"{prefix}last_seen__lt": offline_since})


RED_AFTER_RULES = (OFFLINE, LAST_FAILED, LAST_CANCELLED)  # the breakdown's reasons past the rule


def verdict_expression(releases: dict[int, Release], *, offline_since, one_type: bool = False,
                       consent: bool = True) -> Case:
    """Each device's verdict in one CASE: the rule's refusal code (`refusal_expression`,
    already_current and already_updating included), or, for a device that may be queued, its
    red reason (offline, failed, cancelled, not_queued). `refusal_of` and `red_reason_of` read
    the two answers out of it; a filter on one red reason is `verdict=<reason>`. `one_type`
    as for `refusal_expression`. `offline_since` None: as if every device were online, and
    without `consent` as if every site allowed remote updates: the verdict of a group of the
    fleet's tally (sites.tally), which reads neither.

    One CASE rather than a red reason built on a refusal annotation: Django writes an
    annotation out again wherever another one refers to it, which put the rule's conditions
    four times into each row's work (bench `find`, docs/benchmarks.md)."""
    extra = [*([(offline_q(offline_since), OFFLINE)] if offline_since is not None else []),
             (Q(last_outcome=JobState.FAILED), LAST_FAILED), (Q(last_outcome=JobState.CANCELLED), LAST_CANCELLED)]
    return _by_type(releases, lambda release: [
        *((condition, refusal.value) for refusal, condition in _conditions(release, has_active_job(), consent=consent)),
        *extra, (None, NOT_QUEUED)], one_type=one_type)


def refusal_of(verdict: str) -> str:
    """The rule's refusal code in a verdict ("" : the device may be queued)."""
    return ELIGIBLE if verdict in (*RED_AFTER_RULES, NOT_QUEUED) else verdict


def red_reason_of(verdict: str) -> str:
    """The red breakdown's reason in a verdict ("" : not red, green or yellow)."""
    return "" if verdict in {r.value for r in BADGE_RULES} else verdict


def active_job_exists() -> Exists:
    """The jobs table's own answer: has the device (OuterRef pk) an active job?"""
    return Exists(UpdateJob.objects.filter(device=OuterRef("pk"), state__in=ACTIVE_STATES))


def refusal_words(code: str, *, device: Device, release: Release, site: str) -> UpdateNotAllowed:
    """The refusal `code` of `device` for `release` in an operator's words (`site`: how to name
    the panel, "Site 12")."""
    return UpdateNotAllowed(
        Refusal(code), site=site, version=release.version, release=f"{release.device_type} {release.version}",
        firmware_version=device.firmware_version, hardware_revision=device.hardware_revision or pgettext("hardware revision", "unknown"),
        supported=", ".join(release.hardware_revisions) or pgettext("hardware revisions", "none"), device_type=device.device_type,
        release_type=release.device_type,
    )


def update_refusal(*, device: Device, release: Release, site: str) -> UpdateNotAllowed | None:
    """Why `device` may not be moved to `release` now (None if it may): the rule above for one
    device, asked of the jobs table (one query). A device of another type is refused by name.
    """
    if device.device_type_id != release.device_type_id:
        return refusal_words(Refusal.WRONG_DEVICE_TYPE.value, device=device, release=release, site=site)
    code = (Device.objects.filter(pk=device.pk)
            .annotate(refusal=refusal_expression({release.device_type_id: release}, active=active_job_exists()))
            .values_list("refusal", flat=True).get())
    return refusal_words(code, device=device, release=release, site=site) if code else None
