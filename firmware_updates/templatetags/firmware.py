"""Template tags of the update app: stored English sentences in the reader's language, and the
small pieces every site's row and page show the same way: its badge, its channels, its
connection.

The pieces are tags, not included templates: the device type page shows them for each of its
50 rows, and an `{% include %}` costs several times a tag there (a new context and template per
row, each word looked up again). One place each still: the device type list, the receiver's site
table and the site page all use these tags.
"""

import functools
import html

from django import template
from django.template.defaultfilters import filesizeformat, urlencode
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import time_format
from django.utils.safestring import SafeData, SafeString, mark_safe
from django.utils.translation import get_language, gettext, pgettext

from core.templatetags.panel import moment

from ..stored_words import stored_words as _stored_words
from ..views.presenters import BADGE_WORDS

register = template.Library()

@register.filter
def stored_words(text: str) -> str:
    """A job's reason or warning, a pause reason: as stored, said in the active language
    (firmware_updates/stored_words.py)."""
    return _stored_words(text)


def _escaped(value) -> str:
    """`value` as HTML text: as is if already safe (a piece made here, a translation marked
    safe), else escaped as Django's `escape` does (html.escape of its text)."""
    return value if isinstance(value, SafeData) else html.escape(str(value))


def _html(template: str, *values) -> SafeString:
    """format_html without its per-value lazy-string machinery (a third of the rows' time):
    the values escaped, the template trusted."""
    return SafeString(template.format(*map(_escaped, values)))


def _html_join(separator: str, template: str, rows) -> SafeString:
    return SafeString(separator.join(_html(template, *row) for row in rows))


@functools.lru_cache(maxsize=8)
def _pieces(language: str) -> dict:
    """The pieces the tags below repeat on every row, made once per language (a row asked
    gettext a dozen times, and the list has 50 rows; the catalogues never change while the
    server runs). `language` is the active one (the cache's key)."""
    return {
        "badge": {code: _html('<span class="badge badge-{}" data-testid="badge" data-badge="{}">{}</span>',
                              code, code, word)
                  for code, word in BADGE_WORDS.items()},
        "no_channel": _html('<span class="channels"><span class="muted">{}</span></span>',
                            pgettext("channels", "none")),
        "ip_title": gettext("IP channel: remote update possible"), "other_title": gettext("not an IP channel"),
        "online": _html('<span class="conn conn-online" data-testid="online">{}</span>', gettext("Online")),
        "offline": _html('<span class="conn conn-offline" data-testid="offline">{}</span>', gettext("Offline")),
        "seen": gettext("seen %(seen)s"), "never_seen": gettext("never seen"),
    }


def _piece(name: str):
    return _pieces(get_language())[name]


@register.simple_tag
def badge(code: str, pieces=None) -> str:
    """The status badge: its colour and its word, never the colour alone (WCAG 1.4.1).
    `pieces`: `_pieces` of the active language, when the caller has them already."""
    badges = (pieces or _pieces(get_language()))["badge"]
    return badges.get(code) or badges["red"]


@register.simple_tag
def channels(items, pieces=None) -> str:
    """A panel's reporting channels as tags, the IP ones (a remote update's way) marked;
    `items` as presenters.channel_list gives them."""
    pieces = pieces or _pieces(get_language())
    if not items:
        return pieces["no_channel"]
    ip_title, other_title = pieces["ip_title"], pieces["other_title"]
    tags = _html_join("", '<span class="{}" title="{}">{}</span>', (
        ("tag tag-ip", ip_title, item["label"]) if item["ip"] else ("tag", other_title, item["label"])
        for item in items))
    return _html('<span class="channels">{}</span>', tags)


@register.simple_tag
def connection(online: bool, last_seen, not_returned_since=None, pieces=None) -> str:
    """Online or offline in words, when the panel was last seen ("seen 3 minutes ago"), and, for
    a panel away to install whose expected offline window passed without a word, that it did not
    come back (docs/security-center.md)."""
    pieces = pieces or _pieces(get_language())
    state = pieces["online" if online else "offline"]
    if last_seen:
        # A translation is trusted markup, as {% blocktranslate %} treats it; the time is escaped.
        seen = mark_safe(pieces["seen"] % {"seen": moment(last_seen, relative=True)})
    else:
        seen = pieces["never_seen"]
    out = _html('{}\n<div class="muted small nowrap">{}</div>', state, seen)
    if not_returned_since:
        words = gettext("did not come back after the update (since %(time)s)") % {
            "time": time_format(timezone.localtime(not_returned_since), "H:i")}
        out += _html('<p class="reason not-returned" role="status" data-testid="not-returned">'
                     '<span class="tag tag-red">{}</span> {}</p>', gettext("Not back"), words)
    return out


