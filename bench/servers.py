"""Servers the device-protocol benches start and stop: gunicorn (ours, or the bare Django view),
uvicorn (gooseBit) and nginx. Loopback only; each runs in its own process group, stopped by
its own pid when the bench ends, whatever happens.

Also the CPU time of a process and its children, read from /proc (no psutil needed).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def missing_tool(name: str, package: str) -> str | None:
    if shutil.which(name):
        return None
    return f"{name} is not installed: `apt-get install -y {package}` (Debian), then run again"


def _ready(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback only
    except urllib.error.HTTPError:
        return True  # any HTTP answer: the application is loaded
    except OSError:
        return False
    return True


class Server:
    """One server process group; `url` is its base URL."""

    def __init__(self, name: str, cmd: list[str], *, port: int, env: dict, cwd: Path, log: Path,
                 probe: str = "/"):
        self.name, self.cmd, self.port, self.env, self.cwd, self.log = name, cmd, port, env, cwd, log
        self.probe = probe
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 60) -> "Server":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if _ready(self.url + self.probe):
                return self
            time.sleep(0.2)
        self.stop()
        tail = self.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{self.name} did not start (see {self.log}):\n{tail}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # Our own child's process group only (it was started in a session of its own).
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def pids(self) -> list[int]:
        return tree_pids(self.process.pid) if self.process else []

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pids())


@contextmanager
def running(server: Server):
    server.start()
    try:
        yield server
    finally:
        server.stop()


def gunicorn(name: str, *, app: str, env: dict, workdir: Path, workers: int, threads: int,
             port: int | None = None, probe: str = "/") -> Server:
    """gunicorn as production runs it: gthread workers, keep-alive, no access log."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "gunicorn", app, "--bind", f"{HOST}:{port}",
           "--worker-class", "gthread", "--workers", str(workers), "--threads", str(threads),
           "--keep-alive", "5", "--timeout", "120", "--backlog", "2048", "--log-level", "warning"]
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
