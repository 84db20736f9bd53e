"""A server in a process of its own, for the tests and the benches: start it in a new process
group, wait until it is ready, stop it by its own pid, whatever happens. Loopback only.

Ready means what the caller says (`ready`); by default any HTTP answer at `probe`, which for
a web application means a worker has loaded it. `accepts_connections` is the check for a
server that may not answer HTTP yet, and a process that listens on no port (a Celery
worker) passes a check of its log.
"""

import os
import signal
import socket
import subprocess
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
                 port: int | None = None, probe: str = "/", ready: Callable[[], bool] | None = None):
        self.name, self.cmd, self.env, self.cwd, self.log_path = name, cmd, env, cwd, log
        self.port, self.probe = port, probe
        self.ready = ready or (lambda: answers_http(self.url + self.probe))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 60) -> "Server":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
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


@contextmanager
def running(server: Server):
    server.start()
    try:
        yield server
    finally:
        server.stop()
