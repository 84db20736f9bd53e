"""Release intake: every archive is inspected before anything is stored.

A release is its full archive plus any number of deltas (`ReleaseDelta`), each the difference
from one base version, uploaded with it or later. A delta is checked as the full archive is
(signature, hashes, device type, board revisions) and against its base: the base version
must be a release here whose image is the one the delta names, and the delta applied to that
image must give this release's image, byte for byte. So a corrupt delta, or one made from
another build of the base version, is refused at upload, never sent to a panel.
"""

import hashlib
import logging
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext as _

from core import audit_words
from core.audit import ADDITION, fields_update, operator_action_record
from sites.models import DeviceType

from .. import swu
from ..archive_words import archive_words
from ..errors import Refusal, ReleaseNotAllowed, ReleaseOverQuota, ReleaseRejected
from ..models import Release, ReleaseDelta
from ..selectors import DowngradeImpact, release_downgrade_impact

log = logging.getLogger(__name__)

# PostgreSQL advisory lock key serialising uploads for the storage quota (any fixed bigint
# no other code uses).
_STORAGE_LOCK_KEY = 0x66697277_61726531


def _trusted_certs() -> bytes | None:
    path = settings.FIRMWARE_TRUSTED_CERTS
    return Path(path).read_bytes() if path else None


def _inspect(archive, *, field: str = "archive") -> tuple[swu.ArchiveInfo, bytes]:
    """The archive checked (quotas, structure, hashes, signature), and what its one image
    writes (a delta: its patch); ReleaseRejected or ReleaseOverQuota with the reason."""
    size = getattr(archive, "size", None)
    if size is not None:  # refused before a byte is read, when the upload says its size
        _archive_size_quota(size)
        _archive_storage_quota(size)
    archive.seek(0)
    try:
        info, image = swu.read_archive_image(
            archive, max_size=settings.FIRMWARE_MAX_ARCHIVE_SIZE, trusted_certs_pem=_trusted_certs()
        )
    except swu.ArchiveTooLarge:  # a stream of unknown size, cut off at the limit
        raise _archive_too_large() from None
    except swu.ArchiveError as exc:
        # The library's English words, said again in the operator's language (archive_words).
        raise ReleaseRejected(archive_words(exc), field=field if exc.field == "archive" else exc.field,
                              code=exc.code) from None
    return info, image or b""


