"""Bench `update_all` (issue "Operators run updates"): "Update software at all sites".

On an `outdated` fleet (every device of one type outdated, eligible, online; the receiver
has a wake-up URL, so wake-up tasks are enqueued as in production — to the bench's own
on-disk broker, never sent): `rollout_start` then `rollout_run`, as the Celery worker
would call it. Rollouts run in waves now; this bench starts one with a single wave
(`waves=[100]`), the one-blast rollout it always measured, so its history stays comparable
(bench `rollouts` measures the staged one). Seconds, queries, queries per 1,000 devices. The
first run counts queries, the next ones are timed without capture; jobs and rollout are
deleted after each run.

Also the device type page: `device_type_sites` first page of 50, the same page behind a
paginator (count + page, what a page with page numbers needs), and the panel page if it
exists — before the rollout (no jobs) and after it (every device has a queued job).

Goals: the rollout of 100,000 devices under 10 s and at most one query per 1,000
devices (PostgreSQL); the device type page under 150 ms.
"""

from .report import find, fmt, goal_line, table, timed_table

TITLE = "update all sites: rollout_start + rollout_run, and the device type page"
DEFAULT_SIZES = (100_000,)
DATABASES = ("sqlite", "postgres")
ROLLOUT_RUNS = 3  # timed rollouts per size (each one ~seconds); plus one that counts queries
GOAL_SECONDS, GOAL_QUERIES_PER_1000, GOAL_PAGE_MS = 10, 1, 150
WAKEUP_URL = "http://127.0.0.1:9/wakeup"  # never called: nothing consumes the bench broker
SINGLE_WAVE = [100]  # every eligible site in one wave: the rollout before waves existed


def run(ctx) -> dict:
    from django.conf import settings

    from sites.models import DeviceType

    from . import fleets, panel

    rows: list[dict] = []
    user = fleets.bench_user()
    client = panel.logged_in_client(user)
    explain = ctx.explain_file()
    ctx.note(f"ROLLOUT_BATCH_SIZE={settings.ROLLOUT_BATCH_SIZE}")
    for size in ctx.sizes:
        receiver = fleets.fleet_ensure(ctx, profile="outdated", size=size, wakeup_url=WAKEUP_URL)
        device_type = DeviceType.objects.get(code=fleets.DEVICE_TYPES[0][0])
        fleets.rollouts_clear(receiver)
        rows += device_type_pages(ctx, client, receiver, device_type, size, "no jobs", explain)
        for attempt in range(ROLLOUT_RUNS + 1):
            row, queued = _rollout(ctx, user, receiver, device_type, size, counting=attempt == 0,
                                   explain=explain)
            rows.append({**row, "attempt": attempt})
            if attempt == ROLLOUT_RUNS:  # the device type page with a queued job on every device
                rows += device_type_pages(ctx, client, receiver, device_type, size, f"{queued:,} queued jobs", explain)
            fleets.rollouts_clear(receiver)
    if explain:
        ctx.note(f"query plans: {explain}")
    return {"rows": rows}


def device_type_pages(ctx, client, receiver, device_type, size, when, explain) -> list[dict]:
    from django.core.paginator import Paginator

    from firmware_updates.selectors import device_type_sites

    from . import panel, timing

    def first_page():
        return list(device_type_sites(receiver=receiver, device_type=device_type)[:50])

    def paginated():
        page = Paginator(device_type_sites(receiver=receiver, device_type=device_type), 50).page(1)
        return page.paginator.count, list(page.object_list)

    cases = [("device_type_sites first 50", first_page), ("paginator page 1 (count + 50)", paginated)]
    values = {"receiver": receiver.code, "receiver_id": receiver.pk,
              "device_type": device_type.code, "device_type_id": device_type.pk}
    url, how = panel.find_page(client, words=("type", "software", "firmware", "update"),
                               needs_type=True, values=values, env_var="BENCH_DEVICE_TYPE_PAGE_URL")
    if url:
        cases.append(("panel page", lambda: get_ok(client, url)))
    if when in ("no jobs", "no rollout") and size == ctx.sizes[0]:
        ctx.note(f"device type page: {url} ({how})" if url else
                 f"TODO device type page render not benched: {how}; selector only")
    rows = []
    for case, fn in cases:
        figures = timing.measure(fn, runs=ctx.runs, budget=ctx.budget)
        queries, captured = timing.count_queries(fn)
        rows.append({"case": f"{case}, {when}", "size": size, "queries": queries, **figures})
        ctx.log(f"{case}, {when}: {figures} {queries} queries")
        if explain:
            timing.explain_slowest(captured, path=explain, title=f"{case}, {when}, {size:,}")
    return rows


