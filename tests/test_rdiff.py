"""librsync's delta format as we write and read it (firmware_updates/swu/rdiff.py): Debian's
`rdiff patch` (librsync itself, as swupdate's rdiff_image handler uses it) applies our deltas
byte for byte, and our reader refuses what is not a delta for this base."""

import random
import re
import shutil
import subprocess

import pytest

from firmware_updates.swu import rdiff

RNG = random.Random(12)
BASE = RNG.randbytes(150_000)


def _evolved(base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(100):  # addresses a compiler moved
        at = RNG.randrange(len(data) - 4)
        data[at:at + 4] = RNG.randbytes(4)
    data[70_000:70_000] = RNG.randbytes(3_000)  # new code
    del data[10_000:12_000]  # code removed
    return bytes(data + base[:5_000])  # and a block of the base again, elsewhere


CASES = {
    "a version step": (BASE, _evolved(BASE)),
    "identical": (BASE, BASE),
    "nothing in common": (BASE, RNG.randbytes(40_000)),
    "grows past 4 GiB offsets' size classes": (b"x" * 70_000, b"y" + b"x" * 300_000),
    "tiny": (b"abc", b"abcd"),
}


@pytest.mark.parametrize(("base", "new"), CASES.values(), ids=CASES.keys())
def test_our_delta_is_applied_by_librsyncs_rdiff_and_by_our_reader(base, new, tmp_path):
    if shutil.which("rdiff") is None:
        pytest.fail("Debian's rdiff is not installed (apt-get install rdiff; .ci/run installs it)")
    delta = rdiff.make_delta(base, new)
    (tmp_path / "base").write_bytes(base)
    (tmp_path / "delta").write_bytes(delta)

    subprocess.run(["rdiff", "patch", "base", "delta", "new"], cwd=tmp_path, check=True)

    assert (tmp_path / "new").read_bytes() == new
    assert rdiff.apply_delta(base, delta, max_size=len(new)) == new


def test_a_version_step_costs_a_small_share_of_the_image():
    base, new = CASES["a version step"]
    assert len(rdiff.make_delta(base, new)) < len(new) / 10


@pytest.mark.parametrize(("mangle", "words"), [
    (lambda d: b"PK\x03\x04" + d[4:], "not an rdiff delta"),
    (lambda d: d[:-1], "truncated (it ends without its END command)"),
    (lambda d: d[:len(d) // 2], "truncated"),
    (lambda d: d + b"\x00", "bytes after its END command"),
    (lambda d: d[:4] + b"\x60" + d[5:], "unknown command 0x60"),
], ids=["magic", "no end", "cut", "trailing", "unknown command"])
def test_a_damaged_delta_is_refused_with_the_reason(mangle, words):
    base, new = CASES["a version step"]
    delta = mangle(rdiff.make_delta(base, new))
    with pytest.raises(rdiff.DeltaError, match=re.escape(words)):
        rdiff.apply_delta(base, delta, max_size=len(new) * 2)


def test_a_delta_for_a_longer_base_is_refused_and_output_is_bounded():
    base, new = CASES["a version step"]
    delta = rdiff.make_delta(base, new)
    with pytest.raises(rdiff.DeltaError, match="made from another base"):
        rdiff.apply_delta(base[:50_000], delta, max_size=len(new))
    with pytest.raises(rdiff.DeltaError, match="would exceed 1000 bytes"):
        rdiff.apply_delta(base, delta, max_size=1000)
