"""The rollouts' job tally: their jobs counted by rollout, wave and what a rollout's counts
read of them, kept by the database itself (core/tally.py), so that a page of rollouts reads a
few dozen counts rather than a running rollout's 100,000 jobs.

Why: the API's list of rollouts shows each rollout's jobs by state and its waves' succeeded
and failed (selectors.progress_and_waves), and the panel's rollout card the same of its
settled jobs, on every refresh. Counted from the jobs, a 100,000-site rollout cost ~45 ms
on PostgreSQL from an index alone (bench `rollouts`, docs/benchmarks.md).

What is counted: jobs by rollout, wave, state, the day they were confirmed and why they timed
out: every column JOB_CONFIRMED, JOB_FAILED_OR_TIMED_OUT and JOB_SETTLED read (models.py),
which apply to the tally's groups unchanged. A wave's own outcome, read as each of its jobs
ends (the automatic halt), is still counted from the jobs, in the job's own transaction.
"""

from core.tally import Day, Tally

from .models import JobTally, UpdateJob

JOB_TALLY = Tally(
    model=JobTally, counted=UpdateJob, name="firmware_updates_job_tally",
    keys={
        "rollout_id": "{row}.rollout_id",
        "wave_id": "{row}.wave_id",
        "state": "{row}.state",
        "confirmed_at": Day("confirmed_at"),
        "timed_out": "{row}.timed_out",
    },
    columns=("rollout_id", "wave_id", "state", "confirmed_at", "timed_out"),
)


def install_on_migrate(sender, using=None, **kwargs) -> None:
    JOB_TALLY.install()
