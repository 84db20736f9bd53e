"""Checks that denormalised columns say what their source of truth says."""

from firmware_updates.models import ACTIVE_STATES, UpdateJob
from sites.models import Device


def assert_active_jobs_recorded() -> None:
    """Every device's `active_job` is its active job (the partial unique index's truth), and
    no device points at a job that is finished or not its own."""
    truth = dict(UpdateJob.objects.filter(state__in=ACTIVE_STATES).values_list("device_id", "pk"))
    column = dict(Device.objects.filter(active_job__isnull=False).values_list("pk", "active_job_id"))
    missing = {d: j for d, j in truth.items() if column.get(d) != j}
    extra = {d: j for d, j in column.items() if truth.get(d) != j}
    assert not missing and not extra, (
        f"Device.active_job disagrees with the jobs: {len(missing)} device(s) lack their active job "
        f"{dict(list(missing.items())[:5])}, {len(extra)} point at a wrong one {dict(list(extra.items())[:5])}"
    )


def assert_last_outcomes_recorded() -> None:
    """Every device's `last_outcome` is the state of its newest finished job ("" if none)."""
    newest: dict[int, str] = {}
    for device_id, state in (UpdateJob.objects.exclude(state__in=ACTIVE_STATES)
                             .order_by("device_id", "created_at", "pk").values_list("device_id", "state")):
        newest[device_id] = state
    column = dict(Device.objects.values_list("pk", "last_outcome"))
    wrong = {d: (c, newest.get(d, "")) for d, c in column.items() if c != newest.get(d, "")}
    assert not wrong, f"Device.last_outcome disagrees with the jobs (column, jobs): {dict(list(wrong.items())[:5])}"
