"""A real Celery worker with beat, in its own process, on the test database and a private broker.

On the embedded default the broker is an on-disk folder of this test run; with
CELERY_BROKER_URL=redis://… (CI's PostgreSQL pass) it is Redis, database 15 (or
TEST_WORKER_REDIS_DB).
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from securitycenter.broker import REDIS_TRANSPORT_OPTIONS
from securitycenter.celery import app
from testing.servers import Server

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker(Server):
    """Ready once it logs "ready." (a restarted one: again); `kill()` is a power cut."""

    def __init__(self, env: dict, log_path: Path):
        self.log_offset = 0
        super().__init__(
            "Celery worker",
            [sys.executable, "-m", "celery", "-A", "securitycenter", "worker", "--beat", "--loglevel", "info",
             "--concurrency", "2", "--without-gossip", "--without-mingle", "-n", f"test{os.getpid()}@%h",
             "--schedule", str(log_path.with_suffix(".beat"))],
            env=env, cwd=ROOT, log=log_path, ready=lambda: b"ready." in log_path.read_bytes()[self.log_offset:],
        )

    def start(self, timeout: float = 60) -> "Worker":
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        return super().start(timeout)


@pytest.fixture
def celery_worker(transactional_db, tmp_path, settings):
    """Start a worker with embedded beat; tasks sent by the test reach it after commit."""
    with worker_running(settings, tmp_path) as worker:
        yield worker


@contextmanager
def worker_running(settings, tmp_path, *, broker_url: str | None = None, env: dict | None = None,
                   beat_every: int = 1):
    """A worker with embedded beat on the test database, beat's tasks every `beat_every`
    seconds. Its broker: `broker_url` (the test's own, e.g. a private Redis), else CI's Redis
    (a database of its own, flushed first) or an on-disk folder of this test. This process
    sends its tasks to the same broker meanwhile."""
    from firmware_updates import schedules

    settings.RECONCILE_INTERVAL = beat_every
    settings.ACTIVE_JOB_REPAIR_INTERVAL = beat_every
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    schedules.install()
    env = {**os.environ, "DATABASE_URL": database_url(), "SECRET_KEY": settings.SECRET_KEY,
           "RECONCILE_INTERVAL": str(beat_every), "ROLLOUT_BATCH_SIZE": "10", "ROLLOUT_STALE_AFTER": "3",
           "PYTHONUNBUFFERED": "1", "VAR_DIR": str(tmp_path / "var"), **(env or {})}
    saved = (app.conf.get("broker_write_url"), dict(app.conf.broker_transport_options or {}),
             app.conf.get("broker_transport"))
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
        # What this process sends to (an environment's CELERY_BROKER_URL outranks broker_url),
        # through the transport the settings choose for it (the embedded run's is the on-disk one).
        app.conf.broker_write_url = broker_url
        if broker_url.startswith("redis"):
            app.conf.broker_transport = "securitycenter.broker:Transport"
            app.conf.broker_transport_options = dict(REDIS_TRANSPORT_OPTIONS)
    elif settings.CELERY_BROKER_URL.startswith("redis"):
        # A database of its own, flushed first; TEST_WORKER_REDIS_DB picks another where
        # several people share one Redis.
        url = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/" + os.environ.get("TEST_WORKER_REDIS_DB", "15")
        env["CELERY_BROKER_URL"] = url
        app.conf.broker_write_url = url
        import redis

        redis.Redis.from_url(url).flushdb()
    else:
        broker = tmp_path / "broker"
        for sub in ("queue", "processed", "control"):
            (broker / sub).mkdir(parents=True)
        env["CELERY_BROKER_DIR"] = str(broker)
        app.conf.broker_transport_options = {
            "data_folder_in": str(broker / "queue"), "data_folder_out": str(broker / "queue"),
            "processed_folder": str(broker / "processed"), "store_processed": False,
            "control_folder": str(broker / "control"),
        }
    reset_broker_connections()
    worker = Worker(env, tmp_path / "worker.log")
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()
        app.conf.broker_write_url, app.conf.broker_transport_options, app.conf.broker_transport = saved
        reset_broker_connections()


def reset_broker_connections() -> None:
    """Forget pooled broker connections so the next send uses the broker configured now
    (what Celery itself does after a fork; kombu keys its pools by URL and options)."""
    app._after_fork()


def wait_for(predicate, *, timeout: float, worker: Worker | None = None, interval: float = 0.2, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out waiting for {what or predicate}" + (f"\n{worker.log()}" if worker else ""))



def healthz(base_url: str) -> tuple[int, dict]:
    """GET /healthz: its status and JSON answer."""
    try:
        with urllib.request.urlopen(base_url + "/healthz", timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
