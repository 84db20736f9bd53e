"""nginx in front of the live server, configured from deploy/nginx/firmware.conf as production
is, with USE_X_ACCEL_REDIRECT on.

The live server runs in the test process, so the `settings` fixture reaches it (the window,
the progress interval). nginx is Debian's (`nginx-light`); CI installs it, and without it
these tests fail rather than skip (set SKIP_NGINX=1 to skip them knowingly).
"""

import http.client
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from deploy.nginx import standalone
from testing.servers import Server, accepts_connections, free_port
from tests.ddi.conftest import fleet, neighbour, signing_identity  # noqa: F401 - fixtures
from tests.fleet.conftest import world  # noqa: F401 - fixture

WINDOW = 2  # X_ACCEL_EXPIRES in these tests: short enough to outwait, long enough for a busy CI
# One line of the `firmware_ddi` log format.
LOG_LINE = re.compile(r'"(?P<method>\S+) (?P<path>\S+) [^"]*" (?P<status>\d+) \d+ range="[^"]*" '
                      r"cache=(?P<cache>\S+) upstream=(?P<upstream>\S+)")


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    status: int
    cache: str  # HIT, MISS, BYPASS, EXPIRED or "-"
    upstream: str


class Nginx(Server):
    def __init__(self, prefix: Path, port: int, django: str, media_root: Path):
        self.prefix = prefix
        self.conf = prefix / "nginx.conf"
        self.conf.write_text(standalone(
            prefix=prefix, listen=f"127.0.0.1:{port}", server_name="_", django=django,
            media_root=media_root, static_root=prefix / "static", cache_dir=prefix / "cache",
            access_log=f"{prefix}/access.log firmware_ddi"))
        super().__init__(
            "nginx", [shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(prefix), "-c", str(self.conf),
                      "-e", str(prefix / "error.log")],
            env=dict(os.environ), cwd=prefix, log=prefix / "stdout.log", port=port,
            ready=lambda: accepts_connections(port))

    def start(self) -> "Nginx":
        try:
            return super().start(timeout=10)
        except RuntimeError:
            raise AssertionError(f"nginx did not start:\n{self.errors()}") from None

    def errors(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> list[Logged]:
        """Each request nginx answered, in order, with what the go-ahead cache did for it.

        nginx logs a request just after sending its answer, so a client that has the answer
        may read the log a moment before the line is there. A marker request first: its
        line (from the one worker, which handles events in order) comes after theirs.
        """
        path = self.prefix / "access.log"
        marker = f"/static/log-marker-{uuid.uuid4().hex}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", marker)
            conn.getresponse().read()
        finally:
            conn.close()
        deadline = time.monotonic() + 10
        while True:
            lines = path.read_text().splitlines() if path.exists() else []
            if any(marker in line for line in lines) or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        found = [LOG_LINE.search(line) for line in lines if "/static/log-marker-" not in line]
        return [Logged(m["method"], m["path"], int(m["status"]), m["cache"], m["upstream"]) for m in found if m]


def nginx_binary_or_fail() -> None:
    if os.environ.get("SKIP_NGINX") == "1":
        pytest.skip("SKIP_NGINX=1")
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        pytest.fail("nginx is not installed: `apt-get install -y nginx-light` (or SKIP_NGINX=1)")


def start_front(settings, live_server, request) -> Nginx:
    nginx_binary_or_fail()
    settings.USE_X_ACCEL_REDIRECT = True
    settings.X_ACCEL_REDIRECT_PREFIX = "/protected-artifacts/"
    settings.X_ACCEL_EXPIRES = WINDOW
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]  # the Host devices use reaches Django
    # As production behind this nginx: TRUSTED_PROXY_COUNT=1 (settings' NUM_PROXIES).
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    prefix = Path(tempfile.mkdtemp(prefix="ngx", dir="/tmp"))
    live = urlsplit(live_server.url)
    front = Nginx(prefix, free_port(), f"127.0.0.1:{live.port}", Path(settings.MEDIA_ROOT))
    front.start()

    def finish():
        front.stop()
        errors = front.errors()
        shutil.rmtree(prefix, ignore_errors=True)
        # A worker that crashed after answering would pass every assertion above it.
        assert "exited on signal" not in errors, errors[-3000:]

    request.addfinalizer(finish)
    return front


@pytest.fixture
def front(fleet, settings, live_server, request) -> Nginx:  # noqa: F811
    """nginx in front of the live server; `fleet`'s clients now speak to nginx."""
    nginx = start_front(settings, live_server, request)
    fleet.base_url = nginx.url
    return nginx


@pytest.fixture
def world_front(world, settings, live_server, request) -> Nginx:  # noqa: F811
    """The same for the fleetsim world of tests/fleet."""
    nginx = start_front(settings, live_server, request)
    world.base_url = nginx.url
    return nginx
