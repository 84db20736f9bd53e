"""Bench `fleet` (issue "Devices update themselves"): 1,000 simulated panels updating at once.

1,000 devices running 5.30 are queued by "Update software at all sites" (rollout_start +
rollout_run); then one fleetsim process (`python -m fleetsim run`, a separate process so its
CPU is its own) starts their panels within a quarter of a second. Each polls, fetches its
deploymentBase, downloads the 500 KB archive over an `ethernet` link (1 MB/s, 20 ms),
checks it (hashes, SWUpdate manifest, board), reports, installs, reboots and reports its new
version; the update counts once the server has confirmed it (job succeeded and the version
seen). Time scale 0.05: sleeps and reboots pass 20x faster, bytes do not.

Servers as each database's mode runs them: SQLite (embedded) gunicorn alone, Django sending
the files; PostgreSQL (production) gunicorn behind nginx with X-Accel-Redirect.
DDI_ACTIVE_POLL_SLEEP is one minute here (3 s real at this time scale) so polls keep the
proportion they have in the field (a real 10 s poll beside a real-time download), instead
of 2,000 polls/s that only the time scale creates.

Figures: updates per minute (to the last confirmation; also the time to 50 % and 90 %), and
the CPU each side used, in cores (CPU seconds / wall seconds): gunicorn, nginx, PostgreSQL's
backends, fleetsim. The bench stops by itself after all are confirmed or TIMEOUT seconds.
"""

import json
import os
import signal
import subprocess
import sys
import time

from .report import fmt, table

TITLE = "1,000 fleetsim panels updating at once: updates/min, server and simulator CPU"
DEFAULT_SIZES = (1_000,)
DATABASES = ("sqlite", "postgres")
TIME_SCALE = 0.05
ACTIVE_POLL_SLEEP = "00:01:00"
TIMEOUT = float(os.environ.get("BENCH_FLEET_TIMEOUT", 300))
WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", 2))
# Unlike wrk's 32 busy connections, 1,000 panels keep many requests open that wait on the
# database (about fifteen commits per update): on PostgreSQL 4 threads per worker measured
# 513-531 updates/min, 16 threads 562-787 (load-dependent); on SQLite the same within the noise.
THREADS = int(os.environ.get("BENCH_FLEET_GUNICORN_THREADS", 16))


def fleet_file(path, receiver, serials) -> None:
    from . import ddi_fleet

    defaults = {"tenant": receiver.code, "device_type": ddi_fleet.DEVICE_TYPE[0],
                "hardware_revision": ddi_fleet.HARDWARE, "firmware_version": ddi_fleet.OLD,
                "channels": ddi_fleet.CHANNELS, "partitions": ddi_fleet.PARTITIONS, "link": "ethernet",
                "arming": "static", "reboot_seconds": 8}
    panels = [{"serial": s, "token": ddi_fleet.device_token(s)} for s in serials]
    path.write_text(json.dumps({"defaults": defaults, "panels": panels}))


def confirmed(receiver) -> tuple[int, int]:
    """(jobs succeeded with the new version seen, jobs failed) of the receiver's devices."""
    from firmware_updates.models import JobState, UpdateJob

    jobs = UpdateJob.objects.filter(device__receiver=receiver)
    return (jobs.filter(state=JobState.SUCCEEDED, confirmed_at__isnull=False).count(),
            jobs.filter(state=JobState.FAILED).count())


