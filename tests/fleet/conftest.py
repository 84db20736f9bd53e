"""Simulated panels (fleetsim) against the live server over real HTTP."""

from datetime import timedelta

import pytest

from fleetsim import Fleet, PanelSpec
from sites.services import site_create
from tests.ddi.conftest import SERIAL, TENANT, build_fleet, signing_identity  # noqa: F401 - fixture

TIME_SCALE = 0.02  # a simulated minute lasts 1.2 s; bytes still take real time


@pytest.fixture
def world(transactional_db, live_server, settings, signing_identity, tmp_path):  # noqa: F811
    """Receiver `north` (panels poll every simulated 30 s), Nord GSM 5.40 signed and current,
    panel NG00000001 on site 101 running 5.30."""
    settings.DOWNLOAD_PROGRESS_WRITE_INTERVAL = 0.05
    settings.DDI_ACTIVE_POLL_SLEEP = "00:00:05"
    world = build_fleet(settings, signing_identity, tmp_path, live_server.url)
    world.receiver.poll_sleep = timedelta(seconds=30)
    world.receiver.save()
    world.cert_pem = signing_identity[1]
    return world


def add_panel(world, number: int, serial: str, **device) -> str:
    """Another panel on the receiver; returns its TargetToken."""
    fields = {"hardware_revision": "2.1", "firmware_version": "5.30", "channels": ["gprs"],
              "partitions": [{"number": 1, "armed": True}, {"number": 2, "armed": False}], **device}
    _site, token = site_create(receiver=world.receiver, number=number, serial=serial,
                               device_type=world.device_type, **fields)
    return token


def panel_spec(world, serial=SERIAL, token=None, **overrides) -> PanelSpec:
    values = {"serial": serial, "tenant": TENANT, "token": token or world.token, "device_type": "nord-gsm",
              "hardware_revision": "2.1", "firmware_version": "5.30", "channels": ["gprs"],
              "partitions": [{"number": 1, "armed": True}, {"number": 2, "armed": False}],
              "settings": {"entry_delay": 30, "zones": 8}, "link": "ethernet",
              "trusted_certs_pem": world.cert_pem, "reboot_seconds": 8}
    values.update(overrides)
    return PanelSpec(**values)


def run_fleet(world, specs, **kwargs) -> Fleet:
    return Fleet(world.base_url, specs, time_scale=TIME_SCALE, start_spread=0, seed=7, **kwargs)
