"""The fleet's tally: its devices counted by what the statistics read of them, kept by the
database itself, so that a device type page of 100,000 sites reads a few hundred counts rather
than 100,000 devices.

Why: the statistics (firmware_updates.selectors.receiver_firmware_stats) group a receiver's
devices by the eligibility rule's verdict, firmware version and board revision. As one pass
over the devices that cost the device type page 50-120 ms at 100,000 sites on PostgreSQL
(bench `rollouts`, docs/benchmarks.md), on every refresh of every operator's page.

What is counted: devices by receiver, device type, whether at a site, firmware version (and
its sort key), board revision, IP channel, whether they have an active job, how their last
update ended, and whether they were ever seen: every column the rule reads of the device
itself (`DEVICE_TALLY.keys`). Not the
rule's verdict: the rule stays written once (firmware_updates/eligibility.py) and is applied
to the tally's groups as it is to devices, so a new current release or another board list
changes no count here. Two things the rule reads are not columns of the device: whether it is
offline (its last contact against the clock: the tally keeps the day of it, UTC, `seen_day`)
and whether its site forbids remote updates. The statistics take a group whose day ended
before the clock's threshold as offline, read directly the few devices it cannot tell (seen
on the threshold's own day but not since, or at a forbidding site) and correct the tally's
answer with them: the panels gone quiet today, not every panel quiet for a month.

Who keeps it: triggers on the devices' table, as every tally is kept (core/tally.py: appended
rows folded by beat on PostgreSQL, row-level additions on SQLite; checked against the devices
by beat and after every migrate).
"""

from core.tally import Day, Tally, day_of

from .models import Device, DeviceTally

DEVICE_TALLY = Tally(
    model=DeviceTally, counted=Device, name="sites_device_tally",
    # The tally's columns and how each is read from a device row (`{row}`: the row's alias).
    keys={
        "receiver_id": "{row}.receiver_id",
        "device_type_id": "{row}.device_type_id",
        "site": "CASE WHEN {row}.site_id IS NULL THEN NULL ELSE 1 END",
        "firmware_version": "{row}.firmware_version",
        "firmware_version_key": "{row}.firmware_version_key",
        "hardware_revision": "{row}.hardware_revision",
        "has_ip_channel": "{row}.has_ip_channel",
        "active_job": "CASE WHEN {row}.active_job_id IS NULL THEN NULL ELSE 1 END",
        "last_outcome": "{row}.last_outcome",
        # The UTC day of the last contact (NULL: never seen, offline whatever the clock says).
        # A panel polling every minute changes its group once a day.
        "last_seen": Day("last_seen"),
    },
    columns=("receiver_id", "device_type_id", "site_id", "firmware_version", "firmware_version_key",
             "hardware_revision", "has_ip_channel", "active_job_id", "last_outcome", "last_seen"),
)
TRIGGER_NAMES = DEVICE_TALLY.trigger_names
# The tally's `last_seen` of a panel last seen at a moment: that day's midnight, UTC.
seen_day = day_of
# The devices counted again against the tally (groups that differ: key -> (devices, tally));
# the tally rewritten if they differ; PostgreSQL's appended rows summed (core/tally.py).
differences, check, fold = DEVICE_TALLY.differences, DEVICE_TALLY.check, DEVICE_TALLY.fold


def install_on_migrate(sender, using=None, **kwargs) -> None:
    DEVICE_TALLY.install()
