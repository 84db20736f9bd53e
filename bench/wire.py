"""Bench `wire` (issue "Devices update themselves"): what a 500 KB update costs on a link that
drops every 64 KiB.

fleetsim panels (real HTTP, the simulator's own client) on fleetsim's `gprs` link profile
(connections cut after a random number of bytes, 64 KiB on average, exponential gaps), its
bandwidth raised to 250 KB/s and latency cut to 50 ms so the bench takes seconds, not
minutes (drops depend on bytes, not time). Each panel downloads, resumes with
`Range`/`If-Range` after every drop, checks, installs and reports; the figure is fleetsim's
`artifact_bytes_received` (every byte of every artifact response the panel read, headers
included) divided by the archive size. Goal: <= 1.05.

Bytes the server wrote into a socket that the link then cut are not counted: on loopback
the kernel buffers a whole archive, so the server's own count says nothing about a radio link.

Served by gunicorn alone (Django sends the file) and behind nginx (X-Accel-Redirect), where
nginx evaluates `Range` and `If-Range` itself.
"""

import os
import statistics
import time

from .report import table

TITLE = "bytes on the wire per 500 KB update over a link dropping every 64 KiB (fleetsim)"
DEFAULT_SIZES = (20,)
DATABASES = ("sqlite", "postgres")
TIME_SCALE = 0.01  # sleeps, reboots and polls compressed; bytes still take real time
LINK = {"preset": "gprs", "bandwidth": 250_000, "latency": 0.05}
TIMEOUT = 180
GOAL = 1.05


def _specs(receiver, serials):
    from fleetsim import PanelSpec

    from . import ddi_fleet

    return [PanelSpec(serial=s, tenant=receiver.code, token=ddi_fleet.device_token(s),
                      device_type=ddi_fleet.DEVICE_TYPE[0], hardware_revision=ddi_fleet.HARDWARE,
                      firmware_version=ddi_fleet.OLD, channels=ddi_fleet.CHANNELS,
                      partitions=ddi_fleet.PARTITIONS, link=LINK, reboot_seconds=8) for s in serials]


def _run_fleet(ctx, url, receiver, serials, release, *, case: str, size: int) -> dict:
    from fleetsim import Fleet

    fleet = Fleet(url, _specs(receiver, serials), time_scale=TIME_SCALE, start_spread=0, seed=64)
    started = time.monotonic()
    with fleet:
        try:
            fleet.wait_until(lambda: all("succeeded" in p.outcomes.values() for p in fleet), timeout=TIMEOUT)
        except TimeoutError as exc:
            ctx.note(f"{case}: not every panel finished in {TIMEOUT} s: {str(exc).splitlines()[0]}")
        seconds = time.monotonic() - started
        panels = list(fleet)
        ratios = [p.artifact_bytes_received / release.size for p in panels]
        summary = fleet.summary()
    row = {"case": case, "size": size, "panels": len(panels), "succeeded": summary["succeeded"],
           "failed": summary["failed"], "drops": summary["drops"], "seconds": round(seconds, 1),
           "archive": release.size, "artifact_bytes": summary["artifact_bytes"],
           "ratio_mean": round(statistics.mean(ratios), 4), "ratio_max": round(max(ratios), 4),
           "ratio_min": round(min(ratios), 4),
           "artifact_requests": sum(p.stats.requests_by_kind["artifact"] for p in panels)}
    ctx.log(f"{case}: {row['succeeded']}/{row['panels']} updated in {row['seconds']} s, {row['drops']} drops, "
            f"wire/archive mean {row['ratio_mean']}, max {row['ratio_max']}")
    return row


def run(ctx) -> dict:
    from django.conf import settings
    from django.db import connection

    from testing.servers import free_port, running

    from . import ddi_fleet
    from .ddi_download import nginx_config
    from .servers import gunicorn, missing_tool, nginx

    workdir = ctx.out_dir / "work" / f"wire-{ctx.db}"
    release = ddi_fleet.release_ensure(ctx, workdir)
    ctx.note(f"archive {release.size:,} bytes; link {LINK}; time scale {TIME_SCALE}")
    rows = []
    for size in ctx.sizes:
        receiver = ddi_fleet.fleet_ensure(ctx, code=f"wire-{size}", size=size, version=ddi_fleet.OLD)
        serials = ddi_fleet.serials(receiver)

        def queue(receiver=receiver):
            ddi_fleet.fleet_reset(receiver, version=ddi_fleet.OLD, seen_ago=None)
            ddi_fleet.rollout_queue(receiver)
            connection.close()

        env = {**os.environ, "USE_X_ACCEL_REDIRECT": "0"}
        queue()
        with running(gunicorn("ours", app="securitycenter.wsgi", workdir=workdir, workers=2, threads=4,
                              env=env, probe="/api/v1/")) as server:
            rows.append(_run_fleet(ctx, server.url, receiver, serials, release, case="Django sends the file",
                                   size=size))
        if why := missing_tool("nginx", "nginx-light"):
            ctx.note(why)
            continue
        queue()
        behind = gunicorn("ours", app="securitycenter.wsgi", workdir=workdir, workers=2, threads=4,
                          env={**os.environ, "USE_X_ACCEL_REDIRECT": "1"}, probe="/api/v1/")
        port = free_port()
        front = nginx("nginx", workdir=workdir, port=port, config_text=nginx_config(
            port=port, gunicorn_port=behind.port, static_root=workdir, media_root=settings.MEDIA_ROOT,
            workdir=workdir))
        with running(behind), running(front):
            rows.append(_run_fleet(ctx, front.url, receiver, serials, release,
                                   case="behind nginx (X-Accel-Redirect)", size=size))
    return {"rows": rows}


def report(results: dict) -> str:
    out = []
    for db in [db for db in ("sqlite", "postgres") if db in results]:
        rows = results[db]["rows"]
        lines = [[r["case"], r["panels"], r["succeeded"], r["drops"], r["artifact_requests"], r["archive"],
                  round(r["artifact_bytes"] / max(1, r["panels"])), f"{r['ratio_mean']:.4f}",
                  f"{r['ratio_min']:.4f}", f"{r['ratio_max']:.4f}", r["seconds"]] for r in rows]
        out.append(f"\n{db}")
        out.append(table(["server", "panels", "updated", "drops", "artifact requests", "archive bytes",
                          "artifact bytes / panel",
                          "wire/archive mean", "min", "max", "seconds"], lines))
        for r in rows:
            verdict = "met" if r["ratio_max"] <= GOAL and r["succeeded"] == r["panels"] else "NOT met"
            out.append(f"goal ({r['case']}): every panel <= {GOAL} x the archive: max {r['ratio_max']} -> {verdict}")
    return "\n".join(out)
