"""`releases/`: an uploaded .swu is inspected before anything is stored; its metadata comes from it."""

import hashlib
import io

import pytest
from django.contrib.admin.models import LogEntry

from firmware_updates.models import Release
from firmware_updates.swu import make_signing_identity
from tests.factories import DeviceTypeFactory, ReleaseFactory

from .conftest import swu_archive

pytestmark = pytest.mark.django_db


@pytest.fixture
def nord():
    return DeviceTypeFactory()


@pytest.fixture(scope="module")
def identity():
    return make_signing_identity("ACME firmware")


def upload(client, archive, **fields):
    return client.post("/api/v1/releases/", {"archive": archive, **fields}, format="multipart")


def stored_files(settings):
    root = settings.MEDIA_ROOT / "releases"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_upload_returns_what_the_archive_says(nord, as_manager, manager, identity):
    archive = swu_archive(key_pem=identity[0], cert_pem=identity[1], description="Fixes GPRS roaming")
    data = archive.getvalue()
    response = upload(as_manager, archive, notes="Roll out after the winter.")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body == {
        "id": body["id"], "device_type": "nord-gsm", "device_type_name": "Nord GSM", "version": "5.40",
        "hardware_revisions": ["2.1", "2.2"], "description": "Fixes GPRS roaming",
        "filename": "nord-gsm-5.40.swu", "size": len(data),
        "hashes": {"sha256": hashlib.sha256(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest(),
                   "md5": hashlib.md5(data).hexdigest()},
        "signer": "CN=ACME firmware", "is_current": False, "deltas": [], "created_by": manager.username,
        "created_at": body["created_at"], "notes": "Roll out after the winter.", "archived": False,
        "archived_at": None,
    }
    release = Release.objects.get()
    assert release.archive.read() == data


def test_mark_current_moves_the_flag_and_records_who(nord, as_manager, manager):
    old = ReleaseFactory(device_type=nord, version="5.30", is_current=True)
    new = upload(as_manager, swu_archive()).json()
    response = as_manager.post(f"/api/v1/releases/{new['id']}/mark-current/")
    assert response.status_code == 200 and response.json()["is_current"] is True
    old.refresh_from_db()
    assert not old.is_current
    assert LogEntry.objects.get(change_message="Marked current.").user == manager
    assert as_manager.post("/api/v1/releases/424242/mark-current/").status_code == 404


def tampered(archive: io.BytesIO) -> io.BytesIO:
    data = bytearray(archive.getvalue())
    data[data.index(b"NORD firmware") + 2] ^= 0xFF  # one byte of the image, after the manifest
    out = io.BytesIO(bytes(data))
    out.name = "tampered.swu"
    return out


def truncated(archive: io.BytesIO) -> io.BytesIO:
    out = io.BytesIO(archive.getvalue()[:3000])
    out.name = "short.swu"
    return out


def not_an_archive() -> io.BytesIO:
    out = io.BytesIO(b"PK\x03\x04 this is a zip file, not an SWUpdate archive" * 20)
    out.name = "firmware.zip"
    return out


@pytest.mark.parametrize(
    ("make", "field", "words"),
    [
        (lambda: tampered(swu_archive()), "archive", "sha256 of fw.bin does not match sw-description"),
        (lambda: truncated(swu_archive()), "archive", "truncated"),
        (not_an_archive, "archive", "not an SWUpdate archive"),
        (lambda: swu_archive(device_type="nord-lte"), "device_type",
         "The archive is for device type 'nord-lte', which is not registered."),
    ],
    ids=["wrong-hash", "truncated", "not-an-archive", "unknown-device-type"],
)
def test_bad_archive_is_400_with_the_reason_and_nothing_is_stored(nord, as_manager, settings, make, field, words):
    response = upload(as_manager, make())
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] and body[field] == [body["detail"]]
    assert words in body["detail"]
    assert not Release.objects.exists()
    assert stored_files(settings) == []


def test_duplicate_version_is_400_and_keeps_the_first(nord, as_manager, settings):
    assert upload(as_manager, swu_archive()).status_code == 201
    response = upload(as_manager, swu_archive(image=b"another build"))
    assert response.status_code == 400
    assert response.json()["detail"] == "Nord GSM 5.40 already exists."
    assert Release.objects.count() == 1 and len(stored_files(settings)) == 1


def test_unsigned_archive_is_refused_when_signatures_are_required(nord, as_manager, identity, settings, tmp_path):
    trusted = tmp_path / "trusted.pem"
    trusted.write_bytes(identity[1])
    settings.FIRMWARE_TRUSTED_CERTS = str(trusted)
    response = upload(as_manager, swu_archive())
    assert response.status_code == 400 and "not signed" in response.json()["detail"]
    other = make_signing_identity("Somebody else")
    response = upload(as_manager, swu_archive(key_pem=other[0], cert_pem=other[1]))
    assert response.status_code == 400
    assert upload(as_manager, swu_archive(key_pem=identity[0], cert_pem=identity[1])).status_code == 201


@pytest.mark.parametrize("quota", ["FIRMWARE_MAX_ARCHIVE_SIZE", "FIRMWARE_MAX_ARCHIVE_STORAGE"])
def test_an_archive_over_a_quota_is_413_naming_it_and_nothing_is_stored(nord, as_manager, settings, quota):
    stored = upload(as_manager, swu_archive(version="5.30")).json()
    archive = swu_archive()
    size = len(archive.getvalue())
    limit = size if quota == "FIRMWARE_MAX_ARCHIVE_SIZE" else stored["size"] + size

    setattr(settings, quota, limit - 1)
    response = upload(as_manager, archive)
    assert response.status_code == 413
    assert response.json() == {"detail": response.json()["detail"], "quota": quota}
    assert f"(quota {quota})" in response.json()["detail"]
    assert list(Release.objects.values_list("version", flat=True)) == ["5.30"]
    assert len(stored_files(settings)) == 1

    setattr(settings, quota, limit)  # exactly at the limit
    archive.seek(0)
    assert upload(as_manager, archive).status_code == 201


def test_upload_without_archive_is_400(as_manager):
    response = as_manager.post("/api/v1/releases/", {}, format="multipart")
    assert response.status_code == 400 and "archive" in response.json()


def test_list_filters_by_device_type(nord, as_viewer):
    lte = DeviceTypeFactory(code="nord-lte", name="Nord LTE")
    ReleaseFactory(device_type=nord, version="5.30", is_current=False)
    ReleaseFactory(device_type=nord, version="5.40")
    ReleaseFactory(device_type=lte, version="1.0")
    versions = [r["version"] for r in as_viewer.get("/api/v1/releases/?device_type=nord-gsm").json()["results"]]
    assert versions == ["5.40", "5.30"]
    assert as_viewer.get("/api/v1/releases/").json()["count"] == 3


def test_release_list_takes_a_constant_number_of_queries(nord, as_viewer, manager, django_assert_max_num_queries):
    for n in range(50):
        ReleaseFactory(device_type=nord, version=f"5.{n}", is_current=False, created_by=manager)
    with django_assert_max_num_queries(5):
        results = as_viewer.get("/api/v1/releases/?page_size=50").json()["results"]
    assert len(results) == 50 and results[0]["version"] == "5.49"
    assert {r["created_by"] for r in results} == {manager.username}
