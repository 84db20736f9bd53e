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

MAX_LENGTH = 64  # the Device.serial column
SERIAL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,63}")
_ALLOWED = re.compile(r"[A-Za-z0-9._:@+-]")
RULE = "letters A-Z, digits and . _ : @ + -, starting with a letter or a digit"


def _char_words(char: str) -> str:
    if char == " ":
        return "a space"
    if char.isascii() and char.isprintable():
        return repr(char)
    return f"U+{ord(char):04X} ({unicodedata.name(char, 'a control character').lower()})"


def serial_problem(serial: str) -> str | None:
    """Why `serial` cannot be a panel's serial, in plain words; None when it can."""
    if SERIAL_RE.fullmatch(serial):
        return None
    if not serial:
        return "A serial cannot be empty."
    if serial in (".", ".."):
        return f"{serial!r} cannot be a serial: in a URL it names a folder, not a panel."
    if len(serial) > MAX_LENGTH:
        return f"A serial is at most {MAX_LENGTH} characters; this one has {len(serial)}."
    wrong = next((c for c in serial if not _ALLOWED.fullmatch(c)), None)
    if wrong is not None:
        return f"A serial holds only {RULE}; {_char_words(wrong)} is not allowed."
    return f"A serial starts with a letter or a digit, not {serial[0]!r}."


def serial_validate(serial: str) -> None:
    """Django and DRF validator: ValidationError with the reason (code invalid_serial)."""
    if (problem := serial_problem(serial)) is not None:
        raise ValidationError(problem, code="invalid_serial")
