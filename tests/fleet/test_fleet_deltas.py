"""A fleet on mixed versions, updated to one release with deltas: each fleetsim panel is sent
the archive its version calls for (the delta from the version it runs, else the full
archive), applies a delta for real to the image it holds, and runs the new image, checked by
its sha256. A panel whose image is not what its version says refuses the delta; its next
attempt gets the full archive."""

import hashlib

import pytest
from django.core.files import File

from firmware_updates import services
from firmware_updates.models import JobState, UpdateJob
from tests.ddi.conftest import delta_archive, evolve_image, firmware_image, release_from_image

from .conftest import SERIAL, add_panel, panel_spec, run_fleet
from .test_fleet_lifecycle import wait_job

pytestmark = pytest.mark.live
S = JobState


@pytest.fixture
def versions(world, signing_identity, tmp_path):
    """5.30 and 5.35 (each with its image in a file), 5.50 current (zstd) with deltas from both."""
    images = {"5.30": firmware_image(seed=530)}
    images["5.35"] = evolve_image(images["5.30"], seed=535)
    images["5.50"] = evolve_image(images["5.35"], seed=550)
    files = {}
    for version, image in images.items():
        release = release_from_image(world.device_type, version, image, signing_identity=signing_identity,
                                     tmp_path=tmp_path, compress="zstd" if version == "5.50" else "")
        files[version] = tmp_path / f"image-{version}.bin"
        files[version].write_bytes(image)
    services.release_mark_current(release=release)
    deltas = {}
    for base in ("5.30", "5.35"):
        path = delta_archive(world.device_type, "5.50", base_version=base, base=images[base], image=images["5.50"],
                             signing_identity=signing_identity, tmp_path=tmp_path)
        with open(path, "rb") as fh:
            deltas[base] = services.release_delta_create(release=release, archive=File(fh, name=path.name))
    return release, images, files, deltas


def test_each_panel_gets_the_archive_its_version_calls_for_and_applies_it(world, versions, tmp_path):
    release, images, files, deltas = versions
    flashed = tmp_path / "flashed-on-site.bin"
    flashed.write_bytes(evolve_image(images["5.30"], seed=999, changes=3))
    panels = {  # serial: (site, version, image file)
        SERIAL: (101, "5.30", files["5.30"]),
        "NG00000002": (102, "5.35", files["5.35"]),
        "NG00000003": (103, "5.20", None),
        "NG00000004": (104, "5.30", flashed),
    }
    specs = []
    for serial, (number, version, image) in panels.items():
        token = world.token if serial == SERIAL else add_panel(world, number, serial, firmware_version=version)
        specs.append(panel_spec(world, serial, token, firmware_version=version,
                                firmware_image=str(image) if image else None,
                                link={"preset": "unlimited", "bandwidth": 400_000}))
    jobs = {serial: world.queue(number) for serial, (number, _v, _i) in panels.items()}
    new_sha = hashlib.sha256(images["5.50"]).hexdigest()

    with run_fleet(world, specs) as fleet:
        for serial in (SERIAL, "NG00000002", "NG00000003"):
            job = wait_job(fleet, jobs[serial], S.SUCCEEDED, S.FAILED)
            assert job.state == S.SUCCEEDED, (serial, job.reason)
        refused = wait_job(fleet, jobs["NG00000004"], S.FAILED, S.SUCCEEDED)
        assert refused.state == S.FAILED and refused.delta_id == deltas["5.30"].pk
        assert "the delta patches 5.30" in refused.reason, refused.reason
        assert "the next attempt sends the full archive" in refused.reason
        retry = world.queue(104)
        retry = wait_job(fleet, retry, S.SUCCEEDED, S.FAILED)
        fleet.wait_until(lambda: all(fleet.panel(s).firmware_version == "5.50" for s in panels), timeout=30)
        held = {serial: fleet.panel(serial).flash.image for serial in panels}
        received = {serial: fleet.panel(serial).artifact_bytes_received for serial in panels}

    sent = {serial: UpdateJob.objects.get(pk=job.pk).delta_id for serial, job in jobs.items()}
    assert sent == {SERIAL: deltas["5.30"].pk, "NG00000002": deltas["5.35"].pk, "NG00000003": None,
                    "NG00000004": deltas["5.30"].pk}
    assert (retry.state, retry.delta_id, retry.bytes_total) == (S.SUCCEEDED, None, release.size)
    # Every panel runs the real 5.50 image, patched or unpacked (zstd) from what it received.
    assert {serial: hashlib.sha256(image).hexdigest() for serial, image in held.items()} == dict.fromkeys(
        panels, new_sha)
    # The bytes each paid for: a delta is a small fraction of the full archive.
    assert received[SERIAL] < deltas["5.30"].size + 4096 < release.size / 4
    assert received["NG00000002"] < deltas["5.35"].size + 4096
    assert received["NG00000003"] >= release.size
    assert received["NG00000004"] >= deltas["5.30"].size + release.size
