"""The web application under gunicorn, as in production, on the test database.

Why not pytest-django's `live_server`: it copes with swupdate (libcurl's keep-alive, a
second connection for log forwarding, polls while a download is in flight), but it runs in
the test process and keeps no record of its own. gunicorn's access log is the server's
account of every request, with the Range header it was given, which the resume test
checks. (Not the bytes it wrote: with sendfile gunicorn does not count them, and without,
the count includes what sat in socket buffers when a link dropped; the test's Link counts
what reached the panel.)
"""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Tab-separated: method, path, status, the request's Range header.
ACCESS_FORMAT = "%(m)s\t%(U)s\t%(s)s\t%({range}i)s"


@dataclass(frozen=True)
class Served:
    method: str
    path: str
    status: int
    range: str | None

    @property
    def is_artifact(self) -> bool:
        return "/artifacts/" in self.path and not self.path.endswith(".MD5SUM")


class Server:
    def __init__(self, env: dict, workdir: Path):
        self.env, self.workdir = env, workdir
        self.log_path = workdir / "gunicorn.log"
        self.access_path = workdir / "access.log"
        self.process = None
        self.port = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "securitycenter.wsgi", "--bind", "127.0.0.1:0",
             "--worker-class", "gthread", "--workers", "2", "--threads", "4", "--timeout", "60",
             "--access-logfile", str(self.access_path), "--access-logformat", ACCESS_FORMAT],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.port is None:
                # Port 0: the kernel picks a free port; gunicorn says which.
                found = re.search(
                    rb"Listening at: http://127\.0\.0\.1:(\d+)", self.log_path.read_bytes()
                )
                self.port = int(found[1]) if found else None
            if self.port is not None and self._answers():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"gunicorn did not start:\n{self.log()}")

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/api/v1/", timeout=5)  # noqa: S310 - loopback
        except urllib.error.HTTPError:
            return True  # 401 or 403: a worker has loaded the application
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self._log:
            self._log.close()

    def served(self) -> list[Served]:
        """Every request gunicorn finished, in order (also those whose client went away)."""
        records = []
        text = self.access_path.read_text() if self.access_path.exists() else ""
        for line in text.splitlines():
            method, path, status, range_ = line.split("\t")
            records.append(Served(method, path, int(status), None if range_ == "-" else range_))
        return records

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]
