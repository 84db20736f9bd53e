"""Debian's swupdate against the real server: gunicorn on the test database, a signed Nord
GSM 5.40 marked current, and panel NG00000001 (board 2.1, 5.30, GPRS) on site 101."""

import os
import random
import subprocess
import time
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from firmware_updates import services, swu
from firmware_updates.models import Release, UpdateJob
from firmware_updates.selectors import site_list
from receivers.services import receiver_create
from sites.models import Device, DeviceType
from sites.services import site_create
from tests.worker.conftest import database_url

from .device import Panel, Run
from .link import Link
from .server import Server

ROOT = Path(__file__).resolve().parents[2]
TENANT = "north"
SERIAL = "NG00000001"
SITE = 101
ARCHIVE_IMAGE_SIZE = 200 * 1024  # the seed: archives of 200 to 500 KB


@pytest.fixture(scope="session")
def swupdate_bin():
    """Debian's swupdate, installed into var/swupdate/ on first use. A failed install fails
    the tests (CI must not pass without the independent client) unless SKIP_SWUPDATE=1."""
    if os.environ.get("SKIP_SWUPDATE") == "1":
        pytest.skip("SKIP_SWUPDATE=1")
    result = subprocess.run(["sh", str(ROOT / "scripts/install-swupdate.sh")], capture_output=True,
                            text=True, timeout=300, check=False)  # fmt: skip
    if result.returncode != 0:
        pytest.fail(
            f"swupdate could not be installed (set SKIP_SWUPDATE=1 to skip):\n{result.stderr}"
        )
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def vendor(tmp_path_factory):
    """The firmware vendor's signing key and certificate (the panel trusts the certificate)."""
    key_pem, cert_pem = swu.make_signing_identity("Nord test vendor")
    cert_path = tmp_path_factory.mktemp("vendor") / "vendor.pem"
    cert_path.write_bytes(cert_pem)
    return key_pem, cert_pem, cert_path


