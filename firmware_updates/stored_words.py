"""Sentences the server stores in English, said again in the reader's language.

A job's `reason`, a rollout's `paused_reason` and the messages on the timelines are written
once, when the thing happens, and kept as written: the API, the webhooks and the DDI
`cancelAction`/`deploymentBase` history carry them as they are. The panel says them in the
operator's language: each sentence the services store is one of the templates below (the
services format these very templates, so there is one wording), and `stored_words` finds
the template a stored text was made from and fills in its translation with the same
values. A text no template matches (a panel's own failure details) is shown as it came.
"""

import re

from django.utils.translation import gettext, gettext_noop

from core.i18n import template_pattern

# Job reasons and timeline messages (services/device_reports.py, jobs.py, reconcile.py).
# A failed delta (firmware_updates/deltas.py): the reason, and what happens next.
DELTA_FAILED = gettext_noop("{reason} (The delta failed: the next attempt sends the full archive.)")
DEVICE_FAILED = gettext_noop("The device reported a failure.")
# With details first: its pattern is the longer one.
DEVICE_FAILED_WHILE_DETAILS = gettext_noop("The device reported a failure ({execution}): {details}")
DEVICE_FAILED_WHILE = gettext_noop("The device reported a failure ({execution}).")
CANCEL_ACKNOWLEDGED = gettext_noop("Cancelled; the device acknowledged.")
CANCEL_REFUSED = gettext_noop("The device refused the cancel; the update continues.")
CANCELLED_BY = gettext_noop("Cancelled by {actor}.")
# A report of an earlier stage than the job's, taken after it (services/device_reports.py).
LATE_REPORT = gettext_noop("Late report ({execution}): it describes an earlier stage than the update has reached; "
                           "nothing changed.")
DEVICE_REPORTS_VERSION = gettext_noop("The device reports version {version}.")
DEVICE_RUNS = gettext_noop("The device runs {version}.")
PARTITION_CHANGED = gettext_noop("Partition {number} was {was} before the update and is {now} after it.")
SETTINGS_CHANGED = gettext_noop("The device's settings changed during the update (settings digest differs).")
RETRY_STORM = gettext_noop("Retry storm: the panel asked for {spent} bytes of its {size}-byte archive within the hour, "
                "more than {archives} archives' worth (DDI_DOWNLOAD_BUDGET_ARCHIVES); its downloads are "
                "refused (429) until the hour ends.")
STALLED_DOWNLOAD = gettext_noop("No download progress for {duration}; the device may be offline.")
INSTALL_TIMEOUT = gettext_noop("The device did not come back within {duration} after starting the install.")
VERSION_UNCONFIRMED = gettext_noop("The device reported success but has not reported the new version within {duration}.")
CANCEL_TIMEOUT = gettext_noop("Cancelled without acknowledgement: the device did not answer within {duration}; "
                   "its artifact is no longer served.")
# Rollouts' pause reasons (services/rollout_control.py).
PAUSED_BY = gettext_noop("Paused by {actor}.")
ROLLOUT_STOPPED_BY = gettext_noop("Rollout #{rollout} stopped by {actor}.")
# xgettext:no-python-format
WAVE_FAILED_SHARE = gettext_noop("Wave {wave}: {failed} of {finished} finished updates failed or timed out (more than {percent} %).")
WAVE_FAILED_COUNT = gettext_noop("Wave {wave}: {failed} updates failed or timed out (more than {limit}).")
WAVE_SUCCEEDED = gettext_noop("Wave {wave} succeeded ({succeeded} of {base} confirmed)")
# xgettext:no-python-format
WAVE_ENDED = gettext_noop("Wave {wave} ended with {succeeded} of {base} updates confirmed ({required} % required).")
AWAITING_APPROVAL = gettext_noop("{reason}; resume to start wave {next}.")

TEMPLATES = [value for name, value in dict(globals()).items() if name.isupper() and isinstance(value, str)]

# Words the services put into the templates, said in the reader's language too.
VALUE_WORDS = {
    "armed": gettext_noop("armed"), "disarmed": gettext_noop("disarmed"), "absent": gettext_noop("absent"),
    "system": gettext_noop("system"), "device": gettext_noop("panel"),
}
_DURATION = re.compile(r"^(\d+) (min|s)$")


def _value(name: str, value: str) -> str:
    if name == "reason":
        return stored_words(value)
    if value in VALUE_WORDS:
        return gettext(VALUE_WORDS[value])
    if name == "duration" and (match := _DURATION.match(value)):
        number, unit = match.groups()
        return (gettext("{n} min") if unit == "min" else gettext("{n} s")).format(n=number)
    return value


def stored_words(text: str) -> str:
    """`text`, stored in English by a service, in the active language (itself if no
    template made it)."""
    if not text:
        return text
    for template in TEMPLATES:
        if match := template_pattern(template).match(text):
            values = {name: _value(name, value) for name, value in match.groupdict().items()}
            return gettext(template).format(**values)
    return text


def value_words(value: str) -> str:
    """A single stored word (an actor label, an arm state) in the active language."""
    return gettext(VALUE_WORDS[value]) if value in VALUE_WORDS else value
