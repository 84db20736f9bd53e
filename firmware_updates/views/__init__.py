"""The engineering panel's firmware pages: device type update page, its actions, rollouts, releases."""

from .device_types import (
    device_type_expected_offline,
    device_type_update,
    job_approve,
    job_cancel,
    site_queue,
)
from .exports import device_type_sites_csv
from .releases import (
    release_archive,
    release_delta_upload,
    release_list,
    release_mark_current,
    release_notes,
    release_restore,
    release_upload,
)
from .rollouts import rollout_control, rollout_history, rollout_start

__all__ = ["device_type_expected_offline", "device_type_sites_csv", "device_type_update", "job_approve", "job_cancel",
           "release_archive", "release_delta_upload", "release_list", "release_mark_current", "release_notes",
           "release_restore", "release_upload",
           "rollout_control", "rollout_history", "rollout_start", "site_queue"]
