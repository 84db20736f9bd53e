"""Timing and query counting, run in the child (Django is set up)."""

import statistics
import time
from collections.abc import Callable
from pathlib import Path


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: with 20 runs p95 is the 19th fastest, a real observation."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def measure(fn: Callable[[], object], *, runs: int, budget: float, warmup: int = 2,
            min_runs: int = 3, setup: Callable[[], object] | None = None) -> dict:
    """Median and p95 in ms of `runs` calls after `warmup`; stops early past `budget` seconds.

    The timed calls run without query capture (capture forces Django's debug cursor, which
    costs time of its own); `count_queries` counts in a separate call. `setup`, if given,
    runs untimed before every call (warm-up ones too): for a write that must start afresh.
    """
    for _ in range(warmup):
        if setup:
            setup()
        fn()
    times: list[float] = []
    deadline = time.monotonic() + budget
    while len(times) < runs and (len(times) < min_runs or time.monotonic() < deadline):
        if setup:
            setup()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {
        "runs": len(times),
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "min_ms": round(min(times), 2),
    }


def count_queries(fn: Callable[[], object]) -> tuple[int, list[dict]]:
    """Run `fn` once and return (number of queries, the captured queries)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured.captured_queries), list(captured.captured_queries)


def explain_slowest(captured: list[dict], *, path: Path, title: str) -> str | None:
    """Append the plan of the slowest captured query to `path`; returns the path as text.

    PostgreSQL: EXPLAIN (ANALYZE, BUFFERS), which runs the query again. SQLite: EXPLAIN
    QUERY PLAN. The captured SQL has its parameters inlined, so it runs as it is.
    """
    from django.db import connection

    selects = [q for q in captured if q["sql"].lstrip().upper().startswith("SELECT")]
    if not selects:
        return None
    slowest = max(selects, key=lambda q: float(q["time"]))
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + slowest["sql"])
        plan = "\n".join(" | ".join(str(col) for col in row) for row in cursor.fetchall())
    with path.open("a") as out:
        out.write(f"=== {title} ({slowest['time']} s when captured)\n{slowest['sql']}\n\n{plan}\n\n")
    return str(path)
