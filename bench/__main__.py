"""`python -m bench` (`make bench BENCH_ARGS=...`): run benches, print tables, write JSON.

    python -m bench --list
    python -m bench [--only stats,update_all] [--sizes 10000,100000] [--db sqlite,postgres]

Each bench runs once per database in a child process (`bench/child.py`) with its own
DATABASE_URL, so Django settings never clash: SQLite in `var/bench/<bench>.sqlite3`,
PostgreSQL in `<BENCH_DATABASE_URL's database>_<bench>` (created when missing). Results go
to `var/bench/<bench>.json`. Not part of the test suite: figures are reported, not asserted.
"""

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from .registry import BENCHES, bench_module, bench_names

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "var" / "bench"
DEFAULT_PG = "postgres://firmware:firmware-ci@127.0.0.1:5432/firmware_bench"
PG_HELP = """PostgreSQL is not reachable at {where} ({error}).
  Start it as CI does (.ci/run), then run the bench again:
    pg_ctlcluster 15 main start
    su postgres -c "psql -c \\"CREATE ROLE firmware LOGIN CREATEDB PASSWORD 'firmware-ci'\\""
  or point BENCH_DATABASE_URL at another server (loopback only)."""


def postgres_url(bench: str) -> tuple[str | None, str]:
    """(URL of this bench's own database, '') after creating it if missing, or (None, why)."""
    base = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)
    parts = urlsplit(base)
    name = f"{unquote(parts.path.lstrip('/')) or 'firmware_bench'}_{bench}"
    try:
        import psycopg
        from psycopg import sql

        admin = urlunsplit(parts._replace(path="/postgres", scheme="postgresql"))
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(f"created PostgreSQL database {name}")
    except Exception as error:  # any failure means: no PostgreSQL column this time
        where = f"{parts.hostname}:{parts.port or 5432}"
        return None, PG_HELP.format(where=where, error=str(error).strip().splitlines()[0])
    return urlunsplit(parts._replace(path=f"/{name}")), ""


def child_env(bench: str, db: str, url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "CACHE_URL")}
    work = OUT_DIR / "work" / f"{bench}-{db}"
    env.update(
        DATABASE_URL=url, SECRET_KEY=f"bench-only-{bench}-{db}-not-a-secret", VAR_DIR=str(work),
        BENCH_OUT_DIR=str(OUT_DIR), DJANGO_SETTINGS_MODULE="securitycenter.settings",
        ALLOWED_HOSTS="testserver,localhost,127.0.0.1", DEBUG="0", LOG_LEVEL="WARNING",
        CELERY_TASK_ALWAYS_EAGER="0", PYTHONUNBUFFERED="1",
    )
    return env


def run_child(bench: str, db: str, url: str, args) -> dict:
    out = OUT_DIR / "work" / f"{bench}-{db}.result.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.child", bench, db, str(out), "--sizes", args.sizes or "",
           "--runs", str(args.runs), "--budget", str(args.budget)] + (["--explain"] if args.explain else [])
    child = subprocess.Popen(cmd, cwd=ROOT, env=child_env(bench, db, url), start_new_session=True)
    try:
        child.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        # Our own child's process group only: the bench must stop by itself, bounded in time.
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(timeout=30)
        return {"rows": [], "notes": [], "error": f"stopped after the {args.timeout:.0f} s time limit"}
    if not out.exists():
        return {"rows": [], "notes": [], "error": f"child exited {child.returncode} without a result"}
    return json.loads(out.read_text())


def machine() -> dict:
    import sqlite3

    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "git": git.stdout.strip()}


def run_bench(name: str, args) -> dict:
    module = bench_module(name)
    sizes = args.sizes or ",".join(str(s) for s in module.DEFAULT_SIZES)
    print(f"\n=== {name}: {module.TITLE}", flush=True)
    results: dict = {}
    skipped: list[str] = []
    for db in args.db:
        if db not in module.DATABASES:
            continue
        if db == "postgres":
            url, why = postgres_url(name)
            if url is None:
                print(why, flush=True)
                skipped.append(f"postgres column skipped: {why.splitlines()[0]}")
                continue
        else:
            url = f"sqlite:///{OUT_DIR / f'{name}.sqlite3'}"
        started = time.monotonic()
        results[db] = run_child(name, db, url, argparse.Namespace(**{**vars(args), "sizes": sizes}))
        print(f"[{name}/{db}] finished in {time.monotonic() - started:.0f} s", flush=True)
    print(f"\n--- {name}")
    ok = {db: r for db, r in results.items() if not r.get("error")}
    if ok:
        print(module.report(ok) if hasattr(module, "report") else json.dumps(ok, indent=1))
    for db, result in results.items():
        print(f"{db}: load average {result.get('load_before')} before, {result.get('load_after')} after "
              f"({os.cpu_count()} cores); {result.get('server')}")
        for note in result.get("notes", []):
            print(f"note ({db}): {note}")
        if result.get("error"):
            print(f"ERROR ({db}): {result['error'].strip().splitlines()[-1]}")
    for note in skipped:
        print(f"note: {note}")
    document = {"bench": name, "title": module.TITLE, "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine(), "sizes": sizes, "skipped": skipped, "results": results}
    (OUT_DIR / f"{name}.json").write_text(json.dumps(document, indent=2, default=str))
    print(f"results: {OUT_DIR / f'{name}.json'}")
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the benches and exit")
    parser.add_argument("--only", help="comma-separated bench names (default: every written bench)")
    parser.add_argument("--sizes", help="comma-separated fleet sizes (default: each bench's own)")
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite,postgres (default both)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per case after warm-up")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds of timed runs per case at most")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per bench and database")
    parser.add_argument("--explain", action="store_true", help="write query plans to var/bench/")
    args = parser.parse_args(argv)
    args.db = [db.strip() for db in args.db.split(",") if db.strip()]
    if unknown := set(args.db) - {"sqlite", "postgres"}:
        parser.error(f"unknown database(s): {', '.join(sorted(unknown))}")
    if args.list:
        for name, module in BENCHES.items():
            print(f"{name:14} {bench_module(name).TITLE if module else '(planned, not written yet)'}")
        return 0
    names = args.only.split(",") if args.only else bench_names(written_only=True)
    for name in names:
        if BENCHES.get(name, "") is None or name not in BENCHES:
            parser.error(f"bench {name!r} is not written yet" if name in BENCHES else
                         f"no bench named {name!r}; --list shows them")
    (OUT_DIR / "work").mkdir(parents=True, exist_ok=True)
    failed = [name for name in names if any(r.get("error") for r in run_bench(name, args)["results"].values())]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
