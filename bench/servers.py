"""Servers the device-protocol benches start and stop: gunicorn (ours, or the bare Django view),
uvicorn (gooseBit) and nginx, as `testing.servers.Server`s (shared with the tests) whose CPU
time the benches read.

Also the CPU time of a process and its children, read from /proc (no psutil needed).
"""

import os
import shutil
from pathlib import Path

from testing import servers
from testing.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def missing_tool(name: str, package: str) -> str | None:
    if shutil.which(name):
        return None
    return f"{name} is not installed: `apt-get install -y {package}` (Debian), then run again"


class Server(servers.Server):
    """A server whose CPU time (its processes and their children) the bench reads."""

    def pids(self) -> list[int]:
        return tree_pids(self.process.pid) if self.process else []

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pids())


def gunicorn(name: str, *, app: str, env: dict, workdir: Path, workers: int, threads: int,
             port: int | None = None, probe: str = "/") -> Server:
    """gunicorn as production runs it: gthread workers, keep-alive, no access log."""
    port = port or free_port()
    cmd = servers.gunicorn_command(port, "--keep-alive", "5", "--timeout", "120", "--backlog", "2048",
                                   "--log-level", "warning", app=app, workers=workers, threads=threads)
    return Server(name, cmd, port=port, env=env, cwd=ROOT, log=workdir / f"{name}.log", probe=probe)


def nginx(name: str, *, config_text: str, workdir: Path, port: int) -> Server:
    prefix = workdir / name
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(config_text)
    cmd = ["nginx", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "logs" / "error.log")]
    return Server(name, cmd, port=port, env=dict(os.environ), cwd=prefix, log=prefix / "stdout.log")


# --- CPU from /proc ------------------------------------------------------------------------


def tree_pids(root: int) -> list[int]:
    """`root` and its descendants (gunicorn's master and workers, nginx's workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each of these processes so far (threads included)."""
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile: its time is lost, which the caller's delta tolerates
        found[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return found


def cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_by_pid(pids).values())


def cpu_since(before: dict[int, float], now: dict[int, float]) -> float:
    """CPU seconds spent between two `cpu_by_pid` readings, processes started since included."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())


def postgres_backend_pids(database: str) -> list[int]:
    """PostgreSQL's server processes serving `database` (their title names it): the database
    side of a request's CPU, which the web server's own figure leaves out."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                title = f.read()
        except OSError:
            continue
        if title.startswith(b"postgres: ") and f" {database} ".encode() in title:
            found.append(int(entry))
    return found
