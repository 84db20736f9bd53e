"""`make demo`: migrate, seed, then run web, a Celery worker with beat, and simulated panels.

Everything runs on this machine with no services installed: SQLite in WAL mode and the
on-disk Celery broker. Ctrl-C stops all of it.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.urls import reverse

from .seed_demo import DEMO_DIR, demo_password, not_returning_site


class Command(BaseCommand):
    help = "Run the whole demo: web server, worker with beat, and a few hundred simulated panels."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", 8000)))
        parser.add_argument("--wakeup-port", type=int, default=int(os.environ.get("DEMO_WAKEUP_PORT", 9100)))
        parser.add_argument("--no-panels", action="store_true", help="Do not start the fleet simulator.")

    def handle(self, *args, port, wakeup_port, no_panels, **options):
        server = f"http://127.0.0.1:{port}"
        # Beat's schedules are written by migrate, from this process's settings: the demo's
        # reconciliation interval (what the worker below is told) must be theirs too.
        settings.RECONCILE_INTERVAL = int(os.environ.get("RECONCILE_INTERVAL", "30"))
        call_command("migrate", interactive=False, verbosity=0)
        # The Russian catalogue as make install compiles it, should it have changed since.
        call_command("compiletranslations", stale=True, verbosity=0)
        call_command("seed_demo", server=server, wakeup_url=f"http://127.0.0.1:{wakeup_port}/")
        env = {**os.environ, "FIRMWARE_TRUSTED_CERTS": str(DEMO_DIR / "signing-cert.pem"),
               "DDI_ACTIVE_POLL_SLEEP": os.environ.get("DDI_ACTIVE_POLL_SLEEP", "00:00:05"),
               "UPDATE_WAKEUP_RETRY_AFTER": os.environ.get("UPDATE_WAKEUP_RETRY_AFTER", "60"),
               "RECONCILE_INTERVAL": os.environ.get("RECONCILE_INTERVAL", "30")}
        # Stopped by a signal (not only Ctrl-C): still stop the children.
        signal.signal(signal.SIGTERM, _interrupt)
        bin_dir = os.path.dirname(sys.executable)
        logs = settings.VAR_DIR / "demo"
        children = [
            self.spawn([os.path.join(bin_dir, "gunicorn"), "securitycenter.wsgi", "--bind", f"127.0.0.1:{port}",
                        "--workers", "2", "--threads", "8", "--access-logfile", "-"], env, logs / "web.log"),
            self.spawn([os.path.join(bin_dir, "celery"), "-A", "securitycenter", "worker", "--beat",
                        "--loglevel", "info", "--concurrency", "2"], env, logs / "worker.log"),
        ]
        try:
            self.wait_for(server)
            self.stdout.write(self.style.SUCCESS(
                f"\n  Panel:  {server}/\n  Login:  admin / {demo_password()}  (also manager, who may also approve updates; engineer; viewer)\n"
                f"  API:    {server}/api/docs/\n  Events: {server}/api/v1/events/?receiver=demo  (the alarm "
                f"centre's feed)\n  Logs:   {logs}/web.log, worker.log\n"
                f"  Try:    Receivers → Central receiver → Site software update → Update ...\n"
                f"          Nord LAN → Update using site number... {not_returning_site()}: its panel does not come "
                f"back after the install\n"
                f"          (EN/RU in the header: the panel in Russian)\n"))
            if not no_panels:
                children.append(subprocess.Popen(
                    [sys.executable, "-m", "fleetsim", "run", "--server", server, "--fleet", str(DEMO_DIR / "fleet.json"),
                     "--wakeup-listen", f"127.0.0.1:{wakeup_port}"], env=env))
            while all(child.poll() is None for child in children):
                time.sleep(1)
            failed = [c.args[0] for c in children if c.poll() not in (None, 0)]
            if failed:
                self.stderr.write(f"Stopped: {', '.join(failed)} exited; see the logs in {logs}.")
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()

    def spawn(self, argv, env, log_path) -> subprocess.Popen:
        log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the child
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_for(self, url: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}{reverse('login')}", timeout=2):
                    return
            except urllib.error.HTTPError as exc:
                raise SystemExit(f"The web server answers {exc.code}; see var/demo/web.log.") from None
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"The web server did not start on {url}; see var/demo/web.log.")


def _interrupt(signum, frame):
    raise KeyboardInterrupt
