"""A signed-in operator of each group, and the seed's example fleet.

The seed: 20 "Nord GSM" devices on the receiver, current version 5.40; 10 run it, 10 run an
old version, of which 4 are being updated (yellow) and 6 have no update planned (red).
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from core.permissions import ENGINEERS, MANAGERS, VIEWERS
from firmware_updates.models import JobState
from tests.factories import (
    DeviceFactory,
    DeviceTypeFactory,
    ReceiverFactory,
    ReleaseFactory,
    UpdateJobFactory,
    UserFactory,
)

S = JobState


def operator(group: str | None, **kwargs):
    user = UserFactory(**kwargs)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def signed_in(user, **client_kwargs) -> Client:
    client = Client(**client_kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def plain_http(settings):
    """The live server speaks plain http: cookies marked Secure (production's default once
    DATABASE_URL is set) would never be sent back by `live.PanelBrowser`."""
    settings.CSRF_COOKIE_SECURE = settings.SESSION_COOKIE_SECURE = False


@pytest.fixture
def viewer():
    return operator(VIEWERS, username="vera")


@pytest.fixture
def engineer():
    return operator(ENGINEERS, username="erik")


@pytest.fixture
def manager():
    return operator(MANAGERS, username="maria")


@pytest.fixture
def as_viewer(viewer):
    return signed_in(viewer)


@pytest.fixture
def as_engineer(engineer):
    return signed_in(engineer)


@pytest.fixture
def as_manager(manager):
    return signed_in(manager)


class Example:
    """Handles on the seeded fleet; sites are numbered as in the comments of `example`."""

    def __init__(self, receiver, nord, release, devices, jobs):
        self.receiver, self.nord, self.release, self.devices, self.jobs = receiver, nord, release, devices, jobs

    @property
    def page(self) -> str:
        return f"/receivers/{self.receiver.code}/software-update/{self.nord.code}/"

    def device(self, number):
        return next(d for d in self.devices if d.site.number == number)


@pytest.fixture
def example(db):
    receiver = ReceiverFactory(code="north", name="North")
    nord = DeviceTypeFactory(code="nord-gsm", name="Nord GSM")
    ReleaseFactory(device_type=nord, version="5.30", is_current=False)
    release = ReleaseFactory(device_type=nord, version="5.40", hardware_revisions=["2.1", "2.2"], size=409600)
    now = timezone.now()

    def panel(number, version="5.30", **kwargs):
        kwargs.setdefault("last_seen", now - timedelta(seconds=20))
        return DeviceFactory(site__receiver=receiver, site__number=number, device_type=nord,
                             firmware_version=version, serial=f"NG{number:06d}", **kwargs)

    devices = [panel(n, "5.40") for n in range(1201, 1211)]  # 1201-1210: green
    jobs = {}
    # 1211-1214: yellow, one per stage of the way
    for number, state, done in [(1211, S.QUEUED, 0), (1212, S.DELIVERED, 0), (1213, S.DOWNLOADING, 163840),
                                (1214, S.DOWNLOADED, 409600)]:
        device = panel(number)
        devices.append(device)
        jobs[number] = UpdateJobFactory(device=device, release=release, state=state, bytes_downloaded=done,
                                        bytes_total=409600)
    # 1215-1220: red
    devices.append(panel(1215, channels=["gsm_voice", "sms"]))  # not eligible: no IP channel
    devices.append(panel(1216, hardware_revision="1.0"))  # not eligible: board not supported
    devices.append(panel(1217))
    jobs[1217] = UpdateJobFactory(device=devices[-1], release=release, state=S.FAILED,
                                  reason="sha256 mismatch in fw.bin")
    devices.append(panel(1218))
    jobs[1218] = UpdateJobFactory(device=devices[-1], release=release, state=S.CANCELLED)
    devices.append(panel(1219, last_seen=None))  # offline: never connected
    devices.append(panel(1220))
    return Example(receiver, nord, release, devices, jobs)