def _rollout(ctx, user, receiver, device_type, size, *, counting: bool, explain) -> tuple[dict, int]:
    """One "update all" as production runs it: the request, then the worker's task."""
    import time

    from firmware_updates.models import Rollout
    from firmware_updates.services import rollout_run, rollout_start

    from . import timing

    def start():
        return rollout_start(receiver=receiver, device_type=device_type, actor=user, waves=SINGLE_WAVE)

    results = []
    started = time.perf_counter()
    if counting:
        start_queries, _ = timing.count_queries(lambda: results.append(start()))
    else:
        results.append(start())
    rollout, created = results[0]
    start_s = time.perf_counter() - started
    if counting:
        run_queries, captured = timing.count_queries(lambda: rollout_run(rollout_id=rollout.pk))
        if explain:
            timing.explain_slowest(captured, path=explain, title=f"rollout_run {size:,}")
    else:
        rollout_run(rollout_id=rollout.pk)
    total_s = time.perf_counter() - started
    rollout = Rollout.objects.get(pk=rollout.pk)
    ctx.log(f"rollout{' (counting queries)' if counting else ''}: {total_s:.2f} s, state {rollout.state}, "
            f"queued {rollout.queued:,}, skipped {rollout.skipped}")
    # Queued and watched: the single wave runs until its jobs end, so the rollout stays running.
    if not created or rollout.state != Rollout.State.RUNNING or rollout.queued != size:
        ctx.note(f"rollout {size:,}: created={created} state={rollout.state} queued={rollout.queued:,} "
                 f"skipped={rollout.skipped} (expected {size:,} queued)")
    if counting:
        queries = start_queries + run_queries
        return {"case": "rollout queries", "size": size, "start_queries": start_queries,
                "run_queries": run_queries, "queries": queries, "per_1000": round(queries * 1000 / size, 2),
                "seconds_with_capture": round(total_s, 2)}, rollout.queued
    return {"case": "rollout", "size": size, "start_s": round(start_s, 3), "seconds": round(total_s, 2),
            "queued": rollout.queued}, rollout.queued


def get_ok(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response


def report(results: dict) -> str:
    dbs = [db for db in ("sqlite", "postgres") if db in results]
    out = []
    sizes = sorted({r["size"] for db in dbs for r in results[db]["rows"]})
    headers = ["devices", "database", "rollout median s", "runs (s)", "start s", "queries",
               "queries / 1,000 devices"]
    lines = []
    for size in sizes:
        for db in dbs:
            rows = results[db]["rows"]
            timed = sorted(r["seconds"] for r in rows if r["case"] == "rollout" and r["size"] == size)
            counted = find(rows, case="rollout queries", size=size) or {}
            starts = [r["start_s"] for r in rows if r["case"] == "rollout" and r["size"] == size]
            median = timed[len(timed) // 2] if timed else None
            lines.append([size, db, median, " / ".join(fmt(t) for t in timed), max(starts, default=None),
                          counted.get("queries"), counted.get("per_1000")])
    out.append(table(headers, lines))
    page_cases = sorted({(r["case"], r["size"]) for db in dbs for r in results[db]["rows"]
                         if "rollout" not in r["case"]}, key=lambda cs: (cs[1], "queued" in cs[0], cs[0]))
    out += ["", timed_table(results, page_cases, label="page")]
    pg = results.get("postgres", {}).get("rows", [])
    goal_size = 100_000
    timed = sorted(r["seconds"] for r in pg if r["case"] == "rollout" and r["size"] == goal_size)
    counted = find(pg, case="rollout queries", size=goal_size) or {}
    out.append(goal_line("rollout of 100,000 devices on PostgreSQL, median",
                         timed[len(timed) // 2] if timed else None, GOAL_SECONDS, "s"))
    out.append(goal_line("queries per 1,000 devices on PostgreSQL", counted.get("per_1000"),
                         GOAL_QUERIES_PER_1000, "queries"))
    slowest_page = max((r["median_ms"] for r in pg if r["size"] == goal_size and "median_ms" in r), default=None)
    out.append(goal_line("device type page, 100,000 sites on PostgreSQL, slowest median",
                         slowest_page, GOAL_PAGE_MS, "ms"))
    return "\n".join(out)
