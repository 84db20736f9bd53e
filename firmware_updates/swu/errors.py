"""The one error every check of an archive raises (and its kind for an archive over the size limit)."""


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


class ArchiveTooLarge(ArchiveError):
    """The archive is larger than the reader's `max_size` (release intake: a quota, 413)."""
