"""Deltas with Debian's swupdate 2022.12 as the panel, installing for real: its rdiff_image
handler patches the image the panel holds (a file standing for the active slot) into another
file (the inactive slot) while the archive streams in over a link cut every 64 KiB. A delta
whose base is not what the panel holds is refused by swupdate itself (the archive's embedded
Lua hook checks the base's sha256 before a byte is written); the server's next attempt then
sends the full archive (zstd-compressed), which swupdate installs into the same file.
"""

import hashlib
import random

import pytest
from django.core.files import File

from firmware_updates import services, swu
from firmware_updates.models import JobState

from .device import CONFIRM_SUCCESS, INSTALLED
from .test_suricatta import CUT, refused

pytestmark = [pytest.mark.swupdate, pytest.mark.live]
S = JobState
BASE_SIZE = 400 * 1024


def _images() -> tuple[bytes, bytes]:
    """5.30 and 5.50: random (incompressible) bytes, then a new 160 KiB block and a few
    changed words, so that the delta is larger than the link's cut (its bytes cross the link
    in three pieces) and still far smaller than the full archive."""
    rng = random.Random(530)
    base = rng.randbytes(BASE_SIZE)
    new = bytearray(base)
    for _ in range(50):
        at = rng.randrange(len(new) - 4)
        new[at:at + 4] = rng.randbytes(4)
    new[200_000:200_000] = rng.randbytes(160 * 1024)
    return base, bytes(new)


@pytest.fixture
def slots(world, vendor, tmp_path):
    """The panel's two slots (files), 5.30 and 5.50 (current, zstd) with a delta from 5.30
    written into the same files; the panel holds 5.30 in slot A."""
    key_pem, cert_pem, _ = vendor
    base, new = _images()
    slot_a, slot_b = world.panel.workdir / "slot-a", world.panel.workdir / "slot-b"
    slot_a.write_bytes(base)
    slot_b.write_bytes(b"")  # the raw handler opens its device, it does not create it
    common = {"device_type": "nord-gsm", "hardware_revisions": ["2.1", "2.2"], "key_pem": key_pem,
              "cert_pem": cert_pem, "device": str(slot_b)}
    for version, image, compress in (("5.30", base, ""), ("5.50", new, "zstd")):
        path = tmp_path / f"nord-gsm-{version}.swu"
        with open(path, "wb") as out:
            swu.build_archive(out, version=version, images=[("firmware.bin", image)], compress=compress, **common)
        release = services.release_create_from_path(path=path)
    services.release_mark_current(release=release)
    path = tmp_path / "nord-gsm-5.50-from-5.30.swu"
    with open(path, "wb") as out:
        swu.build_delta_archive(out, version="5.50", base_version="5.30", base_image=base, image=new,
                                filename="firmware.bin.rdiff", base_device=str(slot_a), **common)
    with open(path, "rb") as fh:
        delta = services.release_delta_create(release=release, archive=File(fh, name=path.name))
    world.release = release
    return slot_a, slot_b, base, new, delta


def test_swupdate_applies_a_delta_over_a_link_cut_every_64_kib(world, slots):
    slot_a, slot_b, base, new, delta = slots
    assert CUT * 2 < delta.size < world.release.size / 2
    link = world.open_link(cut_every=CUT)
    job = world.queue()
    cuts = list(range(CUT, delta.size, CUT))

    world.power_on(sw_version="5.30", retries=len(cuts) + 2, dry_run=False)
    world.wait_for(lambda: INSTALLED in world.run.log(), timeout=60, what="swupdate to install the delta")
    run = world.run
    run.power_off()

    # Only the delta crossed the link, resumed at each cut with a Range.
    gets = link.artifact_gets(since=run.first_exchange)
    assert all(e.path.endswith(f"/{delta.filename}") for e in gets), world.explain()
    assert [(e.headers.get("range"), e.status) for e in gets] == [(None, 200)] + [
        (f"bytes={cut}-", 206) for cut in cuts], world.explain()
    assert sum(e.body_bytes for e in gets) <= 1.1 * delta.size
    # swupdate really wrote 5.50, patched from the 5.30 it holds.
    assert hashlib.sha256(slot_b.read_bytes()).hexdigest() == hashlib.sha256(new).hexdigest()
    assert slot_a.read_bytes() == base
    assert "HASH mismatch" not in run.log()

    world.power_on(sw_version="5.50", confirm=CONFIRM_SUCCESS)
    world.wait_for(lambda: world.job(job).confirmed_at, timeout=20, what="success and 5.50")
    job = world.job(job)
    assert (job.state, job.delta_id, job.bytes_downloaded, job.bytes_total) == (
        S.SUCCEEDED, delta.pk, delta.size, delta.size)
    assert refused(world) == [], world.explain()


def test_a_delta_for_another_base_is_refused_by_swupdate_and_the_full_archive_then_installs(world, slots):
    slot_a, slot_b, base, new, delta = slots
    # Someone flashed this panel on site with another 5.30 build: it still reports 5.30.
    slot_a.write_bytes(base[:1000] + bytes([base[1000] ^ 0xFF]) + base[1001:])
    link = world.open_link()
    first = world.queue()

    world.power_on(sw_version="5.30", dry_run=False)
    world.wait_for(lambda: world.job(first).state == S.FAILED, timeout=40, what="swupdate's refusal")

    first = world.job(first)
    assert first.delta_id == delta.pk
    assert first.reason.startswith("No suitable .swu image found"), first.reason
    assert "the next attempt sends the full archive" in first.reason
    assert "Delta refused: it patches 5.30" in world.run.log()
    assert INSTALLED not in world.run.log()
    assert slot_b.read_bytes() == b""  # nothing written

    second = world.queue()
    world.wait_for(lambda: INSTALLED in world.run.log().split(f"deploymentBase/{second.pk}", 1)[-1],
                   timeout=60, what="swupdate to install the full archive")
    world.run.power_off()
    gets = [e for e in link.artifact_gets() if e.status in (200, 206) and e.method == "GET"]
    assert gets[-1].path.endswith(f"/{world.release.filename}"), world.explain()
    assert hashlib.sha256(slot_b.read_bytes()).hexdigest() == hashlib.sha256(new).hexdigest()
    world.power_on(sw_version="5.50", confirm=CONFIRM_SUCCESS)
    world.wait_for(lambda: world.job(second).confirmed_at, timeout=20, what="success and 5.50")
    second = world.job(second)
    assert (second.state, second.delta_id, second.bytes_total) == (S.SUCCEEDED, None, world.release.size)
