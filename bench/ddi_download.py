"""Bench `ddi_download` (issue "Devices update themselves"): 64 devices fetching a 500 KB archive
at once.

64 devices with a queued job ("Update software at all sites") fetch their own job's artifact,
`GET /{tenant}/controller/v1/{serial}/softwaremodules/{release id}/artifacts/{file}` with their
own TargetToken, over 64 keep-alive connections (wrk, each request as the next device in
turn), against:

- ours, Django serving the file: gunicorn, USE_X_ACCEL_REDIRECT=0 (the embedded mode);
- ours behind nginx: USE_X_ACCEL_REDIRECT=1, Django authenticates and answers with
  `X-Accel-Redirect`, nginx sends the file (deploy/nginx/firmware.conf, production's file),
  twice: with X_ACCEL_EXPIRES=0 (every request asks Django) and with its default (nginx
  reuses a device's go-ahead for that many seconds: the production setting);
- nginx serving the same file statically from the same server's /static/ (the ceiling),
  measured in turns with "ours behind nginx" at the default window: ten slices each,
  alternating, from the one nginx (bench.load.measure_alternating), so the ratio the goal
  is about compares the same machine at the same minutes;
- gooseBit (bench/goosebit.py): its download endpoint, 64 devices it registered, the same
  archive assigned to them.

Before each of our runs the jobs are queued afresh, so each device's first request moves its
job to downloading, as in the field. Goals: Django directly >= 5x gooseBit's downloads/s;
behind nginx within 0.9x of nginx alone.
"""

import os
from pathlib import Path

from .report import find, table

TITLE = "DDI artifact downloads, 64 devices at once, 500 KB: ours vs nginx vs gooseBit (wrk)"
DEFAULT_SIZES = (64,)
DATABASES = ("sqlite", "postgres")
SECONDS = float(os.environ.get("BENCH_WRK_SECONDS", 10))
WARMUP = 2.0
WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", 2))
THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", 4))
GOAL_VS_GOOSEBIT, GOAL_VS_NGINX = 5.0, 0.9
BEHIND = "ours behind nginx (X-Accel-Redirect)"
EVERY = "ours behind nginx, X_ACCEL_EXPIRES=0"
STATIC = "nginx, static file"
# The goal's pair: 10 slices of 2 s each, in turns (twice the other cases' time: the pair's
# ratio is the goal, and 2 s slices of a shared machine vary by 10-20 %).
ROUNDS = 10
# More windows to measure behind nginx, e.g. BENCH_X_ACCEL_EXPIRES=10 (seconds, comma list),
# besides 0 (every request asks Django) and the setting's default (the goal's row).
MORE_WINDOWS = [w.strip() for w in os.environ.get("BENCH_X_ACCEL_EXPIRES", "").split(",") if w.strip()]
# BENCH_DOWNLOAD_NGINX_ONLY=1: only the behind-nginx windows (not 0) and the static file, for
# quick alternating comparisons of nginx configurations (no Django-direct, no gooseBit).
NGINX_ONLY = os.environ.get("BENCH_DOWNLOAD_NGINX_ONLY") == "1"


def nginx_config(*, port: int, gunicorn_port: int, static_root, media_root, workdir) -> str:
    """deploy/nginx/firmware.conf for `bench.servers.nginx("nginx", workdir=workdir, ...)`:
    2 workers, no access log, an empty go-ahead cache."""
    import shutil

    from deploy.nginx import standalone

    prefix = workdir / "nginx"
    # On tmpfs where there is one, as production's default (/run on Debian).
    shm = Path("/dev/shm")
    cache = shm / f"firmware-{workdir.name}-ddi-cache" if shm.is_dir() else prefix / "cache"
    shutil.rmtree(cache, ignore_errors=True)  # nothing left from an earlier run
    return standalone(prefix=prefix, workers=2, http_extra="    keepalive_requests 100000;",
                      listen=f"127.0.0.1:{port}", django=f"127.0.0.1:{gunicorn_port}",
                      media_root=media_root, static_root=static_root, cache_dir=cache,
                      access_log=os.environ.get("BENCH_NGINX_ACCESS_LOG", "off"))


