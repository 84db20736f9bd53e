"""Releases page: the archives per device type, upload through release_create, Mark current."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.defaultfilters import filesizeformat

from firmware_updates.models import Release
from firmware_updates.swu import build_archive
from tests.factories import DeviceTypeFactory, ReleaseFactory

from .conftest import signed_in
from .html import find_all, texts_of

pytestmark = pytest.mark.django_db


def archive(*, device_type="nord-gsm", version="5.50", revisions=("2.1", "2.2"), name=None) -> SimpleUploadedFile:
    out = io.BytesIO()
    build_archive(out, device_type=device_type, version=version, hardware_revisions=list(revisions),
                  images=[("fw.bin", b"\x7fNORD firmware image\x00" * 256)])
    return SimpleUploadedFile(name or f"{device_type}-{version}.swu", out.getvalue(),
                              content_type="application/octet-stream")


@pytest.fixture
def nord(db):
    nord = DeviceTypeFactory(code="nord-gsm", name="Nord GSM")
    ReleaseFactory(device_type=nord, version="5.30", is_current=False)
    ReleaseFactory(device_type=nord, version="5.40", is_current=True)
    return nord


def test_releases_are_listed_per_device_type_with_the_current_marked(nord, as_viewer):
    html = as_viewer.get("/releases/").content
    [group] = find_all(html, "release-group")
    assert group["attrs"]["data-device-type"] == "nord-gsm"
    rows = find_all(html, "release-row")
    assert [r["attrs"]["data-version"] for r in rows] == ["5.40", "5.30"]
    assert texts_of(html, "current-marker") == ["Current"]
    assert b"by system" in html
    # A viewer sees neither the upload form nor Mark current.
    assert not find_all(html, "upload-form") and not find_all(html, "mark-current")


def test_manager_uploads_an_archive_and_its_metadata_is_read_from_it(nord, as_manager, manager):
    response = as_manager.post("/releases/upload/", {"archive": archive(), "description": "Canary build"},
                               follow=True)
    release = Release.objects.get(version="5.50")
    assert (release.device_type, release.hardware_revisions, release.created_by) == (nord, ["2.1", "2.2"], manager)
    assert release.description == "Canary build" and not release.is_current
    assert texts_of(response.content, "message") == [
        "Nord GSM 5.50 uploaded. Mark it current to offer it to the panels."]
    row = [r for r in find_all(response.content, "release-row") if r["attrs"]["data-version"] == "5.50"]
    assert release.sha256[:12] in row[0]["text"]


@pytest.mark.parametrize(("upload", "words"), [
    (lambda: archive(device_type="nord-xyz"), "The archive was refused: The archive is for device type 'nord-xyz', "
                                              "which is not registered."),
    (lambda: archive(version="5.40"), "The archive was refused: Nord GSM 5.40 already exists."),
    (lambda: SimpleUploadedFile("junk.swu", b"this is not a cpio archive at all"), "The archive was refused: "),
], ids=["unknown device type", "version exists", "not an archive"])
def test_a_refused_archive_names_the_reason_and_stores_nothing(nord, as_manager, settings, upload, words):
    before = Release.objects.count()
    files_before = sorted(settings.MEDIA_ROOT.rglob("*"))
    response = as_manager.post("/releases/upload/", {"archive": upload()})
    assert response.status_code == 200
    [error] = texts_of(response.content, "upload-error")
    assert error.startswith(words)
    assert len(error) > len("The archive was refused: ") + 5
    assert Release.objects.count() == before
    assert sorted(settings.MEDIA_ROOT.rglob("*")) == files_before
    [upload_section] = find_all(response.content, "upload")
    assert "open" in upload_section["attrs"]  # the form stays open with its error


def test_an_archive_over_the_storage_quota_is_refused_naming_it(nord, as_manager, settings):
    settings.FIRMWARE_MAX_ARCHIVE_STORAGE = 2 * 11 + 100  # the two stored placeholders and a little
    response = as_manager.post("/releases/upload/", {"archive": archive()})
    [error] = texts_of(response.content, "upload-error")
    assert error.startswith("The archive was refused: Storing this archive (")
    assert "(quota FIRMWARE_MAX_ARCHIVE_STORAGE)" in error
    assert Release.objects.count() == 2


def test_upload_without_a_file_asks_for_one(nord, as_manager):
    response = as_manager.post("/releases/upload/", {})
    assert texts_of(response.content, "upload-error") == ["This field is required."]


def test_mark_current_moves_the_marker(nord, as_manager):
    newer = ReleaseFactory(device_type=nord, version="5.50", is_current=False)
    html = as_manager.get("/releases/").content
    buttons = {b["text"]: b for b in find_all(html, "mark-current")}  # only the releases that are not current
    assert set(buttons) == {"Mark current", "Mark current (downgrade)..."}
    response = as_manager.post(f"/releases/{newer.pk}/mark-current/", follow=True)
    assert list(Release.objects.filter(is_current=True).values_list("version", flat=True)) == ["5.50"]
    assert texts_of(response.content, "message") == ["Nord GSM 5.50 is now the current version."]


def test_mark_current_form_asks_for_confirmation(nord, as_manager):
    ReleaseFactory(device_type=nord, version="5.50", is_current=False)
    html = as_manager.get("/releases/").content.decode()
    assert 'data-confirm="Make Nord GSM 5.50 the current version?' in html
    assert find_all(html, "dialog-confirm")


def test_an_engineer_may_neither_upload_nor_mark_current(nord, engineer):
    client = signed_in(engineer)
    assert client.post("/releases/upload/", {"archive": archive()}).status_code == 403
    old = Release.objects.get(version="5.30")
    assert client.post(f"/releases/{old.pk}/mark-current/").status_code == 403
    assert not Release.objects.filter(version="5.50").exists()
    assert Release.objects.get(is_current=True).version == "5.40"


def _images():
    base = bytes(range(256)) * 256
    return base, base[:30_000] + b"fixed" * 20 + base[30_000:]


def _delta_upload(version="5.50", base_version="5.30", base=None, image=None) -> SimpleUploadedFile:
    from firmware_updates.swu import build_delta_archive

    default_base, default_image = _images()
    out = io.BytesIO()
    build_delta_archive(out, device_type="nord-gsm", version=version, hardware_revisions=["2.1", "2.2"],
                        base_version=base_version, base_image=base or default_base, image=image or default_image,
                        filename="fw.bin.rdiff", base_device="/dev/fw-a")
    return SimpleUploadedFile(f"nord-gsm-{version}-from-{base_version}.swu", out.getvalue())


def _full_upload(version, image) -> SimpleUploadedFile:
    out = io.BytesIO()
    build_archive(out, device_type="nord-gsm", version=version, hardware_revisions=["2.1", "2.2"],
                  images=[("fw.bin", image)])
    return SimpleUploadedFile(f"nord-gsm-{version}.swu", out.getvalue())


def test_manager_uploads_a_release_with_a_delta_and_adds_another_later(as_manager):
    nord = DeviceTypeFactory(code="nord-gsm", name="Nord GSM")
    base, image = _images()
    other = base[:-100] + b"\x01" * 100
    for version, data in (("5.30", base), ("5.31", other)):
        assert as_manager.post("/releases/upload/", {"archive": _full_upload(version, data)}).status_code == 302

    as_manager.post("/releases/upload/", {"archive": _full_upload("5.50", image), "deltas": [_delta_upload()]})
    release = Release.objects.get(device_type=nord, version="5.50")
    response = as_manager.post(f"/releases/{release.pk}/deltas/",
                               {"archive": _delta_upload(base_version="5.31", base=other)}, follow=True)

    size = lambda n: filesizeformat(n).replace("\xa0", " ")  # noqa: E731 - as the page's text reads
    assert [m for m in texts_of(response.content, "message") if "Delta" in m] == [
        f"Delta from 5.31 added to Nord GSM 5.50: panels on 5.31 download "
        f"{size(release.deltas.get(base_version='5.31').size)} instead of {size(release.size)}."]
    rows = {r["attrs"]["data-base-version"]: r["text"] for r in find_all(response.content, "release-delta")}
    assert sorted(rows) == ["5.30", "5.31"] and all("Delta from" in text for text in rows.values())


def test_a_refused_delta_names_the_reason_and_stores_nothing(as_manager, settings):
    DeviceTypeFactory(code="nord-gsm", name="Nord GSM")
    base, image = _images()
    as_manager.post("/releases/upload/", {"archive": _full_upload("5.30", base)})
    files_before = sorted(settings.MEDIA_ROOT.rglob("*"))

    response = as_manager.post("/releases/upload/", {"archive": _full_upload("5.50", image),
                                                     "deltas": [_delta_upload(base_version="5.20")]})

    [error] = texts_of(response.content, "upload-error")
    assert error.startswith("The delta was refused: The delta patches 5.20, which is not a release here")
    assert list(Release.objects.values_list("version", flat=True)) == ["5.30"]
    assert sorted(settings.MEDIA_ROOT.rglob("*")) == files_before
