"""Secrets handed to devices and receivers: shown once, stored only as a SHA-256 digest.

The tokens are 256-bit random values, so a fast digest is enough (no password stretching
needed) and lets the device API find the device by an indexed column.
"""

import hashlib
import secrets


def token_generate() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
