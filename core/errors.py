"""The kinds of domain error every entry point maps the same way.

Apps raise their own subclasses (firmware_updates.errors); the management API answers
409 for a refusal, 400 for rejected input and the quota's own status for a quota
(core.api.exception_handler), the device API the same status in its own error shape
(firmware_updates/ddi/views.py), the panel shows the reason in the form.
"""


class Refused(Exception):
    """Not allowed now. `code` is a stable machine name, str() the reason in plain words."""

    def __init__(self, reason: str, *, code: str):
        super().__init__(reason)
        self.reason = reason
        self.code = code


class Rejected(Exception):
    """Input refused as a whole; nothing was stored. `field` names what was wrong; `code`, when
    given, is a stable machine name of why (the reason's words follow the reader's language)."""

    def __init__(self, reason: str, *, field: str, code: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.code = code


class QuotaExceeded(Exception):
    """A quota would be passed (DEVELOPERS.md "Quotas"); nothing was stored.

    `quota` is the name of the setting that sets it, so that the answer says what to raise;
    `status` the HTTP answer: 429 for a count (hawkBit's quota error, the DDI spec's "too many
    requests"), 413 for a size.
    """

    status = 429

    def __init__(self, reason: str, *, quota: str, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.quota = quota
        if status is not None:
            self.status = status
