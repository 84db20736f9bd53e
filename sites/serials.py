"""What a panel's serial may be: the one rule for every way a serial comes in (the API's and
the admin's site forms through `Device.serial`'s validator and `site_create`, a gateway
registering an unknown controller, `manage.py serials_check` for what is stored already).

A serial is the DDI controllerId, a segment of every URL the panel calls
(`/{tenant}/controller/v1/{serial}/...`, firmware_updates/ddi/urls.py). So it must stay one
plain segment that every DDI client sends as is, without percent-encoding: no `/`, `?`, `#`,
`%`, no space or control character, never `.` or `..` (a client or proxy resolves those as
"this folder" and "the folder above"), and nothing outside ASCII, where look-alike letters
and bidirectional controls (U+202E) make one serial read as another in lists and logs.
Real serials (NG00000001, nord-gsm_01, MAC addresses 00:1A:2B:3C:4D:5E) fit easily.
"""

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext, gettext_noop

MAX_LENGTH = 64  # the Device.serial column
SERIAL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,63}")
_ALLOWED = re.compile(r"[A-Za-z0-9._:@+-]")
RULE = gettext_noop("letters A-Z, digits and . _ : @ + -, starting with a letter or a digit")


def _char_words(char: str) -> str:
    if char == " ":
        return gettext("a space")
    if char.isascii() and char.isprintable():
        return repr(char)
    name = unicodedata.name(char, "").lower() or gettext("a control character")
    return f"U+{ord(char):04X} ({name})"


def serial_problem(serial: str) -> str | None:
    """Why `serial` cannot be a panel's serial, in plain words; None when it can."""
    if SERIAL_RE.fullmatch(serial):
        return None
    if not serial:
        return gettext("A serial cannot be empty.")
    if serial in (".", ".."):
        return gettext("{serial} cannot be a serial: in a URL it names a folder, not a panel.").format(serial=repr(serial))
    if len(serial) > MAX_LENGTH:
        return gettext("A serial is at most {max} characters; this one has {length}.").format(
            max=MAX_LENGTH, length=len(serial))
    wrong = next((c for c in serial if not _ALLOWED.fullmatch(c)), None)
    if wrong is not None:
        return gettext("A serial holds only {rule}; {char} is not allowed.").format(rule=gettext(RULE),
                                                                                     char=_char_words(wrong))
    return gettext("A serial starts with a letter or a digit, not {char}.").format(char=repr(serial[0]))


def serial_validate(serial: str) -> None:
    """Django and DRF validator: ValidationError with the reason (code invalid_serial)."""
    if (problem := serial_problem(serial)) is not None:
        raise ValidationError(problem, code="invalid_serial")
