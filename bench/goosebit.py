"""gooseBit (PyPI `goosebit`, a Python hawkBit DDI server), the yardstick of `ddi_poll` and
`ddi_download`, run as its README says, in a venv of its own (never the project's .venv):

- installed into var/bench/goosebit-venv (created on first use, version pinned below);
- schema created with `aerich upgrade` (its migrations ship in the package), database
  SQLite (its default) in var/bench/goosebit/;
- served by `uvicorn goosebit:app --host 127.0.0.1` (its own launcher listens on every
  interface), one process as its launcher runs it, without uvicorn's access log (our
  gunicorn has none either); device authentication off, its default;
- devices registered the way gooseBit registers them: a first poll creates the device, its
  configData (`hw_boardname`, `hw_revision`, `sw_version`) completes the registration.

Downloads need software assigned to a device; gooseBit does that through its UI/API. Here the
rows are written straight into its database while it is stopped (it caches devices in
memory): one `software` row pointing at the bench's archive, compatible with the devices'
board, assigned to the download devices.
"""

import hashlib
import http.client
import json
import os
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from testing.servers import HOST, free_port, running

from .servers import ROOT, Server

VERSION = "0.2.12"
VENV = ROOT / "var" / "bench" / "goosebit-venv"
WORKDIR = ROOT / "var" / "bench" / "goosebit"
DB = WORKDIR / "db.sqlite3"
TENANT = "DEFAULT"  # gooseBit's default tenant
BOARD, REVISION = "bench-panel", "2.1"
UPDATE_MODE_ASSIGNED, STATE_REGISTERED = 4, 2  # goosebit.db.models enums


def ensure_installed(log) -> None:
    uvicorn = VENV / "bin" / "uvicorn"
    if uvicorn.exists() and (VENV / "bin" / "aerich").exists():
        return
    log(f"installing goosebit {VERSION} into {VENV} (its own venv)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", f"goosebit=={VERSION}", "uvicorn"],
                   check=True, timeout=900)


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE_URL"))}
    env.update(GOOSEBIT_DB_URI=f"sqlite://{DB}", GOOSEBIT_ARTIFACTS_DIR=str(WORKDIR / "artifacts"),
               PYTHONUNBUFFERED="1")
    return env


def ensure_schema(log) -> None:
    """`aerich upgrade`, as its README says; aerich reads its settings from pyproject.toml."""
    if DB.exists():
        return
    site = next((VENV / "lib").glob("python3*/site-packages"))
    WORKDIR.mkdir(parents=True, exist_ok=True)
    (WORKDIR / "pyproject.toml").write_text(
        "[tool.aerich]\n"
        'tortoise_orm = "goosebit.db.config.TORTOISE_CONF"\n'
        f'location = "{site / "goosebit" / "db" / "migrations"}"\n'
        'src_folder = "./."\n'
    )
    log("gooseBit: aerich upgrade")
    subprocess.run([str(VENV / "bin" / "aerich"), "upgrade"], cwd=WORKDIR, env=_env(), check=True,
                   capture_output=True, timeout=300)


def server(workdir: Path) -> Server:
    port = free_port()
    cmd = [str(VENV / "bin" / "uvicorn"), "goosebit:app", "--host", HOST, "--port", str(port),
           "--no-access-log", "--log-level", "warning"]
    return Server("goosebit", cmd, port=port, env=_env(), cwd=WORKDIR, log=workdir / "goosebit.log",
                  probe="/docs")


def poll_path(serial: str) -> str:
    return f"/{TENANT}/controller/v1/{serial}"


def download_path(serial: str) -> str:
    return f"/{TENANT}/controller/v1/{serial}/download"


def registered(prefix: str) -> int:
    if not DB.exists():
        return 0
    with sqlite3.connect(DB) as db:
        return db.execute("SELECT count(*) FROM device WHERE id LIKE ? AND last_state = ?",
                          [f"{prefix}%", STATE_REGISTERED]).fetchone()[0]


def register(url: str, serials: list[str], *, sw_version: str, concurrency: int = 16) -> None:
    """First poll, then configData: what a new device does with gooseBit.

    The standard library's `http.client`, one keep-alive connection per thread (the project
    declares no HTTP client library). The first device registers alone: gooseBit creates a
    board's `hardware` row with a get-or-create that is not safe under concurrency (parallel
    first registrations of one board leave duplicate rows, and every later lookup of that
    board fails with a 500)."""
    parts = urlsplit(url)
    body = json.dumps({"mode": "merge", "data": {"hw_boardname": BOARD, "hw_revision": REVISION,
                                                 "sw_version": sw_version}}).encode()
    local, opened = threading.local(), []

    def exchange(method: str, path: str, payload: bytes | None = None) -> None:
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        for attempt in (1, 2):  # once more on a new connection if the kept one was closed
            if getattr(local, "conn", None) is None:
                local.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
                opened.append(local.conn)
            try:
                local.conn.request(method, path, body=payload, headers=headers)
                response = local.conn.getresponse()
                answer = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                local.conn.close()
                local.conn = None
                if attempt == 2:
                    raise
        if response.status >= 400:
            raise RuntimeError(f"gooseBit {method} {path}: HTTP {response.status} {answer[:200]!r}")

    def one(serial: str) -> None:
        exchange("GET", poll_path(serial))
        exchange("PUT", poll_path(serial) + "/configData", body)

    try:
        if serials:
            one(serials[0])
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, serials[1:]))  # raises the first failure
    finally:
        for conn in opened:
            conn.close()


def devices_ensure(log, workdir: Path, *, prefix: str, size: int, width: int, sw_version: str) -> list[str]:
    """`size` devices named prefix + number, registered (first poll + configData each) unless
    an earlier run did; gooseBit installed and its schema created first."""
    ensure_installed(log)
    ensure_schema(log)
    serials = [f"{prefix}{i:0{width}d}" for i in range(size)]
    if registered(prefix) < size:
        log(f"gooseBit: registering {size:,} devices running {sw_version}")
        with running(server(workdir)) as started:
            register(started.url, serials, sw_version=sw_version)
    return serials


def assign_software(serials: list[str], archive: Path, *, version: str) -> None:
    """Assign `archive` (as software `version`) to these devices; gooseBit must be stopped."""
    body = archive.read_bytes()
    uri = archive.resolve().as_uri()
    with sqlite3.connect(DB) as db:
        hardware = db.execute("SELECT id FROM hardware WHERE model = ? AND revision = ?",
                              [BOARD, REVISION]).fetchone()[0]
        row = db.execute("SELECT id FROM software WHERE uri = ?", [uri]).fetchone()
        if row is None:
            software = db.execute(
                "INSERT INTO software (uri, size, hash, version, image_format) VALUES (?, ?, ?, ?, 0)",
                [uri, len(body), hashlib.sha1(body).hexdigest(), version]).lastrowid
            db.execute("INSERT INTO software_compatibility (software_id, hardware_id) VALUES (?, ?)",
                       [software, hardware])
        else:
            software = row[0]
        db.executemany("UPDATE device SET update_mode = ?, assigned_software_id = ?, force_update = 0 "
                       "WHERE id = ?", [(UPDATE_MODE_ASSIGNED, software, s) for s in serials])
