"""`make demo`'s terminal, as a new user reads it: the command runs for real (web server,
Celery worker with beat) in a folder of its own, and what it prints is checked against the
panel it serves: the login works with the password from the file it names, its counts are the
tab's, and it says goodbye when stopped; `--fresh` starts afresh with a new password.
"""

import os
import re
import signal
import sys
from pathlib import Path

import pytest

from testing import servers
from tests.panel.html import find_all, text_of
from tests.panel.live import PanelBrowser

pytestmark = pytest.mark.celery_worker  # starts a real worker (and gunicorn): not in the fast suite

ROOT = Path(__file__).resolve().parent.parent


READY = "Stop with Ctrl-C"


class Demo(servers.Server):
    """`manage.py rundemo --no-panels` in its own process group and VAR_DIR (testing.servers),
    ready once its terminal says how to stop it."""

    def __init__(self, var_dir: Path, *args: str):
        port = servers.free_port()
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY")}
        env.update(VAR_DIR=str(var_dir), DEMO_PORT=str(port), DEMO_WAKEUP_PORT=str(servers.free_port()),
                   PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        super().__init__("rundemo", [sys.executable, "manage.py", "rundemo", "--no-panels", *args], env=env,
                         cwd=ROOT, log=var_dir / "terminal.txt", port=port, ready=lambda: READY in self.output)
        self.log_path.unlink(missing_ok=True)  # this run's terminal only (a Server appends)
        self.start(timeout=120)

    @property
    def output(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self) -> str:
        """As a terminal's Ctrl-C does when run in the background: SIGTERM to the command alone
        (it stops its web server and worker itself); then whatever is left of its group goes."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        finally:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self.output


def test_the_demo_says_where_the_password_is_its_counts_are_the_panels_and_goodbye(tmp_path):
    demo = Demo(tmp_path / "var")
    try:
        out = demo.output
        password_file = tmp_path / "var" / "demo" / "password"
        assert f"The password is kept in {password_file}" in out
        password = password_file.read_text().strip()
        assert f"Login:  admin / {password}" in out
        assert f"Panel:  http://127.0.0.1:{demo.port}/" in out
        assert "Start afresh (new fleet, keys and password): `make demo-fresh`" in out

        browser = PanelBrowser(f"http://127.0.0.1:{demo.port}").sign_in("admin", password)
        for code, receiver in (("demo", "Central receiver"), ("example", "Example receiver (seed figures)")):
            tab = browser.html(f"/receivers/{code}/software-update/")
            total = sum(int(text) for text in (row["text"] for row in find_all(tab, "count-total")))
            assert f"  {receiver}: {total} sites" in out
            for row in find_all(tab, "stats-row"):
                name = {"nord-gsm": "Nord GSM", "nord-lan": "Nord LAN", "nord-pro": "Nord Pro"}[
                    row["attrs"]["data-device-type"]]
                printed = re.search(rf"^    {name}\s+(\d+) sites, current ([\d.]+): (\d+) current \(green\), (\d+) "
                                    rf"updating \(yellow\), (\d+) not planned", out.split(f"  {receiver}:")[1],
                                    re.MULTILINE)
                assert printed, (name, out)
                cells = tab.split(f'data-device-type="{row["attrs"]["data-device-type"]}"')[1]
                cells = cells.split('data-testid="stats-row"')[0]
                assert printed.groups() == tuple(text_of(cells, key) for key in (
                    "count-total", "current-version", "count-green", "count-yellow", "count-red")), name
    finally:
        out = demo.stop()
    assert "Stopped. Goodbye!" in out
    assert "`make demo` goes on where it stopped" in out

    again = Demo(tmp_path / "var", "--fresh")
    try:
        out = again.output
        assert "Starting afresh" in out
        assert (tmp_path / "var" / "demo" / "password").read_text().strip() != password
    finally:
        again.stop()
