"""The web application under gunicorn, as in production, on the test database.

Why not pytest-django's `live_server`: it copes with swupdate (libcurl's keep-alive, a
second connection for log forwarding, polls while a download is in flight), but it runs in
the test process and keeps no record of its own. gunicorn's access log is the server's
account of every request, with the Range header it was given, which the resume test
checks. (Not the bytes it wrote: with sendfile gunicorn does not count them, and without,
the count includes what sat in socket buffers when a link dropped; the test's Link counts
what reached the panel.)
"""

from dataclasses import dataclass
from pathlib import Path

from testing import servers

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


class Server(servers.Server):
    def __init__(self, env: dict, workdir: Path):
        self.access_path = workdir / "access.log"
        port = servers.free_port()
        super().__init__(
            "gunicorn",
            servers.gunicorn_command(port, "--timeout", "60", "--access-logfile", str(self.access_path),
                                     "--access-logformat", ACCESS_FORMAT),
            env=env, cwd=ROOT, log=workdir / "gunicorn.log", port=port,
            probe="/api/v1/",  # 401 or 403: a worker has loaded the application
        )  # fmt: skip

    def served(self) -> list[Served]:
        """Every request gunicorn finished, in order (also those whose client went away)."""
        records = []
        text = self.access_path.read_text() if self.access_path.exists() else ""
        for line in text.splitlines():
            method, path, status, range_ = line.split("\t")
            records.append(Served(method, path, int(status), None if range_ == "-" else range_))
        return records
