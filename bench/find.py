"""Bench `find` (issue 11 "Benchmarks"): finding sites on the device type page, and its CSV.

On a `find` fleet (one device type, the `mixed` profile's colours and reasons, every site
with a name and an address), as a logged-in operator through Django's test `Client`:

1. **The device type page** (`/receivers/<code>/software-update/<type>/`) without filters,
   then with a search, a filter and a sort together, in several combinations (a word found in
   ~8 % of the names and addresses, a serial found once, a red reason, a version and a
   hardware revision, sorted by a column other than the site number), and the list as the
   page reads it ("list: ids + 50 rows": `device_type_site_ids`, every id of a search or the
   first page's 50 otherwise, then `device_type_sites(ids=...)`; the page's count comes from
   the statistics' pass, or from the search's ids). Median, p95, fastest ms and queries.
   Goal: every combination under 100 ms on PostgreSQL at 100,000 sites.
2. **The CSV export** of every site (`sites.csv` without filters), read to its end as a
   browser downloads it: seconds and rows per second (timed runs without tracing), and the
   peak of Python's memory while streaming (`tracemalloc`, one more run: it slows Python
   down) and the process's peak RSS growth. Measured at 10,000 and 100,000 sites, so the
   peak shows whether memory grows with the list. Goal: bounded memory (the same peak
   whatever the size), a streamed answer.
"""

from .report import find as find_row
from .report import fmt, goal_line, table, timed_table

TITLE = "finding sites: the device type page with search, filter and sort; the CSV export"
DEFAULT_SIZES = (10_000, 100_000)
DATABASES = ("sqlite", "postgres")
GOAL_PAGE_MS = 100
CSV_RUNS = 3
GOAL_SIZE = 100_000
# (case, query parameters): a search, a filter and a sort each, together.
COMBINATIONS = [
    ("no filter", {}),
    ("search word + red + sort firmware desc", {"q": "fjord", "badge": "red", "sort": "-firmware"}),
    ("search two words + sort name", {"q": "mill 17", "sort": "name"}),
    ("search serial + sort seen", {"q": "{serial}", "sort": "seen"}),
    ("reason failed + search word + sort site desc", {"reason": "failed", "q": "bakery", "sort": "-site"}),
    ("version + hardware + sort status", {"version": "5.30", "hardware": "2.2", "sort": "status"}),
    ("reason offline + sort seen", {"reason": "offline", "sort": "seen"}),
]


def run(ctx) -> dict:
    from sites.models import DeviceType

    from . import fleets, panel

    rows: list[dict] = []
    client = panel.logged_in_client(fleets.bench_user())
    explain = ctx.explain_file()
    for size in ctx.sizes:
        receiver = fleets.fleet_ensure(ctx, profile="find", size=size)
        device_type = DeviceType.objects.get(code=fleets.DEVICE_TYPES[0][0])
        page = f"/receivers/{receiver.code}/software-update/{device_type.code}/"
        serial = receiver.devices.order_by("pk").values_list("serial", flat=True)[size // 2]
        for case, params in COMBINATIONS:
            params = {k: v.format(serial=serial) for k, v in params.items()}
            rows += _page_cases(ctx, client, receiver, device_type, page, case, params, size, explain)
        rows.append(_csv(ctx, client, page, size))
    if explain:
        ctx.note(f"query plans: {explain}")
    return {"rows": rows}


def _page_cases(ctx, client, receiver, device_type, page, case, params, size, explain) -> list[dict]:
    from firmware_updates.selectors import SiteFilters, device_type_site_ids, device_type_sites

    from . import timing

    filters = SiteFilters.from_query(params).valid

    def selector():
        ids = device_type_site_ids(receiver=receiver, device_type=device_type, filters=filters)
        if filters.q:  # as the page does: a search's ids are its count
            ids = list(ids)
            matched, first = len(ids), ids[:50]
        else:
            matched, first = None, list(ids[:50])
        return matched, device_type_sites(receiver=receiver, device_type=device_type, ids=first)

    def panel_page():
        response = client.get(page, params)
        assert response.status_code == 200, response.status_code
        return response

    matched = device_type_site_ids(receiver=receiver, device_type=device_type, filters=filters).count()
    rows = []
    for what, fn in ((f"page: {case}", panel_page), (f"list: ids + 50 rows: {case}", selector)):
        figures = timing.measure(fn, runs=ctx.runs, budget=ctx.budget)
        queries, captured = timing.count_queries(fn)
        rows.append({"case": what, "size": size, "queries": queries, "matched": matched, **figures})
        ctx.log(f"{what} ({matched:,} sites match): {figures} {queries} queries")
        if explain:
            timing.explain_slowest(captured, path=explain, title=f"{what}, {size:,}")
    return rows


def _csv(ctx, client, page, size) -> dict:
    import resource
    import time
    import tracemalloc

    def download() -> tuple[int, int]:
        response = client.get(page + "sites.csv")
        assert response.status_code == 200 and response.streaming, (response.status_code, response.streaming)
        lines = length = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
            length += len(chunk)
        return lines, length

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = []
    for _ in range(CSV_RUNS):
        start = time.perf_counter()
        lines, length = download()
        seconds.append(time.perf_counter() - start)
    rss_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    tracemalloc.start()
    download()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seconds.sort()
    row = {"case": "csv export", "size": size, "rows": lines - 1, "bytes": length,
           "seconds": round(seconds[len(seconds) // 2], 2), "min_seconds": round(seconds[0], 2),
           "rows_per_second": round((lines - 1) / seconds[len(seconds) // 2]),
           "peak_python_kib": round(peak / 1024), "rss_growth_kib": rss_growth_kib}
    ctx.log(f"csv export of {size:,} sites: {row}")
    if lines - 1 != size:
        ctx.note(f"csv export of {size:,} sites wrote {lines - 1:,} rows")
    return row


def report(results: dict) -> str:
    dbs = [db for db in ("sqlite", "postgres") if db in results]
    sizes = sorted({r["size"] for db in dbs for r in results[db]["rows"]})
    page_cases = [(r["case"], r["size"]) for r in results[dbs[0]]["rows"] if r["case"] != "csv export"] if dbs else []
    out = [timed_table(results, sorted(page_cases, key=lambda c: (c[1], not c[0].startswith("page"))), label="case")]
    lines = []
    for size in sizes:
        for db in dbs:
            row = find_row(results[db]["rows"], case="csv export", size=size) or {}
            lines.append([size, db, row.get("rows"), row.get("bytes"), row.get("seconds"), row.get("min_seconds"),
                          row.get("rows_per_second"), row.get("peak_python_kib"), row.get("rss_growth_kib")])
    out += ["", table(["sites", "database", "rows", "bytes", "median s", "fastest s", "rows / s",
                       "peak Python KiB (tracemalloc)", "RSS growth KiB"], lines)]
    pg = results.get("postgres", {}).get("rows", [])
    slowest = max((r["median_ms"] for r in pg if r["size"] == GOAL_SIZE and r["case"].startswith("page")),
                  default=None)
    out.append(goal_line("device type page with search, filter and sort, 100,000 sites on PostgreSQL, "
                         "slowest median", slowest, GOAL_PAGE_MS, "ms"))
    for db in dbs:
        peaks = [(r["size"], r.get("peak_python_kib")) for r in results[db]["rows"] if r["case"] == "csv export"]
        if len(peaks) > 1:
            out.append(f"csv export on {db}: peak Python memory "
                       + ", ".join(f"{fmt(size)} sites {fmt(peak)} KiB" for size, peak in sorted(peaks)))
    return "\n".join(out)
