"""A server in a process of its own, for the tests and the benches: start it in a new process
group, wait until it is ready, stop it by its own pid, whatever happens. Loopback only.

Ready means what the caller says (`ready`); by default any HTTP answer at `probe`, which for
a web application means a worker has loaded it. `accepts_connections` is the check for a
server that may not answer HTTP yet, and a process that listens on no port (a Celery
worker) passes a check of its log.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice), for a server to bind next."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def answers_http(url: str) -> bool:
    """Any HTTP answer, an error status included."""
    try:
        urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback only
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def accepts_connections(port: int, host: str = HOST) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


class Server:
    """One process group; `url` is its base URL when it listens on `port`. Its output goes to
    `log_path` (appended: a restarted server keeps its earlier lines)."""

    def __init__(self, name: str, cmd: list[str], *, env: dict, cwd: Path, log: Path,
                 port: int | None = None, probe: str = "/", ready: Callable[[], bool] | None = None,
                 user: str | None = None):
        self.name, self.cmd, self.env, self.cwd, self.log_path = name, cmd, env, cwd, log
        self.port, self.probe, self.user = port, probe, user
        self.ready = ready or (lambda: answers_http(self.url + self.probe))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 60) -> "Server":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True, user=self.user)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start (see {self.log_path}):\n{self.log(3000)}")

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds; our own child's process group only
        (it was started in a session of its own)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: it dies mid-work, as on a power cut."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log(self, chars: int = 5000) -> str:
        """The end of its output."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]


def gunicorn_command(port: int, *extra: str, app: str = "securitycenter.wsgi", workers: int = 2,
                     threads: int = 4) -> list[str]:
    """gunicorn serving `app` on `port` of the loopback as production runs it (gthread workers);
    `extra`: more of its options (timeouts, logs)."""
    return [sys.executable, "-m", "gunicorn", app, "--bind", f"{HOST}:{port}", "--worker-class", "gthread",
            "--workers", str(workers), "--threads", str(threads), *extra]


@contextmanager
def running(server: Server):
    server.start()
    try:
        yield server
    finally:
        server.stop()


def redis_server(log: Path, port: int | None = None) -> Server:
    """A Redis of its own (Debian's redis-server) on `port`, keeping nothing on disk: one
    killed and started again comes back empty. Its `port` stays the same across restarts."""
    port = port or free_port()
    return Server("Redis", [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", HOST,
                            "--save", "", "--appendonly", "no"],
                  env=dict(os.environ), cwd=log.parent, log=log, port=port,
                  ready=lambda: accepts_connections(port))


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL's programs (Debian: /usr/lib/postgresql/<version>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """A PostgreSQL cluster of its own in a temporary folder, for a test that stops and
    restarts the database without touching anyone's shared one. Trust authentication on the
    loopback, superuser `firmware`, database `firmware`. As root it runs as the `postgres`
    user (PostgreSQL refuses root). `server` is its postmaster: `kill()` is a crash,
    `start()` again recovers it on the same port. `remove()` deletes the folder."""

    def __init__(self, log: Path):
        self.bindir = postgres_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL is not installed (no initdb).")
        self.user = "postgres" if os.geteuid() == 0 else None
        self.folder = Path(tempfile.mkdtemp(prefix="firmware-pg-"))
        if self.user:
            shutil.chown(self.folder, self.user)
        self.data, self.port = self.folder / "data", free_port()
        subprocess.run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "firmware", "--auth=trust",
                        "--no-sync", "-E", "UTF8"], check=True, user=self.user, capture_output=True)
        self.server = Server(
            "PostgreSQL",
            [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port), "-c", f"listen_addresses={HOST}",
             "-c", f"unix_socket_directories={self.folder}", "-c", "fsync=off", "-c", "full_page_writes=off"],
            env=dict(os.environ), cwd=self.folder, log=log, port=self.port, user=self.user,
            ready=lambda: accepts_connections(self.port))

    def url(self, database: str = "firmware") -> str:
        return f"postgres://firmware@{HOST}:{self.port}/{database}"

    def create_database(self, name: str = "firmware") -> None:
        subprocess.run([str(self.bindir / "createdb"), "-h", HOST, "-p", str(self.port), "-U", "firmware", name],
                       check=True, capture_output=True)

    def remove(self) -> None:
        self.server.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
