"""Domain errors that every entry point maps the same way (API: 409 / 400, panel: message)."""


class UpdateNotAllowed(Exception):
    """An operator or device asked for something the job's state or the device forbids.

    `code` is a stable machine name (no_ip_channel, already_downloaded, ...); str() is the
    reason in words an operator understands.
    """

    def __init__(self, reason: str, *, code: str = "not_allowed"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


class ReleaseRejected(Exception):
    """An uploaded archive was refused; nothing was stored."""

    def __init__(self, reason: str, *, field: str = "archive"):
        super().__init__(reason)
        self.reason = reason
        self.field = field
