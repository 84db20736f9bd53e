"""Every write on releases, update jobs and rollouts. Panel, API, admin, DDI and tasks call these."""

from .device_reports import (
    ActionGone,
    device_report_attributes,
    feedback_validate,
    job_apply_cancel_feedback,
    job_apply_feedback,
    job_deployment_fetched,
    job_download_progress,
    job_progress_overlay,
)
from .jobs import (
    ACTOR_DEVICE,
    ACTOR_SYSTEM,
    Actor,
    current_release,
    current_release_required,
    job_event_record,
    job_transition,
    jobs_transition_bulk,
    update_job_cancel,
    update_job_create,
)
from .reconcile import device_active_job_repair, reconcile
from .releases import release_create, release_create_from_path, release_mark_current, release_update
from .rollouts import rollout_outcomes, rollout_progress, rollout_run, rollout_start
from .wakeup import WakeupFailed, wakeup_send

__all__ = [
    "ACTOR_DEVICE",
    "ACTOR_SYSTEM",
    "ActionGone",
    "Actor",
    "WakeupFailed",
    "current_release",
    "current_release_required",
    "device_active_job_repair",
    "device_report_attributes",
    "feedback_validate",
    "job_apply_cancel_feedback",
    "job_apply_feedback",
    "job_deployment_fetched",
    "job_download_progress",
    "job_event_record",
    "job_progress_overlay",
    "job_transition",
    "jobs_transition_bulk",
    "reconcile",
    "release_create",
    "release_create_from_path",
    "release_mark_current",
    "release_update",
    "rollout_outcomes",
    "rollout_progress",
    "rollout_run",
    "rollout_start",
    "update_job_cancel",
    "update_job_create",
    "wakeup_send",
]
