"""A receiver with one Nord GSM panel and a signed 5.40 release, and a DDI client that speaks
to pytest-django's live server over real HTTP, checking every answer against the spec."""

import random
from dataclasses import dataclass
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from firmware_updates import services
from firmware_updates.models import Release, UpdateJob
from receivers.models import Receiver
from receivers.services import receiver_create
from sites.models import Device, DeviceType
from sites.services import site_create

from .client import DdiClient

try:  # the SWUpdate archive library (firmware_updates/swu)
    from firmware_updates.swu import build_archive, make_signing_identity
except ImportError:  # pragma: no cover - before it landed
    build_archive = make_signing_identity = None

TENANT = "north"
SERIAL = "NG00000001"
FIRMWARE_SIZE = 300 * 1024  # the seed: archives of 200 to 500 KB


@dataclass
class Fleet:
    receiver: object
    gateway_token: str
    device_type: DeviceType
    release: Release
    device: Device
    token: str
    base_url: str

    def client(self, serial=SERIAL, token=None, scheme="TargetToken", tenant=TENANT) -> DdiClient:
        return DdiClient(
            self.base_url, tenant, serial, self.token if token is None else token, scheme
        )

    def gateway(self, serial: str, token=None, tenant=TENANT) -> DdiClient:
        return DdiClient(self.base_url, tenant, serial, token or self.gateway_token, "GatewayToken")

    def queue(self, number=101, release=None) -> UpdateJob:
        return services.update_job_create(
            receiver=self.receiver, site_number=number, actor=None, release=release
        )

    def job(self, job: UpdateJob) -> UpdateJob:
        return UpdateJob.objects.get(pk=job.pk)


def install_window(*, open_now: bool, tz: str = "UTC") -> tuple[time, time]:
    """A daily window around the present moment (open_now) or starting two hours from now, in
    `tz`: what a test needs whatever time of day it runs."""
    now = timezone.now().astimezone(ZoneInfo(tz))
    start = now - timedelta(hours=1) if open_now else now + timedelta(hours=2)
    return start.time().replace(second=0, microsecond=0), (start + timedelta(hours=2)).time().replace(
        second=0, microsecond=0)


def set_receiver_window(receiver, window: tuple[time, time] | None) -> None:
    """What an operator changing the receiver's window (admin) writes."""
    start, end = window or (None, None)
    Receiver.objects.filter(pk=receiver.pk).update(install_window_start=start, install_window_end=end)


@pytest.fixture(scope="session")
def signing_identity(tmp_path_factory):
    if make_signing_identity is None:
        return None
    key_pem, cert_pem = make_signing_identity("Nord test vendor")
    cert_path = tmp_path_factory.mktemp("vendor") / "vendor.pem"
    cert_path.write_bytes(cert_pem)
    return key_pem, cert_pem, cert_path


def firmware_image(size=FIRMWARE_SIZE, seed=540) -> bytes:
    return random.Random(seed).randbytes(size)


def make_release(
    device_type, version, *, signing_identity, tmp_path, size=FIRMWARE_SIZE
) -> Release:
    """A signed SWUpdate archive through release intake, or (before the archive library landed)
    a plain file saved on a Release row."""
    image = firmware_image(size, seed=sum(map(ord, version)))
    if build_archive is None or signing_identity is None:  # pragma: no cover
        import hashlib

        from django.core.files.base import ContentFile

        return Release.objects.create(
            device_type=device_type,
            version=version,
            hardware_revisions=["2.1", "2.2"],
            archive=ContentFile(image, name=f"{device_type.code}-{version}.swu"),
            filename=f"{device_type.code}-{version}.swu",
            size=len(image),
            sha256=hashlib.sha256(image).hexdigest(),
            sha1=hashlib.sha1(image).hexdigest(),
            md5=hashlib.md5(image).hexdigest(),
        )
    key_pem, cert_pem, _ = signing_identity
    path = tmp_path / f"{device_type.code}-{version}.swu"
    with open(path, "wb") as out:
        build_archive(
            out,
            device_type=device_type.code,
            version=version,
            hardware_revisions=["2.1", "2.2"],
            images=[("firmware.bin", image)],
            key_pem=key_pem,
            cert_pem=cert_pem,
        )
    return services.release_create_from_path(path=path)


