"""Install windows: when a panel that holds its update may install it (issue 9, item 5).

A daily window in the receiver's time zone, e.g. 02:00-05:00, or 22:00-05:00 across
midnight. A job's window is its rollout's when the rollout set one, else its receiver's; a
job queued alone (Update using site number) has no rollout: the receiver's. Outside it the
device downloads but does not install: deploymentBase answers `"update": "skip"` with
`"maintenanceWindow": "unavailable"`, as hawkBit does for an action with a maintenance
schedule (ddi/payloads.py). No window: the answer carries no `maintenanceWindow` at all.

Pure functions over rows already loaded; `window_of` reads `job.rollout`, so a list of jobs
should select_related it (the device type page does, selectors.device_type_sites).
"""

from datetime import datetime, time
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo


class Window(NamedTuple):
    start: time
    end: time
    tz: ZoneInfo


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def window_of(job, *, receiver=None) -> Window | None:
    """The job's install window, or None: it may install as soon as it is ready.

    `receiver`: the job's device's receiver when the caller has it loaded (else read from
    `job.device.receiver`); its time zone is the window's in both cases.
    """
    receiver = receiver if receiver is not None else job.device.receiver
    rollout = job.rollout if job.rollout_id is not None else None
    if rollout is not None and rollout.install_window_start is not None:
        start, end = rollout.install_window_start, rollout.install_window_end
    elif receiver.install_window_start is not None:
        start, end = receiver.install_window_start, receiver.install_window_end
    else:
        return None
    return Window(start, end, _zone(receiver.time_zone))


def window_open(window: Window | None, now: datetime) -> bool:
    """Whether `now` (an aware datetime) falls inside the window; no window is always open.

    The comparison is on the wall clock of the window's zone, so DST moves nothing: 02:00-05:00
    in Europe/Berlin is 01:00-04:00 UTC in winter and 00:00-03:00 UTC in summer. On the night
    clocks go forward the hour that does not exist is simply not there (02:00-05:00 lasts two
    hours), on the night they go back the repeated hour counts twice (four hours).
    """
    if window is None:
        return True
    local = now.astimezone(window.tz).time()
    start, end = window.start, window.end
    if start < end:
        return start <= local < end
    if start > end:  # across midnight: 22:00-05:00
        return local >= start or local < end
    return True  # start == end is refused on input; read as "no restriction", never "never"


def window_words(window: Window) -> str:
    """"02:00-05:00": how the panel and the API name a window."""
    return f"{window.start:%H:%M}-{window.end:%H:%M}"
