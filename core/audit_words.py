"""The operator audit's sentences (core.audit: Django admin's log, each object's History page),
stored in English and said again in the reader's language.

The services write these very templates (one wording); `audit_words` finds the template a
stored message was made from and fills in its translation. Two kinds are put together from
parts: a site's change ("Moved from north to south; name changed.", sites.services.site_update)
and "Changed {fields}." (the fields' verbose names, which are msgids of their own). A message
no template made (Django's own, older rows) is shown as Django says it.
"""

import re

from django.utils.translation import gettext, gettext_noop, pgettext

from core.i18n import template_pattern

CREATED = gettext_noop("Created.")
UPLOADED = gettext_noop("Uploaded.")
DELTA_ADDED = gettext_noop("Delta from {version} added.")
ARCHIVED = gettext_noop("Archived.")
RESTORED = gettext_noop("Restored from the archive.")
MARKED_CURRENT = gettext_noop("Marked current.")
MARKED_CURRENT_DOWNGRADE = gettext_noop(
    "Marked current: a downgrade from {version}, confirmed ({sites} site(s) turn outdated).")
GATEWAY_TOKEN_ROTATED = gettext_noop("Gateway token rotated.")
TARGET_TOKEN_ROTATED = gettext_noop("Target token rotated.")
CREATED_WITH_PANEL = gettext_noop("Created with panel {serial}.")
CREATED_WITH_GATEWAY_PANEL = gettext_noop("Created with panel {serial}, registered through the receiver's gateway.")
# Appended to a site's creation when it does not simply allow remote updates.
REMOTE_UPDATE_GIVEN = gettext_noop(" Remote update: {remote_update}.")
CHANGED = gettext_noop("Changed {fields}.")
SENTENCES = [CREATED, UPLOADED, DELTA_ADDED, ARCHIVED, RESTORED, MARKED_CURRENT, MARKED_CURRENT_DOWNGRADE,
             GATEWAY_TOKEN_ROTATED, TARGET_TOKEN_ROTATED, CREATED_WITH_GATEWAY_PANEL, CREATED_WITH_PANEL]

# A site's change: parts joined by "; ", the first capitalised, a full stop at the end.
MOVED_WITH_PANEL = gettext_noop("moved from {from_receiver} to {to_receiver} with panel {serial}")
MOVED = gettext_noop("moved from {from_receiver} to {to_receiver}")
NUMBER_CHANGED = gettext_noop("number {from_number} changed to {to_number}")
NAME_CHANGED = gettext_noop("name changed")
ADDRESS_CHANGED = gettext_noop("address changed")
REMOTE_UPDATE_CHANGED = gettext_noop("remote update changed from {from_value} to {to_value}")
SITE_PARTS = [MOVED_WITH_PANEL, MOVED, NUMBER_CHANGED, NAME_CHANGED, ADDRESS_CHANGED, REMOTE_UPDATE_CHANGED]


def site_change_message(parts: list[str]) -> str:
    """"Number 4 changed to 5; name changed.": the parts (SITE_PARTS, formatted) as one sentence."""
    message = "; ".join(parts)
    return f"{message[0].upper()}{message[1:]}."


def _remote_update(value: str) -> str:
    words = {"allowed": pgettext("remote update", "allowed"), "approval": pgettext("remote update", "approval"),
             "forbidden": pgettext("remote update", "forbidden")}
    return words.get(value, value)


def _said(template: str, match: re.Match) -> str:
    values = {name: _remote_update(value) if name in ("from_value", "to_value", "remote_update") else value
              for name, value in match.groupdict().items()}
    return gettext(template).format(**values)


def _sentence(text: str) -> str | None:
    for template in SENTENCES:
        # With the consent first: the sentence alone would take it for part of its last value.
        if given := template_pattern(template + REMOTE_UPDATE_GIVEN).match(text):
            values = given.groupdict()
            return gettext(template).format(**{k: v for k, v in values.items() if k != "remote_update"}) + gettext(
                REMOTE_UPDATE_GIVEN).format(remote_update=_remote_update(values["remote_update"]))
        if match := template_pattern(template).match(text):
            return _said(template, match)
    if match := template_pattern(CHANGED).match(text):
        fields = ", ".join(gettext(name) for name in match["fields"].split(", "))
        return gettext(CHANGED).format(fields=fields)
    return None


def _site_change(text: str) -> str | None:
    if not text.endswith("."):
        return None
    parts = text[:-1].split("; ")
    parts[0] = parts[0][:1].lower() + parts[0][1:]
    said = []
    for part in parts:
        template = next((t for t in SITE_PARTS if template_pattern(t).match(part)), None)
        if template is None:
            return None
        said.append(_said(template, template_pattern(template).match(part)))
    return site_change_message(said)


def audit_words(text: str) -> str:
    """A stored audit message in the active language (itself if no template made it)."""
    if not text:
        return text
    return _sentence(text) or _site_change(text) or text
