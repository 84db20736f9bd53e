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
        "quantiles_ms": [q / 1000 for q in raw.get("quantiles_us", [])],
    }


def measure(ctx, servers: list, url: str, targets: Path, *, case: str, size: int, seconds: float,
            warmup: float, connections: int, mode: str = "random", before=None,
            database: str | None = None) -> dict:
    """Start `servers` (the first one last: it fronts the others), warm up, run wrk for
    `seconds`; figures plus the CPU of every server's processes per request (and, on
    PostgreSQL, of the backends serving `database`). One case in one slice."""
    one = {"case": case, "servers": servers, "url": url, "targets": targets, "before": before}
    return measure_alternating(ctx, [one], size=size, seconds=seconds, warmup=warmup,
                               connections=connections, rounds=1, mode=mode, database=database)[0]


def measure_alternating(ctx, cases: list[dict], *, size: int, seconds: float, warmup: float,
                        connections: int, rounds: int = 5, mode: str = "random",
                        database: str | None = None) -> list[dict]:
    """Cases measured in turns: `rounds` slices of `seconds / rounds` each, case after case,
    with every case's servers running throughout (idle while another case's slice runs).

    For a ratio of two cases (ours against a floor or a ceiling): on a shared machine the
    background load drifts over a minute, and two runs one after the other see different
    machines; slices taken in turns see the same one. Each case: `case` (name), `servers`
    (the front first), `url`, `targets`, and `before` (called once, after the warm-up).
    Rows as `measure`'s, summed over the slices; percentiles of the slices' latencies merged
    (`merged_percentile`), max the highest, and `slices` keeps each slice's requests per second and p99.
    """
    from contextlib import ExitStack

    from testing.servers import running

    from .report import fmt
    from .servers import cpu_by_pid, cpu_since, postgres_backend_pids

    def db_cpu():
        return cpu_by_pid(postgres_backend_pids(database)) if database else {}

    slices: dict[str, list[tuple[dict, dict, float]]] = {c["case"]: [] for c in cases}
    with ExitStack() as stack:
        started = []
        for case in cases:
            for server in reversed(case["servers"]):
                if not any(server is s for s in started):
                    stack.enter_context(running(server))
                    started.append(server)
        for case in cases:
            if warmup:
                run_wrk(case["url"], case["targets"], seconds=warmup, connections=connections, mode=mode)
        for case in cases:
            if case.get("before"):
                case["before"]()
        for _ in range(rounds):
            for case in cases:
                servers = case["servers"]
                cpu = {s.name: s.cpu_seconds() for s in servers}
                db = db_cpu()
                # wrk takes whole seconds.
                figures = run_wrk(case["url"], case["targets"], seconds=max(1, round(seconds / rounds)),
                                  connections=connections, mode=mode)
                cpu = {s.name: s.cpu_seconds() - cpu[s.name] for s in servers}
                slices[case["case"]].append((figures, cpu, cpu_since(db, db_cpu())))
    rows = []
    for case in cases:
        taken = slices[case["case"]]
        requests = sum(f["requests"] for f, _, _ in taken)
        wall = sum(f["seconds"] for f, _, _ in taken)
        per = 1000 / max(1, requests)
        cpu = {name: sum(c[name] for _, c, _ in taken) for name in taken[0][1]}
        row = {
            "case": case["case"], "size": size, "requests": requests, "seconds": round(wall, 2),
            "per_s": round(requests / wall, 1) if wall else 0.0,
            "p50_ms": merged_percentile(taken, 50),
            "p90_ms": merged_percentile(taken, 90),
            "p99_ms": merged_percentile(taken, 99),
            "max_ms": max(f["max_ms"] for f, _, _ in taken),
            "bad_status": sum(f["bad_status"] for f, _, _ in taken),
            "socket_errors": sum(f["socket_errors"] for f, _, _ in taken),
            "bytes_per_request": round(sum(f["bytes_per_request"] * f["requests"] for f, _, _ in taken)
                                       / max(1, requests)),
            "connections": connections,
            "slices": [{"per_s": f["per_s"], "p99_ms": f["p99_ms"]} for f, _, _ in taken],
            "server_cpu_ms_per_request": round(sum(cpu.values()) * per, 3),
            "cpu_ms_per_request_by_server": {name: round(v * per, 3) for name, v in cpu.items()},
            "db_cpu_ms_per_request": round(sum(d for _, _, d in taken) * per, 3) if database else None,
        }
        turns = ", ".join(f"{fmt(x['per_s'])}/s p99 {x['p99_ms']}" for x in row["slices"])
        ctx.log(f"{row['case']}{f' (in turns, {rounds} slices: {turns})' if rounds > 1 else ''}: "
                f"{fmt(row['per_s'])}/s, p99 {row['p99_ms']} ms, {row['bad_status']} bad answers, "
                f"{row['socket_errors']} socket errors, {row['bytes_per_request']:,} bytes/request, CPU ms/request "
                + ", ".join(f"{n} {v}" for n, v in row["cpu_ms_per_request_by_server"].items())
                + (f", PostgreSQL {row['db_cpu_ms_per_request']}" if database else ""))
        rows.append(row)
    return rows


def merged_percentile(taken: list, p: float) -> float:
    """The p-th percentile of several wrk runs' latencies together: each run's 999 quantiles
    (0.1 % steps) stand for a thousandth of its requests each."""
    points = sorted((q, f["requests"] / len(f["quantiles_ms"]))
                    for f, *_ in taken for q in f["quantiles_ms"])
    total = sum(weight for _, weight in points)
    seen = 0.0
    for value, weight in points:
        seen += weight
        if seen >= total * p / 100:
            return round(value, 2)
    return round(points[-1][0], 2) if points else 0.0
