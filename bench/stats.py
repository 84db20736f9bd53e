"""Bench `stats` (issue "Foundation"): fleet statistics of a receiver, selector and panel tab.

For each size: `receiver_firmware_stats(receiver=...)`, and the receiver's "Site software
update" tab fetched as a logged-in operator, on a `mixed` fleet (see bench/fleets.py).
Median and p95 over the timed runs after warm-up, queries counted in a separate call.
Goal: 100,000 devices under 100 ms on PostgreSQL.
"""

from .report import find, fmt, goal_line, ratio, table

TITLE = "fleet statistics per device type: selector and 'Site software update' tab"
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
DATABASES = ("sqlite", "postgres")
GOAL_SIZE, GOAL_MS = 100_000, 100


def run(ctx) -> dict:
    from firmware_updates.selectors import receiver_firmware_stats

    from . import fleets, panel, timing

    rows = []
    user = fleets.bench_user()
    client = panel.logged_in_client(user)
    explain_path = ctx.out_dir / f"stats-{ctx.db}-explain.txt"
    if ctx.explain:
        explain_path.unlink(missing_ok=True)
    tab_url = None
    for size in ctx.sizes:
        receiver = fleets.fleet_ensure(ctx, profile="mixed", size=size)
        stats = receiver_firmware_stats(receiver=receiver)
        mix = {k: sum(getattr(r, k) for r in stats) for k in
               ("total", "current", "updating", "not_planned", "not_eligible", "offline")}
        ctx.log(f"{size:,}: {mix}")
        if mix["total"] != size:
            ctx.note(f"{size:,}: the selector counted {mix['total']:,} devices, expected {size:,}")

        def selector(receiver=receiver):
            return receiver_firmware_stats(receiver=receiver)

        figures = timing.measure(selector, runs=ctx.runs, budget=ctx.budget)
        queries, captured = timing.count_queries(selector)
        rows.append({"case": "selector", "size": size, "queries": queries, **figures, **mix})
        ctx.log(f"selector {size:,}: {figures} {queries} queries")
        if ctx.explain:
            timing.explain_slowest(captured, path=explain_path, title=f"receiver_firmware_stats {size:,}")

        values = {"receiver": receiver.code, "receiver_id": receiver.pk}
        if tab_url is None or size != ctx.sizes[0]:
            tab_url, how = panel.find_page(client, words=("software", "firmware", "stats", "update"),
                                           needs_type=False, values=values, env_var="BENCH_RECEIVER_TAB_URL")
            if size == ctx.sizes[0]:
                ctx.note(f"tab: {tab_url} ({how})" if tab_url else
                         f"TODO tab render not benched: {how} (the panel is being written); selector only")
        if tab_url:

            def tab(url=tab_url):
                response = client.get(url)
                assert response.status_code == 200, response.status_code
                return response

            figures = timing.measure(tab, runs=ctx.runs, budget=ctx.budget)
            queries, captured = timing.count_queries(tab)
            rows.append({"case": "tab", "size": size, "queries": queries, **figures})
            ctx.log(f"tab {size:,}: {figures} {queries} queries")
            if ctx.explain:
                timing.explain_slowest(captured, path=explain_path, title=f"tab {tab_url} {size:,}")
    if ctx.explain:
        ctx.note(f"query plans: {explain_path}")
    return {"rows": rows}


def report(results: dict) -> str:
    dbs = [db for db in ("sqlite", "postgres") if db in results]
    cases = sorted({(r["case"], r["size"]) for db in dbs for r in results[db]["rows"]},
                   key=lambda cs: (cs[0] != "selector", cs[1]))
    headers = ["case", "devices"]
    for db in dbs:
        headers += [f"{db} median ms", f"{db} p95 ms", f"{db} min ms", f"{db} queries", f"{db} growth"]
    lines = []
    for case, size in cases:
        line = [case, size]
        for db in dbs:
            row = find(results[db]["rows"], case=case, size=size) or {}
            smaller = [r for r in results[db]["rows"] if r["case"] == case and r["size"] < size]
            previous = max(smaller, key=lambda r: r["size"]) if smaller else None
            growth = ratio(row.get("median_ms"), previous and previous["median_ms"])
            label = f"x{growth} vs {fmt(previous['size'])}" if growth else None
            line += [row.get("median_ms"), row.get("p95_ms"), row.get("min_ms"), row.get("queries"), label]
        lines.append(line)
    out = [table(headers, lines)]
    mix_rows = [r for db in dbs[:1] for r in results[db]["rows"] if r["case"] == "selector"]
    if mix_rows:
        out.append("fleet mix (green / yellow / red, of red: not eligible, offline): " + "; ".join(
            f"{fmt(r['size'])}: {r['current']:,} / {r['updating']:,} / {r['not_planned']:,}"
            f" ({r['not_eligible']:,}, {r['offline']:,})" for r in mix_rows))
    for case in ("selector", "tab"):
        goal = find(results.get("postgres", {}).get("rows", []), case=case, size=GOAL_SIZE)
        if goal or case == "selector":
            out.append(goal_line(f"{case}, {GOAL_SIZE:,} devices on PostgreSQL, median",
                                        goal and goal["median_ms"], GOAL_MS, "ms"))
    return "\n".join(out)
