"""Release intake: every archive is inspected before anything is stored."""

import logging
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from core.audit import ADDITION, fields_update, operator_action_record
from sites.models import DeviceType

from .. import swu
from ..errors import Refusal, ReleaseNotAllowed, ReleaseOverQuota, ReleaseRejected
from ..models import Release
from ..selectors import DowngradeImpact, release_downgrade_impact

log = logging.getLogger(__name__)

# PostgreSQL advisory lock key serialising uploads for the storage quota (any fixed bigint
# no other code uses).
_STORAGE_LOCK_KEY = 0x66697277_61726531


def _trusted_certs() -> bytes | None:
    path = settings.FIRMWARE_TRUSTED_CERTS
    return Path(path).read_bytes() if path else None


def release_create(*, archive, created_by=None, description: str = "", notes: str = "") -> Release:
    """Inspect an uploaded `.swu` and store it as a release of the device type it names.

    `archive` is a file object (Django UploadedFile or open file). Raises ReleaseRejected with
    the reason (truncated, bad hash, bad signature, unknown device type, duplicate version...),
    ReleaseOverQuota (413) for an archive over FIRMWARE_MAX_ARCHIVE_SIZE or one that would take
    the archives past FIRMWARE_MAX_ARCHIVE_STORAGE. The upload is recorded as `created_by`'s
    action, whichever entry it came through.
    """
    name = Path(getattr(archive, "name", "") or "firmware.swu").name
    size = getattr(archive, "size", None)
    if size is not None:  # refused before a byte is read, when the upload says its size
        _archive_size_quota(size)
        _archive_storage_quota(size)
    archive.seek(0)
    try:
        info = swu.inspect_archive(
            archive, max_size=settings.FIRMWARE_MAX_ARCHIVE_SIZE, trusted_certs_pem=_trusted_certs()
        )
    except swu.ArchiveTooLarge:  # a stream of unknown size, cut off at the limit
        raise _archive_too_large() from None
    except swu.ArchiveError as exc:
        raise ReleaseRejected(str(exc), field=getattr(exc, "field", "archive")) from None
    device_type = DeviceType.objects.filter(code=info.device_type).first()
    if device_type is None:
        raise ReleaseRejected(
            f"The archive is for device type {info.device_type!r}, which is not registered.",
            field="device_type",
        )
    if Release.objects.filter(device_type=device_type, version=info.version).exists():
        raise ReleaseRejected(
            f"{device_type.name} {info.version} already exists.", field="version"
        )
    if not name.endswith(".swu"):
        name = f"{device_type.code}-{info.version}.swu"
    release = Release(
        device_type=device_type,
        version=info.version,
        hardware_revisions=list(info.hardware_revisions),
        description=description or info.description,
        notes=notes,
        filename=name,
        size=info.size,
        sha256=info.sha256,
        sha1=info.sha1,
        md5=info.md5,
        signer=info.signer,
        created_by=created_by,
    )
    archive.seek(0)
    # Stored under its digest: names never come from the upload, so no path tricks.
    release.archive.save(f"{device_type.code}/{info.sha256}.swu", File(archive), save=False)
    try:
        with transaction.atomic():
            # Checked again where it counts: two uploads side by side each passed the check above.
            _archive_storage_lock()
            _archive_storage_quota(info.size)
            release.save()
            operator_action_record(actor=created_by, obj=release, message="Uploaded.", flag=ADDITION)
    except IntegrityError:
        release.archive.delete(save=False)
        raise ReleaseRejected(f"{device_type.name} {info.version} already exists.", field="version") from None
    except ReleaseOverQuota:
        release.archive.delete(save=False)
        raise
    log.info("release %s %s stored (%d bytes, signer %r)", device_type.code, info.version, info.size, info.signer)
    return release


def _archive_size_quota(size: int) -> None:
    """FIRMWARE_MAX_ARCHIVE_SIZE (hawkBit's maxArtifactSize): one archive's bytes."""
    if size > settings.FIRMWARE_MAX_ARCHIVE_SIZE:
        raise _archive_too_large()


def _archive_too_large() -> ReleaseOverQuota:
    limit = settings.FIRMWARE_MAX_ARCHIVE_SIZE
    return ReleaseOverQuota(
        f"The archive is larger than {limit} bytes, the most one archive may have (quota "
        "FIRMWARE_MAX_ARCHIVE_SIZE).",
        quota="FIRMWARE_MAX_ARCHIVE_SIZE",
    )


