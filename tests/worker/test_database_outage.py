"""PostgreSQL dies and comes back while panels poll and download: a cluster of the test's own
(initdb in a temporary folder, never the shared one), the application under gunicorn and a
worker with beat on it, panels speaking plain HTTP."""

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import psycopg
import pytest

from testing.servers import PrivatePostgres, Server, free_port, gunicorn_command, postgres_bindir

from .conftest import ROOT, Worker, healthz, wait_for

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.skipif(postgres_bindir() is None, reason="PostgreSQL is not installed (no initdb)"),
]

PANELS = 3
ARCHIVE = 256 * 1024
CHUNK = 16 * 1024


class Panel(threading.Thread):
    """A panel over plain HTTP: polls until it has an action, fetches it, downloads the
    archive in ranges with pauses, reports success. A 503 must carry Retry-After and the
    JSON reason; the panel waits a little and asks again. Every answer's status is kept."""

    def __init__(self, base_url: str, serial: str, token: str):
        super().__init__(daemon=True)
        self.root = f"{base_url}/north/controller/v1/{serial}"
        self.headers = {"Authorization": f"TargetToken {token}", "Accept": "application/json"}
        self.statuses: list[int] = []
        self.unavailable: list[tuple[str, dict]] = []
        self.body = b""
        self.error = None

    def call(self, url: str, *, method: str = "GET", body=None, headers=None) -> tuple[int, bytes]:
        while True:
            request = urllib.request.Request(url, method=method, headers={**self.headers, **(headers or {})},
                                             data=None if body is None else json.dumps(body).encode())
            if body is not None:
                request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, content = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, content = error.code, error.read()
                if status == 503:
                    self.unavailable.append((error.headers.get("Retry-After"), json.loads(content)))
            self.statuses.append(status)
            if status != 503:
                return status, content
            time.sleep(0.3)

    def run(self):
        try:
            while True:
                status, content = self.call(self.root)
                links = json.loads(content)["_links"]
                if "deploymentBase" in links:
                    break
                time.sleep(0.3)
            deployment_url = links["deploymentBase"]["href"]
            action = deployment_url.rsplit("/", 1)[1].split("?")[0]
            deployment = json.loads(self.call(deployment_url)[1])["deployment"]
            download = deployment["chunks"][0]["artifacts"][0]["_links"]["download-http"]["href"]
            while len(self.body) < ARCHIVE:
                start = len(self.body)
                status, part = self.call(download, headers={"Range": f"bytes={start}-{start + CHUNK - 1}"})
                assert status == 206, status
                self.body += part
                time.sleep(0.25)
            self.call(f"{self.root}/deploymentBase/{action}/feedback", method="POST",
                      body={"id": action, "status": {"execution": "closed", "result": {"finished": "success"}}})
        except Exception as exc:  # noqa: BLE001 - the test reports it
            self.error = exc


def test_a_postgresql_restart_answers_503_and_every_panel_finishes(tmp_path):
    """Not lost: any panel's job, or its download. While the database is down every device
    request answers 503 with Retry-After and the JSON reason (never a 500), /healthz says the
    database is unreachable; once it is back, with nothing restarted but the database, each
    panel resumes where it was, downloads the whole archive and its job succeeds, and beat's
    reconciliation runs again in the same worker."""
    pg = PrivatePostgres(tmp_path / "postgres.log")
    web = worker = None
    try:
        pg.server.start()
        pg.create_database()
        env = {**os.environ, "DATABASE_URL": pg.url(), "SECRET_KEY": "database-outage-test",
               "ALLOWED_HOSTS": "127.0.0.1", "VAR_DIR": str(tmp_path / "var"), "MEDIA_ROOT": str(tmp_path / "media"),
               "CELERY_BROKER_URL": "filesystem://", "CELERY_BROKER_DIR": str(tmp_path / "broker"),
               "DDI_ACTIVE_POLL_SLEEP": "00:00:01", "RECONCILE_INTERVAL": "1", "DATABASE_CONNECT_TIMEOUT": "2",
               "DATABASE_OUTAGE_RETRY_AFTER": "7", "PYTHONUNBUFFERED": "1"}
        env.pop("CACHE_URL", None)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        subprocess.run([sys.executable, "-m", "tests.worker.outage_fleet", str(tmp_path / "fleet.json"),
                        str(PANELS), str(ARCHIVE)], cwd=ROOT, env=env, check=True)
        fleet = json.loads((tmp_path / "fleet.json").read_text())
        port = free_port()
        web = Server("gunicorn", gunicorn_command(port), env=env, cwd=ROOT, log=tmp_path / "gunicorn.log", port=port, probe="/api/v1/").start()
        worker = Worker(env, tmp_path / "worker.log").start()
        wait_for(lambda: healthz(web.url)[0] == 200, timeout=30, worker=worker, what="/healthz to pass")

        panels = [Panel(web.url, serial, token) for serial, token in fleet["tokens"].items()]
        for panel in panels:
            panel.start()
        wait_for(lambda: all(len(p.body) >= 2 * CHUNK for p in panels), timeout=30, what="the downloads to start")
        pg.server.kill()  # a crash: every connection of web and worker breaks
        wait_for(lambda: all(p.unavailable for p in panels), timeout=20, what="every panel to meet the outage")
        status, body = healthz(web.url)
        assert (status, body["database"]) == (503, "unreachable")
        restarted = time.time()
        pg.server.start()

        for panel in panels:
            panel.join(60)
        assert all(not p.is_alive() and p.error is None for p in panels), [p.error for p in panels]
        for panel in panels:
            assert hashlib.sha256(panel.body).hexdigest() == fleet["sha256"]
            assert set(panel.statuses) <= {200, 206, 503}, panel.statuses
            assert all(retry == "7" and body == {"detail": "The database is unreachable; try again shortly."}
                       for retry, body in panel.unavailable)
        with psycopg.connect(pg.url()) as db:
            states = db.execute("SELECT state, count(*) FROM firmware_updates_updatejob GROUP BY state").fetchall()
            assert states == [("succeeded", PANELS)]
            wait_for(lambda: db.execute("SELECT at FROM firmware_updates_heartbeat WHERE name = 'reconcile'")
                     .fetchone()[0].timestamp() > restarted + 1, timeout=30, worker=worker,
                     what="beat's reconciliation to run again after the restart")
        assert healthz(web.url)[0] == 200
        assert web.process.poll() is None and worker.process.poll() is None
    finally:
        for server in (web, worker):
            if server is not None:
                server.stop()
        pg.remove()