@register.simple_tag
def job_progress(job) -> str:
    """An update under way (a presenters.JobView): its state in words, the version it goes to,
    the archive sent, the download's bar, bytes, speed and time left, and what it waits for."""
    update = job.job
    sent = job.sent
    head = _html('<span class="state state-{}" data-testid="job-state">{}</span>'
                 '<span class="muted small">{}{}</span>',
                 job.state, job.state_label, gettext("to %(version)s") % {"version": update.release.version},
                 _html(' · <span data-testid="job-artifact" data-kind="{}">{}</span>', job.sent_kind, sent)
                 if sent else "")
    parts = [_html('<div class="job" data-testid="job" data-job="{}" data-state="{}"><div class="job-head">{}</div>',
                   update.pk, job.state, head)]
    if job.shows_bytes:
        percent, done, total = job.percent, update.bytes_downloaded, update.bytes_total
        parts.append(_html(
            '<div class="progress" role="progressbar" aria-label="{}" aria-valuemin="0" aria-valuemax="100" '
            'aria-valuenow="{}"><span style="width: {}%"></span></div>'
            '<div class="small muted" data-testid="job-bytes" data-bytes="{}" data-of="{}" title="{}">'
            '{} · <span data-testid="job-percent">{}%</span></div>',
            gettext("Download progress"), percent, percent, done, total,
            gettext("%(done)s of %(total)s bytes") % {"done": done, "total": total},
            gettext("%(done)s of %(total)s") % {"done": filesizeformat(done), "total": filesizeformat(total)},
            percent))
        if rate := job.rate_words:
            parts.append(_html('<div class="small muted" data-testid="job-rate">{}</div>', rate))
    if hint := job.hint:
        parts.append(_html('<div class="small muted job-hint">{}</div>', hint))
    parts.append(mark_safe("</div>"))
    return mark_safe("".join(parts))


_OPTIONS_TEMPLATE = "firmware_updates/partials/rollout_options.html"
_options_html: dict[str, SafeString] = {}


@register.simple_tag(takes_context=True)
def rollout_options(context, form) -> str:
    """The options of "Update software at all sites" (forms.RolloutOptionsForm). As the device
    type page offers them (the form not posted, its defaults), they are the same on every
    page in a language: rendered once per language, not 2 ms of widget templates a page.
    A posted form (its values, its errors) is rendered each time."""
    def render() -> SafeString:  # a template's render is safe text
        return context.template.engine.get_template(_OPTIONS_TEMPLATE).render(template.Context({"form": form}))

    if form.is_bound or form.initial:
        return render()
    language = get_language()
    if (out := _options_html.get(language)) is None:
        out = _options_html[language] = render()
    return out


_NUMBER = 987654321  # a site number no site has: where each row's goes in the site page's address