def build_fleet(settings, signing_identity, tmp_path, base_url: str) -> Fleet:
    if signing_identity is not None:
        settings.FIRMWARE_TRUSTED_CERTS = str(signing_identity[2])
    receiver, gateway_token = receiver_create(
        code=TENANT, name="North receiver", poll_sleep=timedelta(minutes=5)
    )
    nord = DeviceType.objects.create(code="nord-gsm", name="Nord GSM")
    release = make_release(nord, "5.40", signing_identity=signing_identity, tmp_path=tmp_path)
    services.release_mark_current(release=release)
    _site, token = site_create(
        receiver=receiver,
        number=101,
        serial=SERIAL,
        device_type=nord,
        hardware_revision="2.1",
        firmware_version="5.30",
        channels=["gprs"],
        partitions=[{"number": 1, "armed": True}, {"number": 2, "armed": False}],
    )
    device = Device.objects.get(serial=SERIAL)
    return Fleet(
        receiver,
        gateway_token,
        nord,
        services.current_release(device_type=nord),
        device,
        token,
        base_url,
    )


@pytest.fixture
def fleet(transactional_db, live_server, settings, signing_identity, tmp_path) -> Fleet:
    """Receiver `north`, panel NG00000001 (Nord GSM, board 2.1, 5.30, GPRS) on site 101 with a
    known TargetToken, and the signed release 5.40 marked current; served by the live server."""
    return build_fleet(settings, signing_identity, tmp_path, live_server.url)


@pytest.fixture
def neighbour(fleet) -> DdiClient:
    """A second panel on the same receiver, with its own TargetToken and its own job."""
    _site, token = site_create(
        receiver=fleet.receiver,
        number=102,
        serial="NG00000002",
        device_type=fleet.device_type,
        hardware_revision="2.2",
        firmware_version="5.30",
        channels=["ethernet"],
    )
    return fleet.client(serial="NG00000002", token=token)


@pytest.fixture
def other_receiver(fleet):
    """Another receiver with its own gateway token and one panel."""
    receiver, gateway_token = receiver_create(code="south", name="South receiver")
    _site, token = site_create(
        receiver=receiver,
        number=101,
        serial="SG00000001",
        device_type=fleet.device_type,
        hardware_revision="2.1",
        firmware_version="5.30",
        channels=["gprs"],
    )
    return receiver, gateway_token, token


def evolve_image(image: bytes, *, seed: int, changes: int = 40) -> bytes:
    """The next version of a firmware image: a few bytes changed here and there and a small
    block inserted, as a compiler's output moves between two releases."""
    rng = random.Random(seed)
    data = bytearray(image)
    for _ in range(changes):
        at = rng.randrange(len(data) - 4)
        data[at:at + 4] = rng.randbytes(4)
    at = rng.randrange(len(data))
    return bytes(data[:at] + rng.randbytes(512) + data[at:])


def release_from_image(device_type, version, image: bytes, *, signing_identity, tmp_path,
                       compress: str = "") -> Release:
    key_pem, cert_pem, _ = signing_identity
    path = tmp_path / f"{device_type.code}-{version}.swu"
    with open(path, "wb") as out:
        build_archive(out, device_type=device_type.code, version=version, hardware_revisions=["2.1", "2.2"],
                      images=[("firmware.bin", image)], key_pem=key_pem, cert_pem=cert_pem, compress=compress)
    return services.release_create_from_path(path=path)


def delta_archive(device_type, version, *, base_version: str, base: bytes, image: bytes, signing_identity,
                  tmp_path, base_device="/dev/fw-a"):
    """The path of a signed delta archive from `base` (version `base_version`) to `image`."""
    from firmware_updates.swu import build_delta_archive

    key_pem, cert_pem, _ = signing_identity
    path = tmp_path / f"{device_type.code}-{version}-from-{base_version}.swu"
    with open(path, "wb") as out:
        build_delta_archive(out, device_type=device_type.code, version=version, hardware_revisions=["2.1", "2.2"],
                            base_version=base_version, base_image=base, image=image, filename="firmware.bin.rdiff",
                            base_device=base_device, key_pem=key_pem, cert_pem=cert_pem)
    return path
