"""Why an update may not start or stop: one enumeration of refusals, each with its stable code
and its operator wording, and the domain errors every entry point maps the same way (API:
409 / 400, panel: the reason in the form, rollouts: counts by short reason)."""

import enum

from core.errors import QuotaExceeded, Refused, Rejected


class Refusal(enum.Enum):
    """A refusal: `value` is the stable code (API `code`, rollout `skipped` keys), `short` the
    words for counts ("12 would downgrade"), `sentence` the reason for one site, filled in
    by `UpdateNotAllowed` with the words the sentence names."""

    def __new__(cls, code: str, short: str, sentence: str):
        member = object.__new__(cls)
        member._value_ = code
        member.short = short
        member.sentence = sentence
        return member

    # Queueing a site.
    UNKNOWN_SITE = "unknown_site", "unknown site", "Site {site_number} does not exist on receiver {receiver}."
    NO_DEVICE = "no_device", "no panel registered", "{site} has no panel registered."
    UNKNOWN_DEVICE_TYPE = "unknown_device_type", "device type not known yet", "The device type of {site} is not known yet."
    NO_CURRENT_RELEASE = "no_current_release", "no current release", "{device_type} has no current release."
    WRONG_DEVICE_TYPE = "wrong_device_type", "another device type", "{site} is a {device_type}, not a {release_type}."
    # The eligibility rules (firmware_updates/eligibility.py), in their order.
    ALREADY_CURRENT = "already_current", "already current", "{site} already runs {version}."
    ALREADY_UPDATING = "already_updating", "already being updated", "{site} is already being updated."
    NO_IP_CHANNEL = "no_ip_channel", "no GPRS or Ethernet channel", "{site} has no GPRS or Ethernet channel."
    HARDWARE_NOT_SUPPORTED = (
        "hardware_not_supported", "hardware revision not supported",
        "Hardware revision {hardware_revision} of {site} is not supported by {release} (supports {supported}).",
    )
    WOULD_DOWNGRADE = ("would_downgrade", "would downgrade",
                       "{site} runs {firmware_version}, newer than {version}: that would downgrade it.")
    # Rollouts.
    NOTHING_TO_QUEUE = ("nothing_to_queue", "nothing to queue",
                        "No {device_type} site on receiver {receiver} can be queued ({reasons}).")
    ROLLOUT_ENDED = "rollout_ended", "rollout ended", "Rollout #{rollout} has already ended ({state})."
    ROLLOUT_NOT_PAUSED = "rollout_not_paused", "not paused", "Rollout #{rollout} is not paused ({state})."
    ROLLOUT_NOT_RUNNING = "rollout_not_running", "not running", "Rollout #{rollout} is not running ({state})."
    NO_NEXT_WAVE = "no_next_wave", "no next wave", "Rollout #{rollout} is in its last wave already."
    WAVE_ALREADY_STARTED = ("wave_already_started", "wave already started",
                            "Rollout #{rollout} is in wave {current} already, not {wave}: its next wave has started.")
    ROLLOUT_STILL_OPEN = ("rollout_still_open", "rollout still open",
                          "Rollout #{rollout} is still {state}: stop it or let it complete first.")
    NO_FAILED_SITES = "no_failed_sites", "no failed sites", "No site of rollout #{rollout} failed."
    # Releases.
    RELEASE_ARCHIVED = ("release_archived", "release archived",
                        "{release} is archived: restore it before offering it to panels.")
    RELEASE_IS_CURRENT = ("release_is_current", "current release",
                          "{release} is the current version: mark another release current before archiving it.")
    DOWNGRADE_NOT_CONFIRMED = ("downgrade_not_confirmed", "downgrade not confirmed",
                               "{release} is older than the current version {current}: {impact} Confirm the "
                               "downgrade to mark it current anyway.")
    # Cancelling.
    ALREADY_DOWNLOADED = ("already_downloaded", "already downloaded",
                          "The device has already downloaded the update; it can no longer be cancelled.")
    ALREADY_CANCELLING = ("already_cancelling", "already being cancelled",
                          "The update is already being cancelled; waiting for the device to acknowledge.")
    FINISHED = "finished", "already finished", "The update has already finished ({state})."

    @classmethod
    def short_of(cls, code: str) -> str:
        """Short words for a stored code; a code this version no longer knows reads as itself."""
        try:
            return cls(code).short
        except ValueError:
            return code.replace("_", " ")


class UpdateNotAllowed(Refused):
    """An operator or device asked for something the job's state or the device forbids.

    `refusal` says which rule; `code` its stable name; str() the reason in operator's words.
    """

    def __init__(self, refusal: Refusal, **words):
        super().__init__(refusal.sentence.format(**words), code=refusal.value)
        self.refusal = refusal


class ReleaseRejected(Rejected):
    """An uploaded archive was refused; nothing was stored."""

    def __init__(self, reason: str, *, field: str = "archive"):
        super().__init__(reason, field=field)


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
        super().__init__(refusal.sentence.format(**words), code=refusal.value)
        self.refusal = refusal
