"""Why an update may not start or stop: one enumeration of refusals, each with its stable code
and its operator wording, and the domain errors every entry point maps the same way (API:
409 / 400, panel: the reason in the form, rollouts: counts by short reason)."""

import enum

from django.utils.translation import gettext, gettext_noop

from core.errors import QuotaExceeded, Refused, Rejected


class Refusal(enum.Enum):
    """A refusal: `value` is the stable code (API `code`, rollout `skipped` keys), `short` the
    words for counts ("12 would downgrade"), `sentence` the reason for one site, filled in
    by `UpdateNotAllowed` with the words the sentence names. Both are English msgids (marked
    with gettext_noop), translated where they are said: `short_words`, `UpdateNotAllowed`."""

    def __new__(cls, code: str, short: str, sentence: str):
        member = object.__new__(cls)
        member._value_ = code
        member.short = short
        member.sentence = sentence
        return member

    # Queueing a site.
    UNKNOWN_SITE = "unknown_site", gettext_noop("unknown site"), gettext_noop("Site {site_number} does not exist on receiver {receiver}.")
    NO_DEVICE = "no_device", gettext_noop("no panel registered"), gettext_noop("{site} has no panel registered.")
    UNKNOWN_DEVICE_TYPE = "unknown_device_type", gettext_noop("device type not known yet"), gettext_noop("The device type of {site} is not known yet.")
    NO_CURRENT_RELEASE = "no_current_release", gettext_noop("no current release"), gettext_noop("{device_type} has no current release.")
    WRONG_DEVICE_TYPE = "wrong_device_type", gettext_noop("another device type"), gettext_noop("{site} is a {device_type}, not a {release_type}.")
    # The eligibility rules (firmware_updates/eligibility.py), in their order.
    ALREADY_CURRENT = "already_current", gettext_noop("already current"), gettext_noop("{site} already runs {version}.")
    ALREADY_UPDATING = "already_updating", gettext_noop("already being updated"), gettext_noop("{site} is already being updated.")
    # The site's consent (Site.remote_update, issue 14): its owner switched remote updates off.
    REMOTE_UPDATE_FORBIDDEN = ("remote_update_forbidden", gettext_noop("remote update not allowed at this site"),
                               gettext_noop("{site}: remote update not allowed at this site."))
    NO_IP_CHANNEL = "no_ip_channel", gettext_noop("no GPRS or Ethernet channel"), gettext_noop("{site} has no GPRS or Ethernet channel.")
    HARDWARE_NOT_SUPPORTED = (
        "hardware_not_supported", gettext_noop("hardware revision not supported"),
        gettext_noop("Hardware revision {hardware_revision} of {site} is not supported by {release} (supports {supported})."),
    )
    WOULD_DOWNGRADE = ("would_downgrade", gettext_noop("would downgrade"),
                       gettext_noop("{site} runs {firmware_version}, newer than {version}: that would downgrade it."))
    # Rollouts.
    NOTHING_TO_QUEUE = ("nothing_to_queue", gettext_noop("nothing to queue"),
                        gettext_noop("No {device_type} site on receiver {receiver} can be queued ({reasons})."))
    ROLLOUT_ENDED = "rollout_ended", gettext_noop("rollout ended"), gettext_noop("Rollout #{rollout} has already ended ({state}).")
    ROLLOUT_NOT_PAUSED = "rollout_not_paused", gettext_noop("not paused"), gettext_noop("Rollout #{rollout} is not paused ({state}).")
    ROLLOUT_NOT_RUNNING = "rollout_not_running", gettext_noop("not running"), gettext_noop("Rollout #{rollout} is not running ({state}).")
    NO_NEXT_WAVE = "no_next_wave", gettext_noop("no next wave"), gettext_noop("Rollout #{rollout} is in its last wave already.")
    WAVE_ALREADY_STARTED = ("wave_already_started", gettext_noop("wave already started"),
                            gettext_noop("Rollout #{rollout} is in wave {current} already, not {wave}: its next wave has started."))
    ROLLOUT_STILL_OPEN = ("rollout_still_open", gettext_noop("rollout still open"),
                          gettext_noop("Rollout #{rollout} is still {state}: stop it or let it complete first."))
    NO_FAILED_SITES = "no_failed_sites", gettext_noop("no failed sites"), gettext_noop("No site of rollout #{rollout} failed.")
    # Releases.
    RELEASE_ARCHIVED = ("release_archived", gettext_noop("release archived"),
                        gettext_noop("{release} is archived: restore it before offering it to panels."))
    RELEASE_IS_CURRENT = ("release_is_current", gettext_noop("current release"),
                          gettext_noop("{release} is the current version: mark another release current before archiving it."))
    DOWNGRADE_NOT_CONFIRMED = ("downgrade_not_confirmed", gettext_noop("downgrade not confirmed"),
                               gettext_noop("{release} is older than the current version {current}: {impact} Confirm the "
                                            "downgrade to mark it current anyway."))
    # Cancelling.
    ALREADY_DOWNLOADED = ("already_downloaded", gettext_noop("already downloaded"),
                          gettext_noop("The device has already downloaded the update; it can no longer be cancelled."))
    ALREADY_CANCELLING = ("already_cancelling", gettext_noop("already being cancelled"),
                          gettext_noop("The update is already being cancelled; waiting for the device to acknowledge."))
    FINISHED = "finished", gettext_noop("already finished"), gettext_noop("The update has already finished ({state}).")
    # Approving.
    NOT_AWAITING_APPROVAL = ("not_awaiting_approval", gettext_noop("not awaiting approval"),
                             gettext_noop("The update of {site} is not awaiting approval ({state})."))

    @property
    def short_words(self) -> str:
        return gettext(self.short)

    @classmethod
    def short_of(cls, code: str) -> str:
        """Short words for a stored code, in the active language; a code this version no
        longer knows reads as itself."""
        try:
            return cls(code).short_words
        except ValueError:
            return code.replace("_", " ")