def release_create(*, archive, created_by=None, description: str = "", notes: str = "", deltas=()) -> Release:
    """Inspect an uploaded `.swu` and store it as a release of the device type it names,
    with the delta archives `deltas` (checked against it and their bases: `_delta_check`).

    `archive` is a file object (Django UploadedFile or open file). Raises ReleaseRejected with
    the reason (truncated, bad hash, bad signature, unknown device type, duplicate version, a
    delta for another release or base...), ReleaseOverQuota (413) for an archive over
    FIRMWARE_MAX_ARCHIVE_SIZE or one that would take the archives past
    FIRMWARE_MAX_ARCHIVE_STORAGE; then nothing is stored, the deltas neither. The upload is
    recorded as `created_by`'s action, whichever entry it came through.
    """
    name = Path(getattr(archive, "name", "") or "firmware.swu").name
    info, image = _inspect(archive)
    if info.delta is not None:
        raise ReleaseRejected(
            _("This is a delta from %(base)s to %(version)s: upload the full archive of %(version)s "
              "first, then add the delta to it.") % {"base": info.delta.base_version, "version": info.version},
            code="archive_is_delta")
    device_type = DeviceType.objects.filter(code=info.device_type).first()
    if device_type is None:
        raise ReleaseRejected(
            gettext("The archive is for device type {type}, which is not registered.").format(type=repr(info.device_type)),
            field="device_type", code="device_type_unknown",
        )
    if Release.objects.filter(device_type=device_type, version=info.version).exists():
        raise ReleaseRejected(
            gettext("{type} {version} already exists.").format(type=device_type.name, version=info.version),
            field="version", code="release_exists",
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
    checked = [_delta_check(delta, release=release, image=image) for delta in deltas]
    stored = [(release, archive, info)] + [(row, file, delta_info) for row, file, delta_info in checked]
    # Stored under its digest: names never come from the upload, so no path tricks.
    for row, file, row_info in stored:
        file.seek(0)
        row.archive.save(f"{device_type.code}/{row_info.sha256}.swu", File(file), save=False)
    try:
        with transaction.atomic():
            # Checked again where it counts: two uploads side by side each passed the check above.
            _archive_storage_lock()
            _archive_storage_quota(sum(row_info.size for _, _, row_info in stored))
            release.save()
            operator_action_record(actor=created_by, obj=release, message=audit_words.UPLOADED, flag=ADDITION)
            for row, _file, _info in stored[1:]:
                row.release = release
                row.save()
                operator_action_record(actor=created_by, obj=release,
                                       message=audit_words.DELTA_ADDED.format(version=row.base_version))
    except IntegrityError:
        _delete_files(stored)
        raise ReleaseRejected(gettext("{type} {version} already exists.").format(type=device_type.name, version=info.version),
                              field="version", code="release_exists") from None
    except ReleaseOverQuota:
        _delete_files(stored)
        raise
    log.info("release %s %s stored (%d bytes, signer %r, %d deltas)", device_type.code, info.version, info.size,
             info.signer, len(checked))
    return release


def release_delta_create(*, release: Release, archive, created_by=None) -> ReleaseDelta:
    """Add a delta archive to a stored release (checked as `release_create` checks those
    uploaded with it). ReleaseRejected / ReleaseOverQuota with the reason; nothing stored."""
    image = _stored_image(release, field="archive")
    delta, file, info = _delta_check(archive, release=release, image=image)
    delta.release = release
    file.seek(0)
    delta.archive.save(f"{release.device_type.code}/{info.sha256}.swu", File(file), save=False)
    try:
        with transaction.atomic():
            _archive_storage_lock()
            _archive_storage_quota(info.size)
            delta.save()
            operator_action_record(actor=created_by, obj=release,
                                   message=audit_words.DELTA_ADDED.format(version=delta.base_version))
    except IntegrityError:
        delta.archive.delete(save=False)
        raise _duplicate_delta(release, delta.base_version) from None
    except ReleaseOverQuota:
        delta.archive.delete(save=False)
        raise
    log.info("delta %s %s from %s stored (%d bytes)", release.device_type.code, release.version,
             delta.base_version, info.size)
    return delta


def _delta_check(archive, *, release: Release, image: bytes) -> tuple[ReleaseDelta, object, swu.ArchiveInfo]:
    """A delta archive for `release` (whose image is `image`), checked; not yet stored."""
    info, patch = _inspect(archive, field="deltas")
    name = Path(getattr(archive, "name", "") or "").name
    delta = info.delta
    target = f"{release.device_type.name} {release.version}"
    if delta is None:
        raise ReleaseRejected(_("%(name)s is a full archive, not a delta.") % {"name": name or _("The file")},
                              field="deltas", code="delta_is_full_archive")
    if info.device_type != release.device_type.code or info.version != release.version:
        raise ReleaseRejected(
            _("The delta is for %(type)s %(version)s, not %(target)s.")
            % {"type": info.device_type, "version": info.version, "target": target}, field="deltas",
            code="delta_for_another_release")
    missing = [rev for rev in release.hardware_revisions if rev not in info.hardware_revisions]
    if missing:
        raise ReleaseRejected(
            _("The delta does not support hardware revision %(revisions)s, which %(target)s supports: "
              "those panels would refuse it.") % {"revisions": ", ".join(missing), "target": target},
            field="deltas", code="delta_hardware_revision_not_supported")
    if release.signer and info.signer != release.signer:
        raise ReleaseRejected(_("The delta is signed by %(delta)s, the release by %(release)s.")
                              % {"delta": info.signer or _("nobody"), "release": release.signer}, field="deltas",
                              code="delta_signer_differs")
    if not image:
        raise ReleaseRejected(_("%(target)s holds several images; deltas are made of one image.")
                              % {"target": target}, field="deltas", code="delta_release_has_several_images")
    if hashlib.sha256(image).hexdigest() != delta.image_sha256:
        raise ReleaseRejected(_("The delta makes another image than the one of %(target)s.") % {"target": target},
                              field="deltas", code="delta_makes_another_image")
    base = Release.objects.filter(device_type_id=release.device_type_id, version=delta.base_version).first()
    if base is None:
        raise ReleaseRejected(
            _("The delta patches %(base)s, which is not a release here: upload the archive of %(base)s first, "
              "so that the delta can be checked against it.") % {"base": delta.base_version}, field="deltas",
            code="delta_base_unknown")
    if release.pk and ReleaseDelta.objects.filter(release=release, base_version=delta.base_version).exists():
        raise _duplicate_delta(release, delta.base_version)
    try:
        swu.apply_archive_delta(info, patch, _stored_image(base, field="deltas"))
    except swu.ArchiveError as exc:
        if exc.field == "base":
            raise ReleaseRejected(
                _("The delta was made from another %(base)s image than the release stored here "
                  "(its base sha256 is %(sha)s).") % {"base": delta.base_version, "sha": delta.base_sha256},
                field="deltas", code="delta_base_differs") from None
        raise ReleaseRejected(_("The delta is corrupt: %(reason)s") % {"reason": archive_words(exc)}, field="deltas",
                              code=exc.code) from None
    return ReleaseDelta(
        base_version=delta.base_version,
        base_sha256=delta.base_sha256,
        filename=name if name.endswith(".swu") else f"{release.device_type.code}-{release.version}-from-"
                                                     f"{delta.base_version}.swu",
        size=info.size,
        sha256=info.sha256,
        sha1=info.sha1,
        md5=info.md5,
        signer=info.signer,
    ), archive, info


def _stored_image(release: Release, *, field: str) -> bytes:
    """What a panel writes of a stored release: its one image, decompressed (b"" if several)."""
    try:
        with release.archive.open("rb") as fh:
            _info, image = swu.read_archive_image(fh, max_size=max(release.size, settings.FIRMWARE_MAX_ARCHIVE_SIZE))
    except swu.ArchiveError:
        return b""
    except OSError:
        raise ReleaseRejected(_("The archive of %(release)s is missing from storage.") % {"release": release},
                              field=field, code="archive_missing_from_storage") from None
    return image or b""


def _duplicate_delta(release: Release, base_version: str) -> ReleaseRejected:
    return ReleaseRejected(_("%(release)s already has a delta from %(base)s.")
                           % {"release": f"{release.device_type.name} {release.version}", "base": base_version},
                           field="deltas", code="delta_exists")


def _delete_files(stored) -> None:
    for row, _file, _info in stored:
        row.archive.delete(save=False)


def _archive_size_quota(size: int) -> None:
    """FIRMWARE_MAX_ARCHIVE_SIZE (hawkBit's maxArtifactSize): one archive's bytes."""
    if size > settings.FIRMWARE_MAX_ARCHIVE_SIZE:
        raise _archive_too_large()


def _archive_too_large() -> ReleaseOverQuota:
    limit = settings.FIRMWARE_MAX_ARCHIVE_SIZE
    return ReleaseOverQuota(
        gettext("The archive is larger than {limit} bytes, the most one archive may have (quota "
                "FIRMWARE_MAX_ARCHIVE_SIZE).").format(limit=limit),
        quota="FIRMWARE_MAX_ARCHIVE_SIZE",
    )


def _archive_storage_quota(size: int) -> None:
    """FIRMWARE_MAX_ARCHIVE_STORAGE (hawkBit's maxArtifactStorage): the bytes of every stored
    release, this one included. One aggregate over the releases."""
    limit = settings.FIRMWARE_MAX_ARCHIVE_STORAGE
    used = (Release.objects.aggregate(used=Sum("size"))["used"] or 0) + (
        ReleaseDelta.objects.aggregate(used=Sum("size"))["used"] or 0)
    if used + size > limit:
        raise ReleaseOverQuota(
            gettext("Storing this archive ({size} bytes) would take the release archives past {limit} bytes, the "
                    "most they may use (quota FIRMWARE_MAX_ARCHIVE_STORAGE); {used} bytes are used.").format(
                size=size, limit=limit, used=used),
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
    message = audit_words.MARKED_CURRENT
    if impact is not None:
        message = audit_words.MARKED_CURRENT_DOWNGRADE.format(version=impact.current.version, sites=impact.sites)
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
        operator_action_record(actor=actor, obj=release, message=audit_words.ARCHIVED)
    return release


@transaction.atomic
def release_restore(*, release: Release, actor=None) -> Release:
    """Offer an archived release again."""
    if Release.objects.filter(pk=release.pk, archived_at__isnull=False).update(archived_at=None):
        operator_action_record(actor=actor, obj=release, message=audit_words.RESTORED)
    release.archived_at = None
    return release
