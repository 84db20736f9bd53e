"""Template tags of the panel: one way to show a time.

`{% moment value %}` renders `<time>` in the operator's time zone (core/preferences.py) and
the language's one format with the zone (securitycenter/formats/: "14.03.2026 09:05 MSK");
`relative=True` says how long ago instead ("3 minutes ago"), where recency is what matters
(last seen, last report, queued), the exact time in its title. `as name` keeps it for a
sentence: `{% moment at relative=True as seen %}{% blocktranslate %}seen {{ seen }}...`.
"""

import functools
import html
from datetime import UTC, datetime, timedelta

from django import template
from django.contrib.humanize.templatetags.humanize import NaturalTimeFormatter, naturaltime
from django.utils import timezone
from django.utils.formats import date_format, get_format
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ..audit_words import audit_words as _audit_words

register = template.Library()

# Django's date format characters a time of the panel uses, as strftime says them ("T": the
# zone's abbreviation, as Django's `T` gives it, tzname()).
_STRFTIME = {"Y": "%Y", "m": "%m", "d": "%d", "H": "%H", "i": "%M", "T": "%Z"}


@functools.lru_cache(maxsize=16)
def _strftime_pattern(django_format: str) -> str | None:
    """A Django date format as a strftime pattern, if it has only the characters above and
    literals that are neither letters nor escapes (securitycenter/formats/: "d.m.Y H:i T");
    None for any other (said by Django's own `date_format`)."""
    out = []
    for char in django_format:
        if char in _STRFTIME:
            out.append(_STRFTIME[char])
        elif char.isalpha() or char in "\\%":
            return None
        else:
            out.append(char)
    return "".join(out)


def _exact(local: datetime) -> str:
    """`local` in the language's DATETIME_FORMAT: date_format's words, without its per-call
    machinery where the format allows (the device type page says 50 times a page). The zone
    is named even in the hour a clock says twice, where Django's `T` says nothing: "01:30 EDT"
    and "01:30 EST" are an hour apart."""
    pattern = _strftime_pattern(get_format("DATETIME_FORMAT"))
    return local.strftime(pattern) if pattern is not None else date_format(local, "DATETIME_FORMAT")


@functools.lru_cache(maxsize=1024)
def _recent(language: str, kind: str, count: int) -> str:
    """naturaltime's words for a moment under a day ago, made once per language (its key: the
    active one) and count."""
    words = NaturalTimeFormatter.time_strings[kind]
    return str(words) if kind == "now" else str(words % {"count": count})


def _relative(value: datetime) -> str:
    """naturaltime(value): "3 minutes ago"; its words for the last day cached (`_recent`)."""
    if not isinstance(value, datetime) or timezone.is_naive(value):
        return naturaltime(value)
    ago = datetime.now(UTC) - value  # naturaltime's own clock
    if ago <= timedelta(0) or ago.days:
        return naturaltime(value)
    seconds = ago.seconds
    if seconds == 0:
        return _recent(get_language(), "now", 0)
    if seconds < 60:
        return _recent(get_language(), "past-second", seconds)
    if seconds < 3600:
        return _recent(get_language(), "past-minute", seconds // 60)
    return _recent(get_language(), "past-hour", seconds // 3600)


def moment_text(value, *, relative: bool = False) -> str:
    if relative:
        return _relative(value)
    return _exact(timezone.localtime(value))


@register.simple_tag
def moment(value, relative=False):
    if not value:
        return ""
    local = timezone.localtime(value)
    exact = _exact(local)
    text = _relative(value) if relative else exact
    return mark_safe('<time datetime="{}" title="{}">{}</time>'.format(
        html.escape(local.isoformat(timespec="seconds")), html.escape(exact), html.escape(text)))


@register.filter
def audit_words(text: str) -> str:
    """An operator audit message (stored in English) in the active language (core/audit_words.py)."""
    return _audit_words(text)


@register.filter
def operator_name(user) -> str:
    """Who did it: the operator's user name, or "system" for the server's own decisions."""
    return user.get_username() if user else _("system")


@register.simple_tag
def zone_words() -> str:
    """The active time zone as the times show it: "MSK (UTC+03:00)", or "UTC+05:00" where the
    zone has no letters of its own."""
    now = timezone.localtime()
    abbreviation = now.tzname() or ""
    offset = now.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}" if offset and offset != "+0000" else "UTC"
    if abbreviation.isalpha() and abbreviation != "UTC":
        return f"{abbreviation} ({offset})"
    return offset
