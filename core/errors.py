"""The two kinds of domain error every entry point maps the same way.

Apps raise their own subclasses (firmware_updates.errors); the management API answers
409 for a refusal and 400 for rejected input (core.api.exception_handler), the panel shows
the reason in the form.
"""


class Refused(Exception):
    """Not allowed now. `code` is a stable machine name, str() the reason in plain words."""

    def __init__(self, reason: str, *, code: str):
        super().__init__(reason)
        self.reason = reason
        self.code = code


class Rejected(Exception):
    """Input refused as a whole; nothing was stored. `field` names what was wrong."""

    def __init__(self, reason: str, *, field: str):
        super().__init__(reason)
        self.reason = reason
        self.field = field
