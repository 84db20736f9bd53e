"""Bench `ddi_poll` (issue "Devices update themselves"): idle polls of 10,000 devices.

wrk (bench/wrk/devices.lua) polls `GET /{tenant}/controller/v1/{serial}` as a device drawn at
random for every request, each with its own TargetToken, against:

- ours: `securitycenter.wsgi` under gunicorn, as production runs it, on this database, in
  the two patterns a poll can have:
  "every poll marks seen" (the headline, what production does: panels poll every few minutes,
  far apart from the 30 s resolution, so every poll records its panel's last_seen):
  DEVICE_LAST_SEEN_RESOLUTION=0 so every poll takes that path, the default
  DEVICE_SEEN_FLUSH_INTERVAL (times gathered in memory, written in bulk: sites.last_seen);
  "every poll writes at once": the same with DEVICE_SEEN_FLUSH_INTERVAL=0, an UPDATE per
  poll as before the bulk writes (for comparison);
  "repeat within 30 s": the default resolution, every device seen moments ago (read-only);
- bare view: one indexed lookup in Django without apps or middleware (bench/bare_view.py),
  on the same database and gunicorn settings: the framework's floor;
- gooseBit (bench/goosebit.py): uvicorn, its own SQLite, 10,000 devices it registered.

Every server gets the same warm-up, duration and connections. The headline case and the bare
view are measured in turns, five slices each, alternating (bench.load.measure_alternating), so
their ratio compares the same machine at the same minutes. Goals, for the headline case:
polls/s >= 5x gooseBit's and >= 0.6x the bare view's, p99 below gooseBit's. After that case
the bench counts the devices whose last_seen the run wrote (the servers have stopped, so their
workers wrote what they held at exit) against those wrk polled.
"""

import os
from datetime import timedelta

from .report import find, fmt, table

TITLE = "DDI idle poll, 10,000 devices: ours vs gooseBit vs a bare Django view (wrk)"
DEFAULT_SIZES = (10_000,)
DATABASES = ("sqlite", "postgres")
SECONDS = float(os.environ.get("BENCH_WRK_SECONDS", 15))
WARMUP = 3.0
CONNECTIONS = int(os.environ.get("BENCH_WRK_CONNECTIONS", 32))
# 2 cores, wrk on the same machine: 2 processes x 4 threads keeps both cores busy while a
# thread waits on the database; more processes only add context switches (docs/benchmarks.md).
WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", 2))
THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", 4))
GOAL_VS_GOOSEBIT, GOAL_VS_BARE = 5.0, 0.6
MARKS_SEEN = "ours, every poll marks seen"
WRITES_AT_ONCE = "ours, every poll writes at once"
READ_ONLY = "ours, repeat within 30 s"
BARE = "bare Django view"
ROUNDS = 5


def _seen_written(receiver, *, since, requests: int, size: int) -> dict:
    """Devices whose last_seen the run wrote, and how many distinct devices `requests` random
    polls reach on average (so a lost flush would show)."""
    import math

    from sites.models import Device

    written = Device.objects.filter(receiver=receiver, last_seen__gte=since).count()
    return {"devices_written": written, "devices_polled_expected": round(size * (1 - math.exp(-requests / size)))}


def server_env(**extra) -> dict:
    env = dict(os.environ)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def measure(ctx, server, targets, *, case: str, size: int, before=None, database: str | None = None) -> dict:
    from .load import measure

    return measure(ctx, [server], server.url, targets, case=case, size=size, seconds=SECONDS, warmup=WARMUP,
                   connections=CONNECTIONS, before=before, database=database)


