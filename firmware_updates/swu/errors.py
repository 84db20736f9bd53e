"""The one error every check of an archive raises (and its kind for an archive over the size limit).

The library knows no Django and speaks English; what it refuses, an operator reads in their own
language. So an error carries what the Django edge needs to say it again
(firmware_updates/archive_words.py): a stable `code` (the kind of refusal, never translated; the
API's `code`), and its sentence as `Words`, an English template with `{placeholders}` and their
values. str() is the English sentence (the command line, the fleet simulator). The templates are
the catalogue's msgids: `manage.py extractmessages` finds them as the first argument of
ArchiveError(), ArchiveTooLarge(), Words(), rdiff's DeltaError() and libconfig's fail(), so each
is a literal string, never an f-string. A value may itself be Words (a part of the archive, a
reason inside a reason): it is said in the reader's language too; any other value (a file name, a
version, a size, a certificate's subject) is data, shown as it is.
"""

from enum import StrEnum


class ArchiveCode(StrEnum):
    """What kind of refusal: stable names for programs (the management API's `code`)."""

    NOT_AN_ARCHIVE = "archive_not_swu"  # empty, or another kind of file
    CORRUPT = "archive_corrupt"  # cut short, damaged cpio, a compressed image that does not unpack
    TOO_LARGE = "archive_too_large"
    IMAGE_TOO_LARGE = "archive_image_too_large"  # an image unpacking past its limit
    HASH_MISMATCH = "archive_hash_mismatch"  # an image other than sw-description lists
    CONTENTS_MISMATCH = "archive_contents_mismatch"  # files missing, unlisted or repeated
    MANIFEST_INVALID = "archive_manifest_invalid"  # sw-description unreadable or incomplete
    VERSION_INVALID = "archive_version_invalid"
    DEVICE_TYPE_INVALID = "archive_device_type_invalid"  # no board section, several, a bad name
    HARDWARE_REVISIONS_INVALID = "archive_hardware_revisions_invalid"
    NOT_SIGNED = "archive_not_signed"
    SIGNATURE_INVALID = "archive_signature_invalid"
    SIGNER_UNTRUSTED = "archive_signer_untrusted"
    CERTIFICATE_INVALID = "archive_certificate_invalid"  # the signer's certificate may not sign
    DELTA_INVALID = "archive_delta_invalid"
    WRONG_DEVICE_TYPE = "archive_wrong_device_type"  # a panel's own check
    HARDWARE_REVISION_NOT_SUPPORTED = "archive_hardware_revision_not_supported"


class Words:
    """An English sentence: `template` with `{name}` placeholders, and their values."""

    __slots__ = ("params", "template")

    def __init__(self, template: str, **params):
        self.template = template
        self.params = params

    def __str__(self) -> str:
        return self.template.format(**self.params)

    def __repr__(self) -> str:
        return f"Words({self.template!r}, **{self.params!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Words) and (self.template, self.params) == (other.template, other.params)

    __hash__ = None


class ArchiveError(ValueError):
    """An archive was refused; str() is the reason in plain English words for an operator,
    `words` the same to say again in another language, `code` its kind (ArchiveCode).

    `field` names the form field the reason belongs to (the upload itself by default).
    """

    field: str = "archive"
    code: str = ArchiveCode.CORRUPT

    def __init__(self, template: str, *, code: str | None = None, field: str | None = None, **params):
        self.words = Words(template, **params)
        super().__init__(str(self.words))
        self.reason = str(self.words)
        if code is not None:
            self.code = code
        if field is not None:
            self.field = field


class ArchiveTooLarge(ArchiveError):
    """The archive is larger than the reader's `max_size` (release intake: a quota, 413)."""

    code = ArchiveCode.TOO_LARGE
