"""Bench `deltas` (issue 12, "a panel on GPRS downloads only what changed"): a real compiled
program in two consecutive versions from Debian, as a firmware step.

The program: the largest ELF file of a Debian package (default `libzstd1`, a 764 KB shared
library whose zstd-compressed archive, 290 KB, lies within the seed's 200 to 500 KB archives;
`libpng16-16`'s 219 KB library compresses to 101 KB, below them), in the two newest versions Debian
offers (the point release's and its security update: a fix rebuilt with the same toolchain,
as a vendor's next firmware). `apt-get download` fetches both into var/bench/work/deltas/ at
bench time (nothing is committed). BENCH_DELTA_PACKAGE picks another package.

Bytes: the full archive (image raw, and zstd-compressed: what a vendor would ship), our
delta (librsync's format, zstd-compressed, signed, with its Lua base check), and for
comparison librsync's own `rdiff delta` (block matching; Debian's `rdiff`) and what SWUpdate's
zchunk `delta` handler would fetch (`zck_delta_size`, Debian's `zchunk`), each when the tool is
installed.

Time: fleetsim panels on its GPRS link model (5,000 bytes/s, 0.6 s latency, a drop every
64 KiB) update side by side in one run, against gunicorn: PANELS panels holding the old
image are sent the delta, PANELS others the full zstd archive and PANELS the full archive
with the image raw (device types whose releases have no delta, the same images). Each panel's time runs from the job's delivery (it read its
action) to its confirmation (the new version reported); each delta is applied for real and
the image's sha256 checked by the panel. Time scale 0.05 (polls and the reboot pass 20x
faster; bytes do not).
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from .report import fmt, goal_line, table

TITLE = "Delta updates: a Debian binary's version step, bytes and fleetsim GPRS time, full vs delta"
DEFAULT_SIZES = ()
DATABASES = ("sqlite",)
PACKAGE = os.environ.get("BENCH_DELTA_PACKAGE", "libzstd1")
PANELS = int(os.environ.get("BENCH_DELTA_PANELS", 3))
TIME_SCALE = 0.05
TIMEOUT = float(os.environ.get("BENCH_DELTA_TIMEOUT", 600))
OLD, NEW = "5.30", "5.40"
# Device type -> how its full archives store the image; "nord-gsm" also has the delta.
CASES = {"nord-gsm": "zstd", "nord-gsm-full": "zstd", "nord-gsm-raw": ""}
KIND = {"nord-gsm": "delta", "nord-gsm-full": "full (zstd)", "nord-gsm-raw": "full (raw)"}


def _run(cmd, cwd=None) -> str:
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def debian_versions(workdir: Path) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
    """((older version, its program), (newer version, its program)) of PACKAGE."""
    versions = []
    for line in _run(["apt-cache", "madison", PACKAGE]).splitlines():
        version = line.split("|")[1].strip()
        if version not in versions:
            versions.append(version)
    if len(versions) < 2:
        raise RuntimeError(f"Debian offers {len(versions)} version(s) of {PACKAGE}; two are needed "
                           "(run `apt-get update`, or set BENCH_DELTA_PACKAGE)")
    newer, older = sorted(versions[:2], key=_debian_key, reverse=True)
    found = []
    for version in (older, newer):
        folder = workdir / f"{PACKAGE}_{version}".replace(":", "%3a")
        if not folder.exists():
            download = workdir / "download"
            shutil.rmtree(download, ignore_errors=True)
            download.mkdir(parents=True)
            _run(["apt-get", "download", f"{PACKAGE}={version}"], cwd=download)
            [deb] = download.glob("*.deb")
            _run(["dpkg-deb", "-x", str(deb), str(folder)])
        found.append((version, _largest_elf(folder)))
    return found[0], found[1]


def _debian_key(version: str):
    # `dpkg --compare-versions` is the authority; the two newest are ordered by it.
    return _DebianVersion(version)


class _DebianVersion(str):
    def __lt__(self, other):
        return subprocess.run(["dpkg", "--compare-versions", self, "lt", other], check=False).returncode == 0


def _largest_elf(folder: Path) -> bytes:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and p.read_bytes()[:4] == b"\x7fELF"]
    if not files:
        raise RuntimeError(f"{folder} holds no ELF program")
    return max(files, key=lambda p: p.stat().st_size).read_bytes()


def tool_sizes(workdir: Path, base: bytes, image: bytes) -> dict:
    """What librsync's own rdiff and SWUpdate's zchunk delta handler would send, if installed."""
    sizes = {}
    (workdir / "base.bin").write_bytes(base)
    (workdir / "new.bin").write_bytes(image)
    if shutil.which("rdiff"):
        _run(["rdiff", "-f", "signature", "base.bin", "base.sig"], cwd=workdir)
        _run(["rdiff", "-f", "delta", "base.sig", "new.bin", "rdiff.delta"], cwd=workdir)
        sizes["rdiff"] = (workdir / "rdiff.delta").stat().st_size
    if shutil.which("zck") and shutil.which("zck_delta_size"):
        # As SWUpdate's documentation builds the zchunk file its delta handler reads.
        for name in ("base", "new"):
            _run(["zck", "-u", "-h", "sha256", "-o", f"{name}.zck", f"{name}.bin"], cwd=workdir)
        words = _run(["zck_delta_size", "base.zck", "new.zck"], cwd=workdir)
        sizes["zchunk"] = int(words.split("Would download ")[1].split(" ")[0])
    return sizes


def build_archives(workdir: Path, base: bytes, image: bytes) -> dict[str, Path]:
    from firmware_updates import swu

    key_pem, cert_pem = swu.make_signing_identity("Bench vendor")
    (workdir / "vendor.pem").write_bytes(cert_pem)
    common = {"hardware_revisions": ["2.1"], "key_pem": key_pem, "cert_pem": cert_pem}
    paths = {}
    for code, compress in CASES.items():
        for version, data in ((OLD, base), (NEW, image)):
            path = paths[f"{code}-{version}"] = workdir / f"{code}-{version}.swu"
            with open(path, "wb") as out:
                swu.build_archive(out, device_type=code, version=version, images=[("firmware.bin", data)],
                                  compress=compress, **common)
    paths["delta"] = workdir / f"nord-gsm-{NEW}-from-{OLD}.swu"
    started = time.monotonic()
    with open(paths["delta"], "wb") as out:
        swu.build_delta_archive(out, device_type="nord-gsm", version=NEW, base_version=OLD, base_image=base,
                                image=image, filename="firmware.bin.rdiff", base_device="/dev/fw-a", **common)
    paths["seconds_to_build"] = time.monotonic() - started
    return paths


def run(ctx) -> dict:
    from django.core.files import File
    from django.db import connection

    from firmware_updates import services
    from firmware_updates.models import JobState, UpdateJob
    from receivers.services import receiver_create
    from sites.models import DeviceType
    from sites.services import site_create
    from testing.servers import running

    from .servers import ROOT, gunicorn

    workdir = ctx.out_dir / "work" / "deltas"
    workdir.mkdir(parents=True, exist_ok=True)
    (old_version, base), (new_version, image) = debian_versions(workdir)
    ctx.note(f"{PACKAGE} {old_version} -> {new_version}: {len(base):,} -> {len(image):,} bytes "
             f"(sha256 {hashlib.sha256(image).hexdigest()[:12]}...)")
    paths = build_archives(workdir, base, image)
    sizes = {"image": len(image), "full_raw": paths[f"nord-gsm-raw-{NEW}"].stat().st_size,
             "full_zstd": paths[f"nord-gsm-{NEW}"].stat().st_size, "delta": paths["delta"].stat().st_size,
             **tool_sizes(workdir, base, image)}
    ctx.log(f"sizes {sizes}; delta built in {paths['seconds_to_build']:.1f} s")

    # The fleet: PANELS panels per device type, all on OLD holding the real old image.
    from django.conf import settings
    settings.FIRMWARE_TRUSTED_CERTS = str(workdir / "vendor.pem")
    # A run starts from nothing: archives, deltas and panels of an earlier run (another key,
    # another encoder) are gone.
    from firmware_updates.models import Release, ReleaseDelta
    from receivers.models import Receiver
    from sites.models import Device, Site
    UpdateJob.objects.all().delete()
    Device.objects.filter(device_type__code__in=CASES).delete()
    Site.objects.filter(receiver__code__startswith="deltas-").delete()
    Receiver.objects.filter(code__startswith="deltas-").delete()
    ReleaseDelta.objects.all().delete()
    Release.objects.filter(device_type__code__in=CASES).delete()
    receiver, _ = receiver_create(code=f"deltas-{int(time.time())}", name="Delta bench",
                                  poll_sleep=timedelta(seconds=30))
    releases = {}
    for code in CASES:
        kind, _ = DeviceType.objects.get_or_create(code=code, defaults={"name": code})
        for version in (OLD, NEW):
            release = services.release_create_from_path(path=paths[f"{code}-{version}"])
        services.release_mark_current(release=release)
        releases[code] = release
    with open(paths["delta"], "rb") as fh:
        services.release_delta_create(release=releases["nord-gsm"], archive=File(fh, name=paths["delta"].name))
    (workdir / "old.bin").write_bytes(base)
    panels, jobs = [], {}
    for index in range(len(CASES) * PANELS):
        code = list(CASES)[index // PANELS]
        serial = f"{receiver.code}-{index:03d}"
        _site, token = site_create(receiver=receiver, number=index + 1, serial=serial,
                                   device_type=DeviceType.objects.get(code=code), hardware_revision="2.1",
                                   firmware_version=OLD, channels=["gprs"],
                                   partitions=[{"number": 1, "armed": False}])
        panels.append({"serial": serial, "token": token, "device_type": code, "tenant": receiver.code,
                       "hardware_revision": "2.1", "firmware_version": OLD, "firmware_image": str(workdir / "old.bin"),
                       "channels": ["gprs"], "partitions": [{"number": 1, "armed": False}], "link": "gprs",
                       "arming": "static", "trusted_certs_file": str(workdir / "vendor.pem"), "seed": index})
        jobs[serial] = services.update_job_create(receiver=receiver, site_number=index + 1, actor=None)
    fleet = workdir / "fleet.json"
    fleet.write_text(json.dumps(panels))
    connection.close()

    web = gunicorn("ours", app="securitycenter.wsgi", workdir=workdir, workers=1, threads=8,
                   env={**os.environ, "DDI_ACTIVE_POLL_SLEEP": "00:00:20",
                        "FIRMWARE_TRUSTED_CERTS": str(workdir / "vendor.pem")}, probe="/api/v1/")
    with running(web):
        started = time.monotonic()
        with open(workdir / "fleetsim.log", "wb") as log:
            sim = subprocess.Popen([sys.executable, "-m", "fleetsim", "run", "--server", web.url, "--fleet",
                                    str(fleet), "--time-scale", str(TIME_SCALE), "--start-spread", "0",
                                    "--quiet"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            while time.monotonic() - started < TIMEOUT and sim.poll() is None:
                time.sleep(1)
                done = UpdateJob.objects.filter(pk__in=[j.pk for j in jobs.values()], confirmed_at__isnull=False)
                failed = UpdateJob.objects.filter(pk__in=[j.pk for j in jobs.values()], state=JobState.FAILED)
                if done.count() + failed.count() >= len(jobs):
                    break
        finally:
            if sim.poll() is None:
                os.killpg(sim.pid, signal.SIGTERM)  # our own child's group; fleetsim exits 0 on it
            sim.wait(timeout=30)
            connection.close()
    rows = []
    for serial, job in jobs.items():
        job = UpdateJob.objects.get(pk=job.pk)
        events = {e.to_state: e.at for e in job.events.filter(kind="transition")}
        delivered = events.get(JobState.DELIVERED)
        rows.append({"case": KIND[job.release.device_type.code], "serial": serial, "state": job.state,
                     "bytes": job.bytes_total,
                     "seconds": round((job.confirmed_at - delivered).total_seconds(), 1)
                     if job.confirmed_at and delivered else None,
                     "download_seconds": round((events[JobState.DOWNLOADED] - delivered).total_seconds(), 1)
                     if JobState.DOWNLOADED in events and delivered else None})
    return {"rows": rows, "sizes": sizes, "versions": [old_version, new_version], "package": PACKAGE}


def report(results: dict) -> str:
    result = results["sqlite"]
    sizes, rows = result["sizes"], result["rows"]
    full = sizes["full_zstd"]
    lines = [["image (the program)", sizes["image"], None, None],
             ["full archive, image raw", sizes["full_raw"], None, round(sizes["full_raw"] / full, 3)],
             ["full archive, image zstd (the reference)", full, None, 1.0],
             ["delta archive (ours: rdiff, zstd, signed)", sizes["delta"], round(sizes["delta"] / sizes["full_raw"], 3),
              round(sizes["delta"] / full, 3)]]
    if "rdiff" in sizes:
        lines.append(["librsync's rdiff delta (no archive)", sizes["rdiff"], round(sizes["rdiff"] / sizes["full_raw"], 3),
                      round(sizes["rdiff"] / full, 3)])
    if "zchunk" in sizes:
        lines.append(["zchunk delta handler would fetch", sizes["zchunk"],
                      round(sizes["zchunk"] / sizes["full_raw"], 3), round(sizes["zchunk"] / full, 3)])
    out = [f"{result['package']} {result['versions'][0]} -> {result['versions'][1]}",
           table(["what", "bytes", "x raw archive", "x zstd archive"], lines)]
    times, downloads = {}, {}
    for case in KIND.values():
        mine = [r for r in rows if r["case"] == case and r["seconds"] is not None]
        times[case] = sorted(r["seconds"] for r in mine)
        downloads[case] = sorted(r["download_seconds"] for r in mine if r.get("download_seconds") is not None)
    median = {case: values[len(values) // 2] if values else None for case, values in times.items()}
    median_download = {case: values[len(values) // 2] if values else None for case, values in downloads.items()}
    out.append(table(["fleetsim GPRS panels", "panels confirmed", "bytes each", "update s (median)", "update s (all)",
                      "x full (zstd)", "download s (median)", "x full (zstd)"],
                     [[case, len(times[case]), next((r["bytes"] for r in rows if r["case"] == case), None),
                       median[case], ", ".join(fmt(v) for v in times[case]),
                       _ratio(median[case], median["full (zstd)"]), median_download[case],
                       _ratio(median_download[case], median_download["full (zstd)"])] for case in KIND.values()]))
    out.append("update s: from the panel reading its action to the server's confirmation of the new version "
               "(download, check, install, reboot, report); download s: to the `downloaded` report.")
    out.append(goal_line("delta bytes / full archive (zstd)", round(sizes["delta"] / full, 3), 0.25, "x"))
    out.append(goal_line("delta bytes / full archive (raw)", round(sizes["delta"] / sizes["full_raw"], 3), 0.25, "x"))
    out.append(goal_line("delta update time / full (zstd) archive's on GPRS",
                         _ratio(median["delta"], median["full (zstd)"]), 0.35, "x"))
    out.append(goal_line("delta update time / full (raw) archive's on GPRS",
                         _ratio(median["delta"], median["full (raw)"]), 0.35, "x"))
    return "\n\n".join(out)


def _ratio(part, whole):
    return round(part / whole, 3) if part and whole else None
