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
from .notifications import WebhookFailed, rollout_notify, webhook_send
from .reconcile import device_active_job_repair, reconcile
from .releases import release_create, release_create_from_path, release_mark_current
from .rollout_control import (
    rollout_advance,
    rollout_evaluate,
    rollout_pause,
    rollout_resume,
    rollout_retry_failed,
    rollout_stop,
    rollouts_job_counts,
    wave_counts,
)
from .rollouts import (
    rollout_late_joiners,
    rollout_outcomes,
    rollout_progress,
    rollout_run,
    rollout_start,
)
from .wakeup import WakeupFailed, wakeup_send

__all__ = [
    "ACTOR_DEVICE",
    "ACTOR_SYSTEM",
    "ActionGone",
    "Actor",
    "WakeupFailed",
    "WebhookFailed",
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
    "rollout_advance",
    "rollout_evaluate",
    "rollout_late_joiners",
    "rollout_notify",
    "rollout_outcomes",
    "rollout_pause",
    "rollout_progress",
    "rollout_resume",
    "rollout_retry_failed",
    "rollout_run",
    "rollout_start",
    "rollout_stop",
    "rollouts_job_counts",
    "update_job_cancel",
    "update_job_create",
    "wakeup_send",
    "wave_counts",
    "webhook_send",
]
