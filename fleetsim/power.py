"""The panel's power supply: mains failing now and then, the backup battery running low (see
`spec.PowerSupply`).

It matters to updates because a panel installs only on mains power with its battery ok
(issue 14), as it installs only while a partition is disarmed. The supply does not pause
while the panel reboots: a power failure is outside the panel, so its schedule runs on the
panel's own clock from the start and a reboot picks it up where it is.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .panel import Panel


def elapsed(panel: Panel) -> float:
    """Simulated seconds since the panel was created."""
    return (time.monotonic() - panel.created) / panel.time_scale


async def power_loop(panel: Panel) -> None:
    """Follow the supply's outages schedule (nothing to do for a static one)."""
    plan = panel.spec.power
    if plan.mode != "outages":
        return
    while True:
        supply, battery = plan.state_at(elapsed(panel))
        panel.set_power(supply=supply, battery=battery, by="schedule")
        await panel.sleep(plan.next_change(elapsed(panel)) + 0.001)