def run(ctx) -> dict:
    from django.conf import settings
    from django.db import connection

    from testing.servers import free_port, running

    from . import ddi_fleet
    from .ddi_download import nginx_config
    from .servers import (
        ROOT,
        cpu_by_pid,
        cpu_seconds,
        cpu_since,
        gunicorn,
        missing_tool,
        nginx,
        postgres_backend_pids,
        tree_pids,
    )

    workdir = ctx.out_dir / "work" / f"fleet-{ctx.db}"
    release = ddi_fleet.release_ensure(ctx, workdir)
    ctx.note(f"archive {release.size:,} bytes; time scale {TIME_SCALE}; DDI_ACTIVE_POLL_SLEEP {ACTIVE_POLL_SLEEP}; "
             f"gunicorn {WORKERS} gthread workers x {THREADS} threads")
    # BENCH_FLEET_NGINX=0/1 overrides the mode's default (nginx in front on PostgreSQL).
    production = os.environ.get("BENCH_FLEET_NGINX", "1" if ctx.db == "postgres" else "0") == "1"
    if production and (why := missing_tool("nginx", "nginx-light")):
        ctx.note(f"{why}; Django sends the files instead")
        production = False
    database = connection.settings_dict["NAME"] if connection.vendor == "postgresql" else None
    rows = []
    for size in ctx.sizes:
        receiver = ddi_fleet.fleet_ensure(ctx, code=f"fleet-{size}", size=size, version=ddi_fleet.OLD)
        serials = ddi_fleet.serials(receiver)
        ddi_fleet.fleet_reset(receiver, version=ddi_fleet.OLD, seen_ago=None)
        queued = ddi_fleet.rollout_queue(receiver)
        fleet_path = workdir / f"fleet-{size}.json"
        fleet_file(fleet_path, receiver, serials)
        connection.close()

        env = {**os.environ, "USE_X_ACCEL_REDIRECT": "1" if production else "0",
               "DDI_ACTIVE_POLL_SLEEP": ACTIVE_POLL_SLEEP}
        web = gunicorn("ours", app="securitycenter.wsgi", workdir=workdir, workers=WORKERS, threads=THREADS,
                       env=env, probe="/api/v1/")
        servers = [web]
        url = web.url
        if production:
            port = free_port()
            servers.insert(0, nginx("nginx", workdir=workdir, port=port, config_text=nginx_config(
                port=port, gunicorn_port=web.port, static_root=workdir, media_root=settings.MEDIA_ROOT,
                workdir=workdir)))
            url = servers[0].url
        flash = workdir / "flash"
        flash.mkdir(parents=True, exist_ok=True)
        for old in flash.iterdir():
            old.unlink()
        with running(web), (running(servers[0]) if production else _nothing()):
            cpu = {s.name: s.cpu_seconds() for s in servers}
            db_cpu = cpu_by_pid(postgres_backend_pids(database)) if database else {}
            started = time.monotonic()
            with open(workdir / "fleetsim.log", "wb") as log:
                sim = subprocess.Popen(
                    [sys.executable, "-m", "fleetsim", "run", "--server", url, "--fleet", str(fleet_path),
                     "--time-scale", str(TIME_SCALE), "--start-spread", "5", "--seed", "1000",
                     "--flash-dir", str(flash), "--quiet"],
                    cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            marks, done, failed = {}, 0, 0
            sim_cpu = 0.0
            try:
                while time.monotonic() - started < TIMEOUT and sim.poll() is None:
                    time.sleep(1)
                    sim_cpu = cpu_seconds(tree_pids(sim.pid))
                    done, failed = confirmed(receiver)
                    for share in (0.5, 0.9, 1.0):
                        if share not in marks and done >= share * queued:
                            marks[share] = time.monotonic() - started
                    if done + failed >= queued:
                        break
            finally:
                elapsed = time.monotonic() - started
                cpu = {s.name: s.cpu_seconds() - cpu[s.name] for s in servers}
                db_used = cpu_since(db_cpu, cpu_by_pid(postgres_backend_pids(database))) if database else None
                sim_cpu = max(sim_cpu, cpu_seconds(tree_pids(sim.pid)))
                if sim.poll() is None:
                    os.killpg(sim.pid, signal.SIGTERM)  # our own child's group; fleetsim exits 0 on it
                try:
                    sim.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(sim.pid, signal.SIGKILL)
                    sim.wait()
            connection.close()
        last = marks.get(1.0, elapsed)
        row = {"case": "gunicorn behind nginx (X-Accel-Redirect)" if production else "gunicorn (Django sends the files)",
               "size": size, "queued": queued, "confirmed": done, "failed": failed,
               "seconds_to_50": _round(marks.get(0.5)), "seconds_to_90": _round(marks.get(0.9)),
               "seconds_to_all": _round(marks.get(1.0)), "updates_per_minute": round(done / last * 60, 1),
               "wall_seconds": round(elapsed, 1),
               "cores": {**{name: round(v / elapsed, 2) for name, v in cpu.items()},
                         **({"postgres": round(db_used / elapsed, 2)} if database else {}),
                         "fleetsim": round(sim_cpu / elapsed, 2)},
               "cpu_seconds": {**{name: round(v, 1) for name, v in cpu.items()},
                               **({"postgres": round(db_used, 1)} if database else {}),
                               "fleetsim": round(sim_cpu, 1)}}
        rows.append(row)
        ctx.log(f"{done}/{queued} confirmed ({failed} failed) in {row['wall_seconds']} s: "
                f"{row['updates_per_minute']} updates/min; cores {row['cores']}")
        if done < queued:
            ctx.note(f"{queued - done} of {queued} updates not confirmed within {TIMEOUT:g} s (see {workdir / 'fleetsim.log'})")
    return {"rows": rows}


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _round(value):
    return None if value is None else round(value, 1)


def report(results: dict) -> str:
    lines = []
    for db in [db for db in ("sqlite", "postgres") if db in results]:
        for r in results[db]["rows"]:
            cores = r["cores"]
            lines.append([db, r["case"], r["size"], f"{r['confirmed']:,}/{r['queued']:,}", r["failed"],
                          r["updates_per_minute"], r["seconds_to_50"], r["seconds_to_90"], r["seconds_to_all"],
                          cores.get("ours"), cores.get("nginx"), cores.get("postgres"), cores.get("fleetsim")])
    return table(["database", "server", "panels", "confirmed", "failed", "updates/min", "s to 50 %", "s to 90 %",
                  "s to all", "gunicorn cores", "nginx cores", "PostgreSQL cores", "fleetsim cores"],
                 lines) + f"\n(cores = CPU seconds / wall seconds, {fmt(os.cpu_count())} cores in all)"
