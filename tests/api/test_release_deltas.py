"""Deltas through `releases/`: uploaded with their release or later, each checked as the full
archive is and against its base; a bad one is refused with the reason and nothing is stored.
Compressed images (zlib, zstd) are checked by decompressing them."""

import hashlib
import io
import random

import pytest

from firmware_updates.models import Release, ReleaseDelta
from firmware_updates.swu import build_archive, build_delta_archive, make_signing_identity, rdiff
from firmware_updates.swu.archive import _write
from firmware_updates.swu.manifest import DeltaSpec, ImageSpec
from tests.factories import DeviceTypeFactory

pytestmark = pytest.mark.django_db
BASE = random.Random(530).randbytes(64 * 1024)
NEW = BASE[:20_000] + b"a fix" * 40 + BASE[20_000:]


@pytest.fixture(scope="module")
def identity():
    return make_signing_identity("ACME firmware")


@pytest.fixture
def nord(settings, tmp_path, identity):
    path = tmp_path / "trusted.pem"
    path.write_bytes(identity[1])
    settings.FIRMWARE_TRUSTED_CERTS = str(path)
    return DeviceTypeFactory()


def full(identity, version, image, *, compress="", hw=("2.1", "2.2")) -> io.BytesIO:
    out = io.BytesIO()
    build_archive(out, device_type="nord-gsm", version=version, hardware_revisions=list(hw),
                  images=[("fw.bin", image)], key_pem=identity[0], cert_pem=identity[1], compress=compress)
    out.seek(0)
    out.name = f"nord-gsm-{version}.swu"
    return out


def delta(identity, *, version="5.40", base_version="5.30", base=BASE, image=NEW, hw=("2.1", "2.2")) -> io.BytesIO:
    out = io.BytesIO()
    build_delta_archive(out, device_type="nord-gsm", version=version, hardware_revisions=list(hw),
                        base_version=base_version, base_image=base, image=image, filename="fw.bin.rdiff",
                        base_device="/dev/fw-a", key_pem=identity[0], cert_pem=identity[1])
    out.seek(0)
    out.name = f"nord-gsm-{version}-from-{base_version}.swu"
    return out


def upload(client, archive, **fields):
    return client.post("/api/v1/releases/", {"archive": archive, **fields}, format="multipart")


def add_delta(client, release_id, archive):
    return client.post(f"/api/v1/releases/{release_id}/deltas/", {"archive": archive}, format="multipart")


