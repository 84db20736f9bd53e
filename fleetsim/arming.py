"""The people at a site: they arm and disarm partitions (see `spec.Arming`).

It matters to updates because a panel installs only while a partition is disarmed. The
schedule runs inside the panel's life cycle, so it pauses while the panel reboots and the
arm states before and after an install are the same.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .panel import Panel


async def arming_loop(panel: Panel) -> None:
    """The people at the site (see `Arming`); paused while the panel reboots."""
    plan = panel.spec.arming
    never_disarm = panel.spec.faults.never_disarm
    partitions = panel.flash.partitions
    if plan.mode == "random":
        while True:
            await panel.sleep(panel.rng.expovariate(len(partitions) / plan.mean_toggle))
            p = panel.rng.choice(partitions)
            if not (p["armed"] and never_disarm):
                panel.set_partition(p["number"], not p["armed"], by="schedule")
    elif plan.mode == "night":
        while True:
            elapsed = (time.monotonic() - panel.created) / panel.time_scale
            hour = (plan.start_hour + elapsed / plan.day_length * 24) % 24
            if plan.night_from > plan.night_to:
                night = hour >= plan.night_from or hour < plan.night_to
            else:
                night = plan.night_from <= hour < plan.night_to
            for p in partitions:
                if p["armed"] != night and (night or not never_disarm):
                    panel.set_partition(p["number"], night, by="schedule")
            await panel.sleep(plan.day_length / 288)  # every 5 simulated minutes