def _archive_storage_quota(size: int) -> None:
    """FIRMWARE_MAX_ARCHIVE_STORAGE (hawkBit's maxArtifactStorage): the bytes of every stored
    release, this one included. One aggregate over the releases."""
    limit = settings.FIRMWARE_MAX_ARCHIVE_STORAGE
    used = Release.objects.aggregate(used=Sum("size"))["used"] or 0
    if used + size > limit:
        raise ReleaseOverQuota(
            f"Storing this archive ({size} bytes) would take the release archives past {limit} "
            f"bytes, the most they may use (quota FIRMWARE_MAX_ARCHIVE_STORAGE); {used} bytes are "
            "used.",
            quota="FIRMWARE_MAX_ARCHIVE_STORAGE",
        )


def _archive_storage_lock() -> None:
    """Serialise uploads from the storage check to their commit. PostgreSQL: an advisory lock
    held until the transaction ends; SQLite: nothing to do, every transaction there begins
    IMMEDIATE (settings.py), so writers already take turns."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_STORAGE_LOCK_KEY])


def release_create_from_path(*, path: Path, created_by=None) -> Release:
    with open(path, "rb") as fh:
        return release_create(archive=File(fh, name=Path(path).name), created_by=created_by)


@transaction.atomic
def release_update(*, release: Release, actor=None, **changes) -> Release:
    """Change a release's description or notes: the rest was read from its archive and stays
    as it was."""
    fields_update(release, actor=actor, changes=changes, allowed=["description", "notes"], clean=True)
    return release


def downgrade_words(impact: DowngradeImpact) -> str:
    """"1,204 sites run 5.40 and turn outdated: Central receiver 1,100, North 104." """
    if not impact.sites:
        return gettext("No site runs %(current)s now, so none turns outdated.") % {"current": impact.current.version}
    where = ", ".join(f"{name} {count}" for _, name, count in impact.receivers)
    return ngettext(
        "%(sites)d site runs %(current)s and turns outdated (red, \"would downgrade\": panels are never moved "
        "back): %(where)s.",
        "%(sites)d sites run %(current)s and turn outdated (red, \"would downgrade\": panels are never moved "
        "back): %(where)s.", impact.sites) % {"sites": impact.sites, "current": impact.current.version, "where": where}


@transaction.atomic
def release_mark_current(*, release: Release, actor=None, downgrade_confirmed: bool = False) -> Release:
    """Make `release` the current version of its device type (at most one is, by constraint).

    An archived release is refused; so is one older than the current release unless the
    operator confirmed the downgrade (`downgrade_confirmed`), having been told how many sites
    on which receivers turn outdated (`selectors.release_downgrade_impact`)."""
    # Serialise concurrent "mark current" of one type on the type's row.
    DeviceType.objects.select_for_update().get(pk=release.device_type_id)
    release.refresh_from_db(fields=["archived_at", "is_current"])
    if release.is_archived:
        raise ReleaseNotAllowed(Refusal.RELEASE_ARCHIVED, release=release)
    impact = release_downgrade_impact(release=release)
    if impact is not None and not downgrade_confirmed:
        raise ReleaseNotAllowed(Refusal.DOWNGRADE_NOT_CONFIRMED, release=release, current=impact.current.version,
                                impact=downgrade_words(impact))
    Release.objects.filter(device_type=release.device_type_id, is_current=True).exclude(pk=release.pk).update(
        is_current=False
    )
    Release.objects.filter(pk=release.pk).update(is_current=True)
    release.is_current = True
    message = "Marked current."
    if impact is not None:
        message = f"Marked current: a downgrade from {impact.current.version}, confirmed ({impact.sites} site(s) turn outdated)."
    operator_action_record(actor=actor, obj=release, message=message)
    return release


@transaction.atomic
def release_archive(*, release: Release, actor=None) -> Release:
    """Archive a release: it is no longer offered (marked current, queued, chosen), and kept for
    the jobs and rollouts that name it. The current release is refused."""
    DeviceType.objects.select_for_update().get(pk=release.device_type_id)  # against a concurrent mark current
    release.refresh_from_db(fields=["archived_at", "is_current"])
    if release.is_current:
        raise ReleaseNotAllowed(Refusal.RELEASE_IS_CURRENT, release=release)
    if not release.is_archived:
        release.archived_at = timezone.now()
        Release.objects.filter(pk=release.pk).update(archived_at=release.archived_at)
        operator_action_record(actor=actor, obj=release, message="Archived.")
    return release


@transaction.atomic
def release_restore(*, release: Release, actor=None) -> Release:
    """Offer an archived release again."""
    if Release.objects.filter(pk=release.pk, archived_at__isnull=False).update(archived_at=None):
        operator_action_record(actor=actor, obj=release, message="Restored from the archive.")
    release.archived_at = None
    return release
