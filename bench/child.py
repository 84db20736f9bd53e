"""One (bench, database) run in its own process, so each gets its own Django settings.

The parent (`bench/__main__.py`) sets DATABASE_URL, SECRET_KEY and VAR_DIR in our environment
and calls `python -m bench.child NAME DB OUT.json --sizes ...`; we migrate that database,
run the bench and write its result to OUT.json.
"""

import argparse
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Context:
    """What a bench's `run()` gets: where it runs and how much it may do."""

    bench: str
    db: str  # "sqlite" or "postgres"
    sizes: list[int]
    runs: int  # timed runs per case (after warm-up)
    budget: float  # seconds of timed runs per case at most; fewer runs when slow
    explain: bool  # write the plan of the slowest query of each case
    out_dir: Path  # var/bench/
    notes: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        print(f"[{self.bench}/{self.db}] {message}", flush=True)

    def explain_file(self) -> Path | None:
        """`var/bench/<bench>-<db>-explain.txt`, emptied, if --explain was given (for
        `timing.explain_slowest`); None otherwise."""
        if not self.explain:
            return None
        path = self.out_dir / f"{self.bench}-{self.db}-explain.txt"
        path.unlink(missing_ok=True)
        return path

    def note(self, message: str) -> None:
        """A line the parent prints under the bench's table (and keeps in the JSON)."""
        self.notes.append(message)
        self.log(message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    parser.add_argument("bench")
    parser.add_argument("db", choices=["sqlite", "postgres"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--sizes", default="")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securitycenter.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from core.startup import settle

    settle()  # as the server's process does (securitycenter/wsgi.py): pages timed here run as there

    from .registry import bench_module

    ctx = Context(
        bench=args.bench, db=args.db, sizes=[int(s) for s in args.sizes.split(",") if s],
        runs=args.runs, budget=args.budget, explain=args.explain,
        out_dir=Path(os.environ["BENCH_OUT_DIR"]),
    )
    started = time.monotonic()
    # Other work on the machine skews the figures: the load is kept with them.
    result: dict = {"rows": [], "notes": ctx.notes, "load_before": _load()}
    try:
        call_command("migrate", verbosity=0, interactive=False)
        result.update(bench_module(args.bench).run(ctx))
        result["notes"] = ctx.notes + [n for n in result.get("notes", []) if n not in ctx.notes]
        status = 0
    except Exception:  # the parent reports it and goes on with the next bench
        result["error"] = traceback.format_exc()
        print(result["error"], file=sys.stderr, flush=True)
        status = 1
    result["seconds"] = round(time.monotonic() - started, 1)
    result["load_after"] = _load()
    result["server"] = _server_settings()
    args.out.write_text(json.dumps(result, indent=2, default=str))
    return status


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _server_settings() -> dict:
    """The PostgreSQL settings that move these figures, as the bench found them."""
    from django.db import connection

    if connection.vendor != "postgresql":
        import sqlite3

        return {"sqlite": sqlite3.sqlite_version}
    names = ("server_version", "shared_buffers", "work_mem", "random_page_cost", "jit",
             "max_parallel_workers_per_gather", "synchronous_commit")
    found = {}
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f"SHOW {name}")
            found[name] = cursor.fetchone()[0]
    return found


if __name__ == "__main__":
    sys.exit(main())
