"""Secrets handed to devices and receivers: shown once, stored only as a SHA-256 digest.

The tokens are 256-bit random values, so a fast digest is enough (no password stretching
needed) and lets the device API find the device by an indexed column.
"""

import hashlib
import secrets

from .audit import operator_action_record


def token_generate() -> str:
    # Never a leading "-": devices take the token on a command line (swupdate's suricatta
    # `-k TOKEN`), where it would be read as options. SWUpdate 2022.12 then silently stops
    # polling if the token holds a "d" (its --disable). Costs under 0.1 bit of entropy.
    while (token := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return token


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_rotate(obj, *, field: str, message, actor=None) -> str:
    """A new token for `obj` (a panel's TargetToken, a receiver's gateway token): its digest
    written to `field`, so the old token stops working at once, and the change audited with
    `message`. Returns the token, shown only this once. Call inside the caller's transaction."""
    token = token_generate()
    digest = token_digest(token)
    type(obj).objects.filter(pk=obj.pk).update(**{field: digest})
    setattr(obj, field, digest)
    operator_action_record(actor=actor, obj=obj, message=message)
    return token