@pytest.fixture
def server(transactional_db, settings, tmp_path):
    """gunicorn on a free port, sharing the test database and the test's artifact folder;
    polls every second while a job is active."""
    workdir = tmp_path / "server"
    workdir.mkdir()
    # DATABASE_URL switches settings to production mode, where ALLOWED_HOSTS must be named.
    env = {**os.environ, "DATABASE_URL": database_url(), "SECRET_KEY": settings.SECRET_KEY,
           "ALLOWED_HOSTS": "127.0.0.1",
           "MEDIA_ROOT": str(settings.MEDIA_ROOT), "VAR_DIR": str(workdir / "var"),
           "DDI_ACTIVE_POLL_SLEEP": "00:00:01", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    settings.DDI_ACTIVE_POLL_SLEEP = "00:00:01"
    server = Server(env, workdir)
    server.start()
    yield server
    server.stop()


# A healthy suricatta puts a byte on its link at least every second (it polls that often,
# also while downloading). Silence this long means swupdate 2022.12 hung itself, which it
# does now and then on a busy machine (its threads and helper processes race): the test
# reboots the panel, as a device's watchdog would, and says so with a warning.
STALL_SECONDS = 8
MAX_REBOOTS = 2


@dataclass
class World:
    receiver: object
    release: Release
    device: Device
    panel: Panel
    server: Server
    link: Link | None = None
    reboots: int = 0

    def queue(self) -> UpdateJob:
        return services.update_job_create(receiver=self.receiver, site_number=SITE, actor=None)

    def job(self, job: UpdateJob) -> UpdateJob:
        return UpdateJob.objects.get(pk=job.pk)

    def badge(self) -> str:
        return site_list(receiver=self.receiver, number=SITE).get().badge

    def history(self, job: UpdateJob) -> list[tuple]:
        return [(e.kind, e.from_state, e.to_state, e.actor_label, e.details)
                for e in job.events.order_by("pk")]  # fmt: skip

    def open_link(self, **kwargs) -> Link:
        """The panel's network link to the server (see Link for cuts and rate)."""
        self.link = Link(self.server.port, **kwargs)
        return self.link

    def power_on(self, **options) -> Run:
        """Start the panel (swupdate) behind its link."""
        link = self.link or self.open_link()
        run = self.panel.power_on(link.url, **options)
        run.first_exchange = len(link.exchanges)
        return run

    @property
    def run(self) -> Run:
        return self.panel.runs[-1]

    def exchanges(self, run: Run | None = None) -> list:
        """What crossed the link during `run` (the latest by default)."""
        return self.link.exchanges[(run or self.run).first_exchange :]

    def wait_for(self, predicate, *, timeout: float, what: str):
        """Wait for `predicate()` while the panel runs, rebooting it if swupdate hangs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.link.idle_for() > STALL_SECONDS and self.reboots < MAX_REBOOTS:
                self.reboots += 1
                state = "running" if self.run.running else f"exited {self.run.process.returncode}"
                warnings.warn(f"swupdate ({state}) sent nothing for {STALL_SECONDS} s while we waited "
                              f"for {what}; rebooted the panel. Its log:\n{self.run.tail(15)}", stacklevel=2)  # fmt: skip
                self.panel.reboot()
                self.run.first_exchange = len(self.link.exchanges)
                deadline += STALL_SECONDS
            time.sleep(0.1)
        raise AssertionError(f"Timed out after {timeout} s waiting for {what}\n{self.explain()}")

    def explain(self) -> str:
        """What the link carried, what swupdate logged last and the server's log: for
        assertion messages."""
        run = self.panel.runs[-1] if self.panel.runs else None
        return "\n".join([f"--- the link:\n{self.link.summary()}" if self.link else "",
                          f"--- swupdate:\n{run.tail()}" if run else "",
                          f"--- gunicorn:\n{self.server.log()[-3000:]}"])  # fmt: skip

    def artifact_url(self) -> str:
        return (f"{self.server.url}/{TENANT}/controller/v1/{SERIAL}/softwaremodules/"
                f"{self.release.pk}/artifacts/{self.release.filename}")  # fmt: skip


@pytest.fixture
def world(swupdate_bin, server, settings, vendor, tmp_path):
    key_pem, cert_pem, cert_path = vendor
    settings.FIRMWARE_TRUSTED_CERTS = str(cert_path)  # release intake insists on our signature
    receiver, _gateway_token = receiver_create(code=TENANT, name="North receiver",
                                               poll_sleep=timedelta(seconds=1))  # fmt: skip
    nord = DeviceType.objects.create(code="nord-gsm", name="Nord GSM")
    path = tmp_path / "nord-gsm-5.40.swu"
    with open(path, "wb") as out:
        swu.build_archive(out, device_type="nord-gsm", version="5.40", hardware_revisions=["2.1", "2.2"],
                          images=[("firmware.bin", random.Random(540).randbytes(ARCHIVE_IMAGE_SIZE))],
                          key_pem=key_pem, cert_pem=cert_pem)  # fmt: skip
    release = services.release_create_from_path(path=path)
    services.release_mark_current(release=release)
    _site, token = site_create(receiver=receiver, number=SITE, serial=SERIAL, device_type=nord,
                               hardware_revision="2.1", firmware_version="5.30", channels=["gprs"],
                               partitions=[{"number": 1, "armed": True}, {"number": 2, "armed": False}])  # fmt: skip
    workdir = tmp_path / "panel"
    workdir.mkdir()
    panel = Panel(swupdate_bin, workdir, cert_pem=cert_pem, tenant=TENANT, serial=SERIAL,
                  token=token, board="nord-gsm")  # fmt: skip
    world = World(receiver, Release.objects.get(pk=release.pk), Device.objects.get(serial=SERIAL),
                  panel, server)  # fmt: skip
    yield world
    # Before the database is emptied: a panel still polling would find no tables.
    panel.power_off_all()
    if world.link:
        world.link.close()
