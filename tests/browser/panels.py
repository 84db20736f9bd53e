"""A receiver whose panels are fleetsim panels, for flows where devices have to move.

Short sleeps so a whole update takes seconds: idle panels poll every 4 s (scaled to 2 s),
active ones every second (scaled to 0.5 s), fast links, a 1 s reboot. The receiver's wake-up
URL is the fleet's own listener, so queueing an online panel makes it poll at once, as in
the seed ("a command will be sent to the device to reconnect").
"""

from contextlib import contextmanager

from fleetsim import Fleet
from receivers.models import Receiver
from sites.models import Device
from tests.ddi.conftest import SERIAL
from tests.fleet.conftest import panel_spec

TIME_SCALE = 0.5
PANEL_FIELDS = {"link": "ethernet", "reboot_seconds": 2}

__all__ = ["PANEL_FIELDS", "SERIAL", "live_fleet", "panel_spec"]


@contextmanager
def live_fleet(world, specs):
    """Run `specs` with a wake-up listener the receiver points at; yields once every panel
    has polled (so the server counts them online and wakes them)."""
    fleet = Fleet(world.base_url, specs, time_scale=TIME_SCALE, start_spread=0, seed=7,
                  wakeup_listen="127.0.0.1:0")
    with fleet:
        host, port = fleet.wakeup_address
        Receiver.objects.filter(pk=world.receiver.pk).update(wakeup_url=f"http://{host}:{port}/")
        serials = [spec.serial for spec in specs]
        fleet.wait_until(lambda: Device.objects.filter(serial__in=serials, last_seen__isnull=False).count()
                         == len(serials), timeout=20, what="every panel polled once")
        yield fleet
