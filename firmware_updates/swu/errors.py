"""The one error every check of an archive raises."""


class ArchiveError(ValueError):
    """An archive was refused; str() is the reason in plain words for an operator.

    `field` names the form field the reason belongs to (the upload itself by default).
    """

    field: str = "archive"

    def __init__(self, reason: str, *, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        if field is not None:
            self.field = field