def site_name(number) -> str:
    """How a refusal or a message names a site: "Site 12"."""
    return gettext("Site {number}").format(number=number)


def panel_name(serial: str) -> str:
    """How a refusal or a message names a panel without a site: "Panel NG00000001"."""
    return gettext("Panel {serial}").format(serial=serial)


def count_words(what: str, count: int) -> str:
    """"12 would downgrade": a count and the short words of what it counts, in the order the
    language says it (Russian puts the words first: «понизит версию: 12»)."""
    # Translators: a count before the short words of a refusal, e.g. "12 would downgrade".
    return gettext("{count} {what}").format(count=count, what=what)


class UpdateNotAllowed(Refused):
    """An operator or device asked for something the job's state or the device forbids.

    `refusal` says which rule; `code` its stable name (never translated); str() the reason in
    operator's words, in the language active where it is raised (the request's).
    """

    def __init__(self, refusal: Refusal, **words):
        super().__init__(gettext(refusal.sentence).format(**words), code=refusal.value)
        self.refusal = refusal


def no_current_release(device_type) -> UpdateNotAllowed:
    """"Nord GSM has no current release.": the one way it is said, whether queueing is refused
    for it (services.current_release_required) or a page shows it (a site's row, the
    update-all dialog)."""
    return UpdateNotAllowed(Refusal.NO_CURRENT_RELEASE, device_type=device_type)


class ReleaseRejected(Rejected):
    """An uploaded archive was refused; nothing was stored. `code`: why, a stable name (the
    archive library's ArchiveCode for what its checks refuse, else intake's own)."""

    def __init__(self, reason: str, *, field: str = "archive", code: str | None = None):
        super().__init__(reason, field=field, code=code)


class ReleaseOverQuota(QuotaExceeded, ReleaseRejected):
    """An archive refused by a size quota (FIRMWARE_MAX_ARCHIVE_SIZE, FIRMWARE_MAX_ARCHIVE_STORAGE):
    413 naming the setting through the API; the panel and the admin show it as any refused
    archive. Nothing was stored."""

    status = 413

    def __init__(self, reason: str, *, quota: str):
        ReleaseRejected.__init__(self, reason)
        self.quota = quota


class ReleaseNotAllowed(Refused):
    """A release may not be marked current, archived or chosen as it is (409 through the API).

    `refusal` says which rule; `code` its stable name; str() the reason in operator's words."""

    def __init__(self, refusal: Refusal, **words):
        super().__init__(gettext(refusal.sentence).format(**words), code=refusal.value)
        self.refusal = refusal
