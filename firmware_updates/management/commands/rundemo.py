"""`make demo`: migrate, seed, then run web, a Celery worker with beat, and simulated panels.

Everything runs on this machine with no services installed: SQLite in WAL mode and the
on-disk Celery broker. Ctrl-C stops all of it. The terminal says where the login is kept,
how to start afresh, the fleet's counts as the panel shows them, and goodbye.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.urls import reverse

from firmware_updates.eligibility import RED_REASON_WORDS
from firmware_updates.selectors import receiver_firmware_stats
from receivers.models import Receiver

from .seed_demo import DEMO_DIR, demo_password, not_returning_site

STATUS_EVERY = 30  # seconds between looks at the counts


def _relative(path) -> str:
    try:
        return str(path.relative_to(settings.BASE_DIR))
    except ValueError:
        return str(path)


def fleet_line() -> str:
    """The demo receiver's badges per device type in one line, as the panel counts them."""
    receiver = Receiver.objects.filter(code="demo").first()
    if receiver is None:
        return ""
    parts = [f"{row.device_type.name} {row.current} green · {row.updating} yellow · {row.not_planned} red"
             for row in receiver_firmware_stats(receiver=receiver)]
    return f"{receiver.name}: " + " | ".join(parts)


def fleet_summary() -> list[str]:
    """The demo receivers' counts, per device type, as the "Site software update" tab shows
    them (the same selector): what the terminal prints."""
    lines = []
    for receiver in Receiver.objects.filter(code__in=["demo", "example"]).order_by("code"):
        rows = receiver_firmware_stats(receiver=receiver)
        lines.append(f"  {receiver.name}: {sum(r.total for r in rows)} sites")
        for row in rows:
            red = ", ".join(f"{n} {RED_REASON_WORDS[code]}" for code, n in row.red_reasons.items())
            lines.append(
                f"    {row.device_type.name:<9} {row.total:>4} sites, current {row.current_version or 'none'}: "
                f"{row.current} current (green), {row.updating} updating (yellow), {row.not_planned} not planned "
                f"(red{': ' + red if red else ''})")
    return lines


class Command(BaseCommand):
    help = "Run the whole demo: web server, worker with beat, and a few hundred simulated panels."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", 8000)))
        parser.add_argument("--wakeup-port", type=int, default=int(os.environ.get("DEMO_WAKEUP_PORT", 9100)))
        parser.add_argument("--no-panels", action="store_true", help="Do not start the fleet simulator.")
        parser.add_argument("--fresh", action="store_true",
                            help="Start afresh: empty the database and forget the demo's fleet, keys and password.")

    def handle(self, *args, port, wakeup_port, no_panels, fresh, **options):
        server = f"http://127.0.0.1:{port}"
        # Beat's schedules are written by migrate, from this process's settings: the demo's
        # reconciliation interval (what the worker below is told) must be theirs too.
        settings.RECONCILE_INTERVAL = int(os.environ.get("RECONCILE_INTERVAL", "30"))
        call_command("migrate", interactive=False, verbosity=0)
        if fresh:
            self.forget_everything()
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
            self.welcome(server, logs, no_panels)
            if not no_panels:
                children.append(self.spawn(
                    [sys.executable, "-m", "fleetsim", "run", "--quiet", "--server", server,
                     "--fleet", str(DEMO_DIR / "fleet.json"), "--wakeup-listen", f"127.0.0.1:{wakeup_port}"],
                    env, logs / "panels.log"))
            shown, next_check = fleet_line(), time.monotonic() + STATUS_EVERY
            while all(child.poll() is None for child in children):
                time.sleep(1)
                if time.monotonic() >= next_check:
                    # The counts of the panel's tab, each time they change (at most every STATUS_EVERY s).
                    next_check = time.monotonic() + STATUS_EVERY
                    if (line := fleet_line()) != shown:
                        self.stdout.write(f"  {time.strftime('%H:%M:%S')}  {line}")
                        shown = line
            failed = [c.args[0] for c in children if c.poll() not in (None, 0)]
            if failed:
                self.stderr.write(f"Stopped: {', '.join(failed)} exited; see the logs in {logs}.")
        except KeyboardInterrupt:
            pass
        finally:
            self.stdout.write("\n  Stopping the web server, the worker and the panels...")
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
            self.goodbye()

    def welcome(self, server: str, logs, no_panels: bool) -> None:
        password_file = _relative(DEMO_DIR / "password")
        panels = "not started (--no-panels)" if no_panels else (
            "the demo receiver's panels with GPRS or Ethernet poll in a minute or two; the others have no IP "
            "channel and never connect")
        self.stdout.write(self.style.SUCCESS(
            f"\n  Panel:  {server}/\n"
            f"  Login:  admin / {demo_password()}  (also manager, who may also approve updates; engineer; viewer: "
            f"same password)\n"
            f"          The password is kept in {password_file}; it stays the same at every start.\n"
            f"  API:    {server}/api/docs/\n"
            f"  Events: {server}/api/v1/events/?receiver=demo  (the alarm centre's feed)\n"
            f"  Logs:   {_relative(logs)}/web.log, worker.log, panels.log\n"
            f"  Panels: {panels}\n"
            f"  Try:    Receivers → Central receiver → Site software update → Update ...\n"
            f"          Nord LAN → Update using site number... {not_returning_site()}: its panel does not come "
            f"back after the install\n"
            f"          (EN/RU in the header: the panel in Russian)\n"))
        self.stdout.write("  The fleet now, as the panel counts it:\n" + "\n".join(fleet_summary()) + "\n")
        self.stdout.write(f"\n  Stop with Ctrl-C. Start afresh (new fleet, keys and password): {fresh_command()}\n"
                          "  The counts of the Central receiver follow here as they change:\n")

    def goodbye(self) -> None:
        self.stdout.write(self.style.SUCCESS(
            f"  Stopped. Goodbye!\n"
            f"  The demo is kept in {_relative(settings.VAR_DIR)}/: `make demo` goes on where it stopped, "
            f"{fresh_command()} starts afresh.\n"))

    def forget_everything(self) -> None:
        """--fresh: every table emptied (groups made again, as after migrate), the demo's keys,
        fleet file and password, the stored archives and the queued tasks removed."""
        self.stdout.write("  Starting afresh: emptying the database and forgetting the demo's files...")
        call_command("flush", interactive=False, verbosity=0)
        for path in (DEMO_DIR, settings.MEDIA_ROOT / "releases"):
            shutil.rmtree(path, ignore_errors=True)
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        # Tasks still queued on the on-disk broker name rows that are gone.
        queue = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).get("data_folder_in")
        if queue:
            for message in Path(queue).glob("*"):
                message.unlink(missing_ok=True)

    def spawn(self, argv, env, log_path) -> subprocess.Popen:
        log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the child
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_for(self, url: str, timeout: float = 120) -> None:
        """Until the web server answers (a busy machine takes a while to load its workers)."""
        deadline = time.monotonic() + timeout
        log = f"{_relative(settings.VAR_DIR / 'demo')}/web.log"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}{reverse('login')}", timeout=10):
                    return
            except urllib.error.HTTPError as exc:
                self.stderr.write(f"  The web server answers {exc.code}; see {log}.")
                raise SystemExit(1) from None
            except OSError:
                time.sleep(0.3)
        self.stderr.write(f"  The web server did not answer on {url} within {timeout:.0f} s; see {log}.")
        raise SystemExit(1)


def fresh_command() -> str:
    return "`make demo-fresh` (or `python manage.py rundemo --fresh`)"


def _interrupt(signum, frame):
    raise KeyboardInterrupt