def run(ctx) -> dict:
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from . import ddi_fleet, goosebit
    from .load import measure_alternating, targets_write
    from .servers import gunicorn, missing_tool

    if why := missing_tool("wrk", "wrk"):
        ctx.note(why)
        return {"rows": []}
    workdir = ctx.out_dir / "work" / f"ddi_poll-{ctx.db}"
    rows = []
    ctx.note(f"wrk: {CONNECTIONS} connections, 2 threads, {WARMUP:g} s warm-up, {SECONDS:g} s measured; "
             f"gunicorn: {WORKERS} gthread workers x {THREADS} threads")
    for size in ctx.sizes:
        receiver = ddi_fleet.fleet_ensure(ctx, code=f"poll-{size}", size=size, version=ddi_fleet.NEW)
        serials = ddi_fleet.serials(receiver)
        targets = targets_write(workdir / f"targets-{size}.tsv", [
            (f"/{receiver.code}/controller/v1/{s}", f"TargetToken {ddi_fleet.device_token(s)}") for s in serials])
        database = connection.settings_dict["NAME"] if connection.vendor == "postgresql" else None
        connection.close()  # the servers use the database now; keep no transaction of ours open

        def seen(ago, receiver=receiver):
            return lambda: ddi_fleet.fleet_reset(receiver, version=ddi_fleet.NEW, seen_ago=ago)

        seen(timedelta(minutes=5))()
        marked = {}

        def measured_from_now(receiver=receiver, marked=marked):
            ddi_fleet.fleet_reset(receiver, version=ddi_fleet.NEW, seen_ago=timedelta(minutes=5))
            marked["start"] = timezone.now()

        # The goal's pair in turns (bench.load.measure_alternating): both servers run
        # throughout, each idle while the other's slice runs.
        ours = gunicorn("ours", app="securitycenter.wsgi", workdir=workdir, workers=WORKERS,
                        threads=THREADS, env=server_env(DEVICE_LAST_SEEN_RESOLUTION=0), probe="/api/v1/")
        bare = gunicorn("bare", app="django.core.wsgi:get_wsgi_application()", workdir=workdir,
                        workers=WORKERS, threads=THREADS, env=server_env(DJANGO_SETTINGS_MODULE="bench.bare_view"))
        row, bare_row = measure_alternating(ctx, [
            {"case": MARKS_SEEN, "servers": [ours], "url": ours.url, "targets": targets,
             "before": measured_from_now},
            {"case": BARE, "servers": [bare], "url": bare.url, "targets": targets},
        ], size=size, seconds=SECONDS, warmup=WARMUP, connections=CONNECTIONS, rounds=ROUNDS, database=database)
        row.update(_seen_written(receiver, since=marked["start"], requests=row["requests"], size=size))
        ctx.note(f"{MARKS_SEEN}: last_seen written for {row['devices_written']:,} devices, "
                 f"{row['devices_polled_expected']:,} expected from {row['requests']:,} random polls "
                 f"(flush interval {settings.DEVICE_SEEN_FLUSH_INTERVAL:g} s)")
        rows.append(row)
        ours = gunicorn("ours", app="securitycenter.wsgi", workdir=workdir, workers=WORKERS, threads=THREADS,
                        env=server_env(DEVICE_LAST_SEEN_RESOLUTION=0, DEVICE_SEEN_FLUSH_INTERVAL=0),
                        probe="/api/v1/")
        rows.append(measure(ctx, ours, targets, case=WRITES_AT_ONCE, size=size,
                            before=seen(timedelta(minutes=5)), database=database))
        ours = gunicorn("ours", app="securitycenter.wsgi", workdir=workdir, workers=WORKERS,
                        threads=THREADS, env=server_env(), probe="/api/v1/")
        rows.append(measure(ctx, ours, targets, case=READ_ONLY, size=size,
                            before=seen(timedelta(seconds=0)), database=database))
        rows.append(bare_row)

        gb_serials = goosebit.devices_ensure(ctx.log, workdir, prefix=f"gb-poll-{size}-", size=size, width=6,
                                             sw_version=ddi_fleet.NEW)
        gb_targets = targets_write(workdir / f"goosebit-targets-{size}.tsv", [
            (goosebit.poll_path(s), f"TargetToken {ddi_fleet.device_token(s)}") for s in gb_serials])
        rows.append(measure(ctx, goosebit.server(workdir), gb_targets, case="gooseBit", size=size))
    return {"rows": rows}


def report(results: dict) -> str:
    out = []
    for db in [db for db in ("sqlite", "postgres") if db in results]:
        rows = results[db]["rows"]
        sizes = sorted({r["size"] for r in rows})
        for size in sizes:
            gb = find(rows, case="gooseBit", size=size) or {}
            bare = find(rows, case=BARE, size=size) or {}
            lines = []
            for r in (r for r in rows if r["size"] == size):
                lines.append([r["case"], r["per_s"], r["p50_ms"], r["p99_ms"], r["bad_status"] + r["socket_errors"],
                              r["server_cpu_ms_per_request"], r.get("db_cpu_ms_per_request"),
                              _x(r["per_s"], gb.get("per_s")), _x(r["per_s"], bare.get("per_s"))])
            out.append(f"\n{db}, {size:,} devices (gooseBit always on its own SQLite)")
            out.append(table(["server", "polls/s", "p50 ms", "p99 ms", "errors", "CPU ms/poll",
                              "PostgreSQL CPU ms/poll", "x gooseBit", "x bare view"], lines))
            for case in (MARKS_SEEN, READ_ONLY, WRITES_AT_ONCE):
                ours = find(rows, case=case, size=size)
                if ours and gb and bare:
                    out.append(_goals(ours, gb, bare))
            ours = find(rows, case=MARKS_SEEN, size=size)
            if ours and "devices_written" in ours:
                out.append(f"{MARKS_SEEN}: last_seen written for {ours['devices_written']:,} devices, "
                           f"~{ours['devices_polled_expected']:,} polled")
    return "\n".join(out)


def _x(value, base):
    return f"{value / base:.2f}x" if value and base else None


def _goals(ours: dict, gb: dict, bare: dict) -> str:
    vs_gb, vs_bare = ours["per_s"] / gb["per_s"], ours["per_s"] / bare["per_s"]
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    return (f"{ours['case']}: >= {GOAL_VS_GOOSEBIT:g}x gooseBit's polls/s: {vs_gb:.2f}x -> "
            f"{verdict(vs_gb >= GOAL_VS_GOOSEBIT)}; >= {GOAL_VS_BARE:g}x the bare view: {vs_bare:.2f}x -> "
            f"{verdict(vs_bare >= GOAL_VS_BARE)}; p99 below gooseBit's: {fmt(ours['p99_ms'])} vs "
            f"{fmt(gb['p99_ms'])} ms -> {verdict(ours['p99_ms'] < gb['p99_ms'])}")