@register.simple_tag(takes_context=True)
def site_rows(context, rows) -> str:
    """The device type page's list rows (presenters.SiteRow), each a `<tr>` its cells labelled
    for the phone layout, with the cancel and approve actions the operator may use.

    In Python rather than a template loop: 50 rows of ten cells each were half the page's
    time in the template engine (bench `find`: 50 ms of a 140 ms page at 100,000 sites)."""
    # The cells' labels (the phone layout shows them above each value), translated once.
    # (Escaped once here: `_html` passes a safe string through.)
    labels = {name: _html("{}", word) for name, word in (
        ("site", gettext("Site")), ("name", gettext("Name / address")), ("status", gettext("Status")),
        ("firmware", gettext("Firmware")), ("hardware", gettext("Hardware")), ("channels", gettext("Channels")),
        ("connection", gettext("Connection")), ("update", pgettext("noun", "Update")))}
    receiver = context["receiver"]
    can_cancel, can_approve = context.get("can_cancel"), context.get("can_approve")
    request = context.get("request")
    back = urlencode(request.get_full_path()) if request is not None else ""
    words = {name: _html("{}", word) for name, word in (
        ("no_site", gettext("no site")), ("unknown", gettext("unknown")), ("not_eligible", gettext("Not eligible")),
        ("cancel", gettext("Cancel update...")),
        ("too_late", gettext("Downloaded: cannot be cancelled (only possible until the device has the whole file).")))}
    approve_form = context.template.engine.get_template("firmware_updates/partials/approve_form.html") if can_approve else None
    pieces = _pieces(get_language())
    # The site page's address made once, each row's number put in its place.
    before, _, after = (_html("{}", part) for part in
                        reverse("site-detail", args=[receiver.code, _NUMBER]).rpartition(str(_NUMBER)))
    back, cancel_url = _html("{}", back), _html("{}", context.get("cancel_url", ""))
    out = []
    # A fleet's panels report a handful of channel sets: each said once for the list.
    channel_cells: dict[tuple, str] = {}
    for row in rows:
        device, number, job = row.device, row.site_number, row.job
        channel_key = tuple(device.channels or ())
        if (channel_cell := channel_cells.get(channel_key)) is None:
            channel_cell = channel_cells[channel_key] = channels(row.channels, pieces)
        site = device.site
        out.append(_html(
            '<tr data-testid="site-row" data-site="{}" data-badge="{}"{}>'
            '<td data-label="{}">{}<div class="muted small mono">{}</div></td>'
            '<td data-label="{}"><span data-testid="site-name">{}</span>{}</td>'
            '<td data-label="{}">{}</td>'
            '<td data-label="{}"><span class="version" data-testid="firmware-version">{}</span></td>'
            '<td data-label="{}">{}</td>'
            '<td data-label="{}" class="col-channels">{}</td>'
            '<td data-label="{}">{}</td>'
            '<td data-label="{}" class="col-job">{}</td>',
            "" if number is None else number, row.badge,
            _html(' data-reason="{}"', row.red_reason) if row.red_reason else "",
            labels["site"],
            _html('<a class="strong" href="{}{}{}" data-testid="site-link">{}</a>', before, number, after, number)
            if number else _html('<span class="muted">{}</span>', words["no_site"]),
            device.serial,
            labels["name"], (site.name if site else "") or "—",
            _html('<div class="muted small" data-testid="site-address">{}</div>', site.address)
            if site and site.address else "",
            labels["status"], badge(row.badge, pieces),
            labels["firmware"], device.firmware_version or words["unknown"],
            labels["hardware"], device.hardware_revision or "—",
            labels["channels"], channel_cell,
            labels["connection"], connection(row.online, device.last_seen, device.not_returned_since, pieces),
            labels["update"], _update_cell(row, words)))
        actions = []
        if job and job.awaiting_approval and approve_form is not None:
            with context.push(job=job.job, number=number):
                actions.append(approve_form.render(context))
        if job and can_cancel:
            if job.cancellable:
                actions.append(_html(
                    '<a class="btn btn-sm btn-danger-outline" href="{}?job={}&amp;next={}" data-cancel-job="{}" '
                    'data-cancel-question="{}" data-testid="cancel-update">{}</a>',
                    cancel_url, job.job.pk, back, job.job.pk,
                    gettext("Stop the update of site %(number)s?") % {"number": number}, words["cancel"]))
            elif job.can_show_cancel:
                actions.append(_html('<span class="muted small" data-testid="cancel-impossible">{}</span>',
                                     words["too_late"]))
        out.append(_html('<td class="actions">{}</td></tr>', mark_safe("".join(actions))))
    return mark_safe("\n".join(out))


def _update_cell(row, words) -> str:
    if row.job:
        return job_progress(row.job)
    if row.reason:
        tag = (_html('<span class="tag tag-red">{}</span> ', words["not_eligible"])
               if row.reason_kind == "not_eligible" else "")
        return _html('<div class="reason reason-{}" data-testid="red-reason">{}{}</div>',
                     row.reason_kind, tag, row.reason)
    return mark_safe('<span class="muted">—</span>')
