"""Load from wrk (Debian's `wrk`): each request as one device, with its own credentials.

`bench/wrk/devices.lua` reads a targets file ("<path>\\t<Authorization>" a line) and prints
one JSON line at the end, which `run_wrk` returns as figures: requests per second, latency
percentiles in ms, errors (socket errors and non-2xx/3xx answers), bytes per request.
"""

import json
import subprocess
from pathlib import Path

LUA = Path(__file__).resolve().parent / "wrk" / "devices.lua"


def targets_write(path: Path, rows: list[tuple[str, str]]) -> Path:
    """rows: (URL path, Authorization header value)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{p}\t{auth}\n" for p, auth in rows))
    return path


def run_wrk(url: str, targets: Path, *, seconds: float, connections: int, threads: int = 2,
            mode: str = "random", timeout: float = 10) -> dict:
    """One wrk run against `url` (scheme, host and port; paths come from `targets`)."""
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
           "--timeout", f"{timeout:g}s", "-s", str(LUA), url, "--", str(targets), mode]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    seconds_run = raw["duration_us"] / 1e6
    requests = raw["requests"]
    return {
        "requests": requests,
        "seconds": round(seconds_run, 2),
        "per_s": round(requests / seconds_run, 1) if seconds_run else 0.0,
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "bad_status": raw["status"],
        "socket_errors": raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        "bytes_per_request": round(raw["bytes"] / requests) if requests else 0,
        "connections": connections,
    }


def measure(ctx, servers: list, url: str, targets: Path, *, case: str, size: int, seconds: float,
            warmup: float, connections: int, mode: str = "random", before=None,
            database: str | None = None) -> dict:
    """Start `servers` (the first one last: it fronts the others), warm up, run wrk for
    `seconds`; figures plus the CPU of every server's processes per request (and, on
    PostgreSQL, of the backends serving `database`)."""
    from contextlib import ExitStack

    from .report import fmt
    from .servers import cpu_by_pid, cpu_since, postgres_backend_pids, running

    def db_cpu():
        return cpu_by_pid(postgres_backend_pids(database)) if database else {}

    with ExitStack() as stack:
        for server in reversed(servers):
            stack.enter_context(running(server))
        if warmup:
            run_wrk(url, targets, seconds=warmup, connections=connections, mode=mode)
        if before:
            before()
        cpu = {s.name: s.cpu_seconds() for s in servers}
        db = db_cpu()
        figures = run_wrk(url, targets, seconds=seconds, connections=connections, mode=mode)
        cpu = {s.name: s.cpu_seconds() - cpu[s.name] for s in servers}
        db = cpu_since(db, db_cpu())
    per = 1000 / max(1, figures["requests"])
    row = {"case": case, "size": size, **figures,
           "server_cpu_ms_per_request": round(sum(cpu.values()) * per, 3),
           "cpu_ms_per_request_by_server": {name: round(v * per, 3) for name, v in cpu.items()},
           "db_cpu_ms_per_request": round(db * per, 3) if database else None}
    ctx.log(f"{case}: {fmt(row['per_s'])}/s, p99 {row['p99_ms']} ms, {row['bad_status']} bad answers, "
            f"{row['socket_errors']} socket errors, {row['bytes_per_request']:,} bytes/request, CPU ms/request "
            + ", ".join(f"{n} {v}" for n, v in row["cpu_ms_per_request_by_server"].items())
            + (f", PostgreSQL {row['db_cpu_ms_per_request']}" if database else ""))
    return row
