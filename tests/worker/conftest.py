"""A real Celery worker with beat, in its own process, on the test database and a private broker.

On the embedded default the broker is an on-disk folder of this test run; with
CELERY_BROKER_URL=redis://… (CI's PostgreSQL pass) it is Redis, database 15 (or
TEST_WORKER_REDIS_DB).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from securitycenter.celery import app

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    def __init__(self, env: dict, log_path: Path):
        self.env, self.log_path, self.process = env, log_path, None

    def start(self) -> None:
        # A restarted worker appends to the log: wait for its own "ready.", not the last one's.
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "securitycenter", "worker", "--beat", "--loglevel", "info",
             "--concurrency", "2", "--without-gossip", "--without-mingle", "-n", f"test{os.getpid()}@%h",
             "--schedule", str(self.log_path.with_suffix(".beat"))],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if b"ready." in self.log_path.read_bytes()[offset:]:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"Celery worker did not start:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker dies mid-task, as on a power cut."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


@pytest.fixture
def celery_worker(transactional_db, tmp_path, settings):
    """Start a worker with embedded beat; tasks sent by the test reach it after commit."""
    from firmware_updates import schedules

    settings.RECONCILE_INTERVAL = 1
    settings.ACTIVE_JOB_REPAIR_INTERVAL = 1
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    schedules.install()
    env = {**os.environ, "DATABASE_URL": database_url(), "SECRET_KEY": settings.SECRET_KEY,
           "RECONCILE_INTERVAL": "1", "ROLLOUT_BATCH_SIZE": "10", "ROLLOUT_STALE_AFTER": "3",
           "PYTHONUNBUFFERED": "1", "VAR_DIR": str(tmp_path / "var")}
    saved = (app.conf.broker_url, dict(app.conf.broker_transport_options or {}))
    if settings.CELERY_BROKER_URL.startswith("redis"):
        # A database of its own, flushed first; TEST_WORKER_REDIS_DB picks another where
        # several people share one Redis.
        url = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/" + os.environ.get("TEST_WORKER_REDIS_DB", "15")
        env["CELERY_BROKER_URL"] = url
        app.conf.broker_url = url
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
    worker.start()
    yield worker
    worker.stop()
    app.conf.broker_url, app.conf.broker_transport_options = saved
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