def run(ctx) -> dict:
    from django.conf import settings
    from django.db import connection

    from testing.servers import free_port

    from . import ddi_fleet, goosebit
    from .load import measure, measure_alternating, targets_write
    from .servers import gunicorn, missing_tool, nginx

    for tool, package in (("wrk", "wrk"), ("nginx", "nginx-light")):
        if why := missing_tool(tool, package):
            ctx.note(why)
            return {"rows": []}
    workdir = ctx.out_dir / "work" / f"ddi_download-{ctx.db}"
    release = ddi_fleet.release_ensure(ctx, workdir)
    archive = settings.MEDIA_ROOT / release.archive.name
    ctx.note(f"archive {release.size:,} bytes; wrk: 64 connections, {WARMUP:g} s warm-up, {SECONDS:g} s measured; "
             f"gunicorn: {WORKERS} gthread workers x {THREADS} threads; nginx: 2 workers, sendfile")
    rows = []
    for size in ctx.sizes:
        receiver = ddi_fleet.fleet_ensure(ctx, code=f"download-{size}", size=size, version=ddi_fleet.OLD)
        serials = ddi_fleet.serials(receiver)
        artifact = f"softwaremodules/{release.pk}/artifacts/{release.filename}"
        targets = targets_write(workdir / f"targets-{size}.tsv", [
            (f"/{receiver.code}/controller/v1/{s}/{artifact}", f"TargetToken {ddi_fleet.device_token(s)}")
            for s in serials])
        database = connection.settings_dict["NAME"] if connection.vendor == "postgresql" else None

        def queue_jobs(receiver=receiver, size=size):
            ddi_fleet.fleet_reset(receiver, version=ddi_fleet.OLD, seen_ago=None)
            queued = ddi_fleet.rollout_queue(receiver)
            assert queued == size, f"{queued} jobs queued for {size} devices"
            connection.close()

        common = dict(size=size, seconds=SECONDS, warmup=WARMUP, connections=64, mode="cycle")
        if not NGINX_ONLY:
            queue_jobs()
            direct = gunicorn("ours", app="securitycenter.wsgi", workdir=workdir, workers=WORKERS, threads=THREADS,
                              env={**os.environ, "USE_X_ACCEL_REDIRECT": "0"}, probe="/api/v1/")
            rows.append(measure(ctx, [direct], direct.url, targets, case="ours, Django sends the file",
                                before=queue_jobs, database=database, **common))

        static = targets_write(workdir / "static-targets.tsv", [(f"/static/{archive.name}", "none")])

        def behind_nginx(window: str):
            behind = gunicorn("ours", app="securitycenter.wsgi", workdir=workdir, workers=WORKERS, threads=THREADS,
                              env={**os.environ, "USE_X_ACCEL_REDIRECT": "1", "X_ACCEL_EXPIRES": window},
                              probe="/api/v1/")
            port = free_port()
            front = nginx("nginx", workdir=workdir, port=port, config_text=nginx_config(
                port=port, gunicorn_port=behind.port, static_root=archive.parent, media_root=settings.MEDIA_ROOT,
                workdir=workdir))
            return front, behind

        windows = [] if NGINX_ONLY else [(EVERY, "0")]
        windows += [(f"ours behind nginx, X_ACCEL_EXPIRES={w}", w) for w in MORE_WINDOWS]
        for case, window in windows:
            front, behind = behind_nginx(window)
            queue_jobs()
            rows.append(measure(ctx, [front, behind], front.url, targets, case=case, before=queue_jobs,
                                database=database, **common))
        # The goal's pair, from the same nginx, in turns (bench.load.measure_alternating).
        front, behind = behind_nginx(str(settings.X_ACCEL_EXPIRES))
        queue_jobs()
        rows += measure_alternating(ctx, [
            {"case": BEHIND, "servers": [front, behind], "url": front.url, "targets": targets, "before": queue_jobs},
            {"case": STATIC, "servers": [front], "url": front.url, "targets": static},
        ], database=database, rounds=ROUNDS, **{**common, "seconds": 2 * SECONDS})
        if NGINX_ONLY:
            continue
        gb_serials = goosebit.devices_ensure(ctx.log, workdir, prefix=f"gb-download-{size}-", size=size, width=4,
                                             sw_version=ddi_fleet.OLD)
        goosebit.assign_software(gb_serials, archive, version=ddi_fleet.NEW)
        gb_targets = targets_write(workdir / f"goosebit-targets-{size}.tsv", [
            (goosebit.download_path(s), "TargetToken none") for s in gb_serials])
        server = goosebit.server(workdir)
        rows.append(measure(ctx, [server], server.url, gb_targets, case="gooseBit", **common))
    for row in rows:
        if row["bytes_per_request"] < release.size:
            ctx.note(f"{row['case']}: {row['bytes_per_request']:,} bytes per request, less than the archive")
    return {"rows": rows, "archive_size": release.size}


def report(results: dict) -> str:
    out = []
    for db in [db for db in ("sqlite", "postgres") if db in results]:
        rows = results[db]["rows"]
        for size in sorted({r["size"] for r in rows}):
            gb = find(rows, case="gooseBit", size=size) or {}
            static = find(rows, case=STATIC, size=size) or {}
            lines = [[r["case"], r["per_s"], round(r["per_s"] * r["bytes_per_request"] / 2**20, 1), r["p50_ms"],
                      r["p99_ms"], r["bad_status"] + r["socket_errors"], r["server_cpu_ms_per_request"],
                      r.get("db_cpu_ms_per_request"), _x(r["per_s"], gb.get("per_s")),
                      _x(r["per_s"], static.get("per_s"))] for r in rows if r["size"] == size]
            out.append(f"\n{db}, {size} devices at once (gooseBit always on its own SQLite)")
            out.append(table(["server", "downloads/s", "MiB/s", "p50 ms", "p99 ms", "errors", "CPU ms/download",
                              "PostgreSQL CPU ms", "x gooseBit", "x nginx static"], lines))
            direct = find(rows, case="ours, Django sends the file", size=size)
            behind = find(rows, case=BEHIND, size=size)
            verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
            if direct and gb:
                x = direct["per_s"] / gb["per_s"]
                out.append(f"goal: Django directly >= {GOAL_VS_GOOSEBIT:g}x gooseBit: {x:.2f}x -> "
                           f"{verdict(x >= GOAL_VS_GOOSEBIT)}")
            if behind and static:
                x = behind["per_s"] / static["per_s"]
                out.append(f"goal: behind nginx >= {GOAL_VS_NGINX:g}x nginx alone: {x:.2f}x -> "
                           f"{verdict(x >= GOAL_VS_NGINX)}")
    return "\n".join(out)


def _x(value, base):
    return f"{value / base:.2f}x" if value and base else None