@pytest.fixture
def base_release(nord, as_manager, identity):
    response = upload(as_manager, full(identity, "5.30", BASE))
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_release_uploaded_with_its_delta_lists_it(base_release, as_manager, identity):
    patch = delta(identity)
    data = patch.getvalue()

    response = upload(as_manager, full(identity, "5.40", NEW, compress="zstd"), deltas=[patch])

    assert response.status_code == 201, response.json()
    (listed,) = response.json()["deltas"]
    assert listed == {
        "id": listed["id"], "base_version": "5.30", "base_sha256": hashlib.sha256(BASE).hexdigest(),
        "filename": "nord-gsm-5.40-from-5.30.swu", "size": len(data),
        "hashes": {"sha256": hashlib.sha256(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest(),
                   "md5": hashlib.md5(data).hexdigest()},
        "signer": "CN=ACME firmware", "created_at": listed["created_at"]}
    assert len(data) < response.json()["size"] / 4
    assert ReleaseDelta.objects.get().archive.read() == data


def test_a_delta_added_later_is_stored_and_a_second_from_the_same_base_refused(base_release, as_manager, identity):
    release = upload(as_manager, full(identity, "5.40", NEW)).json()

    first = add_delta(as_manager, release["id"], delta(identity))
    again = add_delta(as_manager, release["id"], delta(identity))

    assert first.status_code == 201, first.json()
    assert first.json()["base_version"] == "5.30"
    assert again.status_code == 400
    assert again.json()["detail"] == "Nord GSM 5.40 already has a delta from 5.30."
    assert as_manager.get(f"/api/v1/releases/{release['id']}/").json()["deltas"][0]["id"] == first.json()["id"]


def _refused(client, release_id, archive) -> str:
    response = add_delta(client, release_id, archive)
    assert response.status_code == 400, response.json()
    assert not ReleaseDelta.objects.exists()
    return response.json()["detail"]


def test_a_delta_corrupted_in_transit_is_refused(base_release, as_manager, identity):
    release = upload(as_manager, full(identity, "5.40", NEW)).json()
    data = bytearray(delta(identity).getvalue())
    data[data.rfind(b"\x28\xb5\x2f\xfd") + 20] ^= 0xFF  # inside the patch (a zstd frame)
    archive = io.BytesIO(bytes(data))
    archive.name = "corrupt.swu"

    assert "does not match" in _refused(as_manager, release["id"], archive)


def test_a_delta_whose_patch_makes_another_image_is_refused(base_release, as_manager, identity):
    release = upload(as_manager, full(identity, "5.40", NEW)).json()
    # Signed and hashed as it says, but its patch does not give the image it names.
    spec = DeltaSpec(base_version="5.30", base_sha256=hashlib.sha256(BASE).hexdigest(), base_size=len(BASE),
                     image_sha256=hashlib.sha256(NEW).hexdigest(), image_size=len(NEW))
    patch = rdiff.make_delta(BASE, NEW[:-1] + b"!")
    out = io.BytesIO()
    _write(out, [ImageSpec("fw.bin.rdiff", hashlib.sha256(patch).hexdigest(), delta=spec, base_device="/dev/fw-a")],
           [("fw.bin.rdiff", patch)], device_type="nord-gsm", version="5.40", hardware_revisions=["2.1", "2.2"],
           key_pem=identity[0], cert_pem=identity[1], description="", syntax="libconfig")
    out.seek(0)
    out.name = "lying.swu"

    assert _refused(as_manager, release["id"], out) == (
        "The delta is corrupt: the patched image does not match the sha256 the delta names (the delta is corrupt)")


def test_a_delta_made_from_another_build_of_the_base_is_refused(base_release, as_manager, identity):
    release = upload(as_manager, full(identity, "5.40", NEW)).json()
    other_base = BASE[:-1] + b"\x00"

    detail = _refused(as_manager, release["id"], delta(identity, base=other_base))

    assert detail.startswith("The delta was made from another 5.30 image than the release stored here")


def test_a_delta_for_another_release_or_without_its_base_here_is_refused(base_release, as_manager, identity):
    release = upload(as_manager, full(identity, "5.40", NEW)).json()

    assert _refused(as_manager, release["id"], delta(identity, version="5.41")) == (
        "The delta is for nord-gsm 5.41, not Nord GSM 5.40.")
    assert _refused(as_manager, release["id"], delta(identity, base_version="5.20")).startswith(
        "The delta patches 5.20, which is not a release here")
    assert _refused(as_manager, release["id"], delta(identity, image=NEW + b"x")) == (
        "The delta makes another image than the one of Nord GSM 5.40.")
    assert _refused(as_manager, release["id"], delta(identity, hw=("2.1",))).startswith(
        "The delta does not support hardware revision 2.2")
    assert _refused(as_manager, release["id"], full(identity, "5.40", NEW)) == (
        "nord-gsm-5.40.swu is a full archive, not a delta.")


def test_a_release_with_a_bad_delta_is_not_stored_at_all(base_release, as_manager, identity, settings):
    response = upload(as_manager, full(identity, "5.40", NEW), deltas=[delta(identity, base_version="5.20")])

    assert response.status_code == 400
    assert response.json()["detail"].startswith("The delta patches 5.20")
    assert list(Release.objects.values_list("version", flat=True)) == ["5.30"]
    stored = [p.name for p in (settings.MEDIA_ROOT / "releases").rglob("*.swu")]
    assert len(stored) == 1


def test_a_delta_alone_is_not_a_release(base_release, as_manager, identity):
    response = upload(as_manager, delta(identity))
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "This is a delta from 5.30 to 5.40: upload the full archive of 5.40 first, then add the delta to it.")


@pytest.mark.parametrize("method", ["zlib", "zstd"])
def test_compressed_images_are_checked_by_decompressing_them(nord, as_manager, identity, method):
    image = b"\x7fNORD firmware image\x00" * 10_000
    good = upload(as_manager, full(identity, "5.30", image, compress=method))
    assert good.status_code == 201, good.json()
    assert good.json()["size"] < len(image) / 4

    garbage = b"not a compressed stream" * 10
    out = io.BytesIO()
    _write(out, [ImageSpec("fw.bin", hashlib.sha256(garbage).hexdigest(), compressed=method)], [("fw.bin", garbage)],
           device_type="nord-gsm", version="5.31", hardware_revisions=["2.1"], key_pem=identity[0],
           cert_pem=identity[1], description="", syntax="libconfig")
    out.seek(0)
    out.name = "bad.swu"
    bad = upload(as_manager, out)
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith(f"fw.bin is not valid {method} data")
