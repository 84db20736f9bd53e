"""Template tags of the panel: one way to show a time.

`{% moment value %}` renders `<time>` in the operator's time zone (core/preferences.py) and
the language's one format with the zone (securitycenter/formats/: "14.03.2026 09:05 MSK");
`relative=True` says how long ago instead ("3 minutes ago"), where recency is what matters
(last seen, last report, queued), the exact time in its title. `as name` keeps it for a
sentence: `{% moment at relative=True as seen %}{% blocktranslate %}seen {{ seen }}...`.
"""

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _

from ..audit_words import audit_words as _audit_words

register = template.Library()


def moment_text(value, *, relative: bool = False) -> str:
    if relative:
        return naturaltime(value)
    return date_format(timezone.localtime(value), "DATETIME_FORMAT")


@register.simple_tag
def moment(value, relative=False):
    if not value:
        return ""
    local = timezone.localtime(value)
    exact = date_format(local, "DATETIME_FORMAT")
    text = naturaltime(value) if relative else exact
    return format_html('<time datetime="{}" title="{}">{}</time>', local.isoformat(timespec="seconds"), exact, text)


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
