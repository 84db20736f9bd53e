"""What a Russian-speaking operator reads on a page: no English word may be among it.

A page's words are its text and the attributes a person sees or hears (title, aria-label,
placeholder, the confirmations' data-*). A word in Latin letters passes only if it is data
(a receiver's or device type's name, a serial, a user name, a panel's own failure text),
a technical name said the same in Russian (GPRS, SHA-256, SWUpdate), or a zone's name.
"""

import re
from datetime import datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo, available_timezones

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from firmware_updates.models import Release, UpdateJob
from firmware_updates.stored_words import stored_words
from receivers.models import Receiver
from sites.models import Device, DeviceType, Site

LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")
# Names a Russian engineer writes as they are.
TECHNICAL = {"GPRS", "Ethernet", "SMS", "GSM", "IP", "API", "URL", "IANA", "UTC", "SWUpdate", "swu", "SHA", "MD",
             "EN", "RU", "HMAC", "TargetToken", "DDI", "configData", "execution", "finished", "progress", "cnt",
             "of", "details",
             "ID", "Crontab",  # Django's own primary key column; django-celery-beat's own Russian keeps the word
             "English",  # the switcher offers each language in its own name
             "CSV",  # the device type page's export: a file format's name
             "ZIP"}  # what an operator uploads by mistake, named as the refusal names it
# File names of the SWUpdate format an archive's refusal names (its manifest and signature), and
# the alarm centre's event codes (job.failed, device.not_returned: what webhooks subscribe to).
TECHNICAL_NAMES = re.compile(r"\bsw-description(?:\.sig)?\b|\b(?:job|device|site|wave|rollout)\.[a-z_]+\b")
# Time zones' abbreviations (MSK, CET) follow every time, in any language, as "UTC" does.
ZONE_ABBREVIATIONS = {name for zone in available_timezones()
                      if (name := datetime.now(ZoneInfo(zone)).tzname() or "").isalpha()}
SHOWN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "data-confirm", "data-confirm-title",
                    "data-confirm-button", "data-control-title", "data-control-question", "data-control-button",
                    "data-cancel-question", "data-default-title", "data-default-button")


class _Words(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._raw = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "pre":  # what a panel sent, as it came (the raw report's disclosure)
            self._raw += 1
        for name in SHOWN_ATTRIBUTES:
            if attrs.get(name):
                self.parts.append(attrs[name])
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.parts.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
        if tag == "pre":
            self._raw -= 1

    def handle_data(self, data):
        if not self._skip and not self._raw:
            self.parts.append(data)


HEX = re.compile(r"\b[0-9a-f]{6,}\b")  # a hash's first characters (SHA-256 on the releases page)


def shown_text(html) -> str:
    parser = _Words()
    parser.feed(html.decode() if isinstance(html, bytes) else html)
    return " ".join(HEX.sub(" ", " ".join(parser.parts)).split())


def data_words() -> set[str]:
    """Every word the database holds that a page may show as it is."""
    values = [
        *Receiver.objects.values_list("name", flat=True), *Receiver.objects.values_list("code", flat=True),
        *DeviceType.objects.values_list("name", flat=True), *DeviceType.objects.values_list("code", flat=True),
        *Device.objects.values_list("serial", flat=True), *Site.objects.values_list("name", flat=True),
        *get_user_model().objects.values_list("username", flat=True),
        *(name[:1].upper() for name in get_user_model().objects.values_list("username", flat=True)),  # avatar
        *Release.objects.values_list("signer", flat=True), *Release.objects.values_list("description", flat=True),
        *Release.objects.values_list("filename", flat=True), *Release.objects.values_list("archive", flat=True),
        *Group.objects.values_list("name", flat=True),  # the groups' names are data (viewers, engineers...)
        # A panel's own failure text is its words; the server's stored sentences are not.
        *(r for r in UpdateJob.objects.values_list("reason", flat=True) if r and stored_words(r) == r),
    ]
    return {word for value in values if value for word in LATIN_WORD.findall(value)}


def english_words(html, *, allowed: set[str] = frozenset()) -> list[str]:
    """The Latin-letter words of the page a Russian operator should not meet."""
    known = TECHNICAL | ZONE_ABBREVIATIONS | data_words() | set(allowed)
    return [word for word in LATIN_WORD.findall(TECHNICAL_NAMES.sub(" ", shown_text(html))) if word not in known]
