"""The engineering panel's firmware pages: device type update page, its actions, releases."""

from .device_types import device_type_update, job_cancel, rollout_start, site_queue
from .releases import release_list, release_mark_current, release_upload

__all__ = ["device_type_update", "job_cancel", "release_list", "release_mark_current", "release_upload",
           "rollout_start", "site_queue"]
