"""A rollout's decisions: when a wave starts, when the rollout halts by itself, and the
operator's controls (pause, resume, stop, advance now, retry failed sites).

Every decision locks the rollout row first and checks its state there, so two operators
pressing stop and resume at once, or a device report racing an operator, have one winner
and the loser a clear refusal. The automatic halt is decided when a job of the rollout
ends (`rollout_job_ended`, after the job's commit), not only by beat's reconciliation
pass, so it bites within seconds of the failure that crosses the threshold.

Counting a wave: succeeded = succeeded with the new version confirmed; failed = failed or
timed out (reconciliation's timeouts: stalled download, never came back after install,
success without the new version); cancelled jobs count neither way.
"""

import logging
from dataclasses import dataclass
from functools import partial

from django.db import transaction
from django.db.models import BigIntegerField, Count, Q, Sum
from django.utils import timezone

from core.outages import enqueue_after_commit
from core.statements import Bound, Statement

from .. import stored_words as words
from ..errors import Refusal, UpdateNotAllowed
from ..models import (
    ACTIVE_STATES,
    CANCEL_AT_ONCE,
    CANCEL_NEEDS_DEVICE,
    JOB_CONFIRMED,
    JOB_FAILED_OR_TIMED_OUT,
    JOB_SETTLED,
    JOB_TIMED_OUT,
    TERMINAL_STATES,
    JobState,
    JobTally,
    Rollout,
    RolloutWave,
    UpdateJob,
)
from . import notifications
from .jobs import ACTOR_SYSTEM, Actor, jobs_transition_bulk
from .rollouts import rollout_event_record, rollout_start

log = logging.getLogger(__name__)
S = JobState
R = Rollout.State
W = RolloutWave.State


@dataclass(frozen=True)
class WaveCounts:
    jobs: int
    succeeded: int  # with the new version confirmed
    failed: int  # failed or timed out
    cancelled: int
    open: int  # still active, or succeeded and waiting for the version

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed


def wave_counts(wave: RolloutWave) -> WaveCounts:
    """One query over the wave's jobs (index update_job_wave_idx)."""
    counts = UpdateJob.objects.filter(wave=wave).aggregate(
        jobs=Count("id"),
        succeeded=Count("id", filter=JOB_CONFIRMED),
        failed=Count("id", filter=JOB_FAILED_OR_TIMED_OUT),
        cancelled=Count("id", filter=Q(state=S.CANCELLED) & ~JOB_TIMED_OUT),
        open=Count("id", filter=(Q(state__in=ACTIVE_STATES) | Q(state=S.SUCCEEDED, confirmed_at__isnull=True))
                   & ~JOB_TIMED_OUT),
    )
    return WaveCounts(**counts)


def _locked(rollout_id: int) -> Rollout:
    return (Rollout.objects.select_for_update(of=("self",)).select_related("receiver", "device_type", "release")
            .get(pk=rollout_id))


def _wave(rollout: Rollout, number: int | None = None) -> RolloutWave | None:
    return RolloutWave.objects.filter(rollout=rollout, number=number or rollout.current_wave).first()


def _error_breached(rollout: Rollout, wave: RolloutWave, counts: WaveCounts) -> str | None:
    """The error condition's reason, or None: more than the threshold of the wave's finished
    jobs failed or timed out, once at least `error_threshold_min` have finished."""
    failed = counts.failed - wave.failures_accepted
    finished = counts.finished - wave.failures_accepted
    if finished < max(rollout.error_threshold_min, 1) or failed <= 0:
        return None
    pct, limit = rollout.error_threshold_percent, rollout.error_threshold_count
    if pct is not None and failed * 100 > pct * finished:
        return words.WAVE_FAILED_SHARE.format(wave=wave.number, failed=failed, finished=finished, percent=pct)
    if limit is not None and failed > limit:
        return words.WAVE_FAILED_COUNT.format(wave=wave.number, failed=failed, limit=limit)
    return None


def _pause(rollout: Rollout, *, reason: str, actor: Actor, kind: str = "paused") -> None:
    Rollout.objects.filter(pk=rollout.pk).update(state=R.PAUSED, paused_reason=reason)
    rollout.state, rollout.paused_reason = R.PAUSED, reason
    rollout_event_record(rollout=rollout, actor=actor, kind=kind, details={"reason": reason})
    notifications.rollout_notify(rollout=rollout, event="rollout.paused", reason=reason, paused_by=actor.label)
    log.warning("rollout %s paused: %s", rollout.pk, reason)


def _next_wave_start(rollout: Rollout, *, actor: Actor, kind: str = "wave_started") -> RolloutWave | None:
    """Start the wave after the current one (rollout locked); None if it was the last."""
    wave = _wave(rollout, rollout.current_wave + 1)
    if wave is None:
        return None
    now = timezone.now()
    state = {"state": R.RUNNING, "paused_reason": "", "current_wave": wave.number, "heartbeat_at": now}
    if rollout.started_at is None:
        state["started_at"] = now
    Rollout.objects.filter(pk=rollout.pk).update(**state)
    for name, value in state.items():
        setattr(rollout, name, value)
    RolloutWave.objects.filter(pk=wave.pk).update(state=W.RUNNING, started_at=now)
    rollout_event_record(rollout=rollout, actor=actor, kind=kind, details={"wave": wave.number, "size": wave.size})
    notifications.rollout_notify(rollout=rollout, event="wave.started", wave=wave.number, size=wave.size)
    from ..tasks import rollout_run

    enqueue_after_commit(rollout_run, rollout.pk)
    return wave


def wave_start(*, rollout_id: int, actor) -> RolloutWave | None:
    """Start the first wave of a pending rollout (the fan-out task's first step)."""
    with transaction.atomic():
        rollout = _locked(rollout_id)
        if rollout.state != R.PENDING:
            return None
        return _next_wave_start(rollout, actor=Actor.of(actor))


def _complete_if_done(rollout: Rollout) -> bool:
    """Completed: every wave queued, the last one decided, and every job of it finished."""
    if RolloutWave.objects.filter(rollout=rollout).filter(Q(queueing_done=False) | Q(state=W.PENDING)).exists():
        return False
    if UpdateJob.objects.filter(rollout=rollout, state__in=ACTIVE_STATES).exists():
        return False
    now = timezone.now()
    Rollout.objects.filter(pk=rollout.pk).update(state=R.COMPLETED, finished_at=now, paused_reason="")
    rollout.state = R.COMPLETED
    rollout_event_record(rollout=rollout, actor=ACTOR_SYSTEM, kind="completed", details={"queued": rollout.queued})
    notifications.rollout_notify(rollout=rollout, event="rollout.completed", queued=rollout.queued)
    log.info("rollout %s completed", rollout.pk)
    return True


def _wave_verdict(rollout: Rollout, wave: RolloutWave, counts: WaveCounts) -> tuple[str, str]:
    """What the running wave's conditions say now: (verdict, reason), verdict one of
    "halted", "succeeded", "ended" (every job finished below the success condition), ""."""
    if reason := _error_breached(rollout, wave, counts):
        return "halted", reason
    if not wave.queueing_done:
        return "", ""
    required, base = rollout.success_threshold_percent, counts.jobs - counts.cancelled
    if counts.succeeded * 100 >= required * base:
        return "succeeded", words.WAVE_SUCCEEDED.format(wave=wave.number, succeeded=counts.succeeded, base=base)
    if counts.open == 0:
        return "ended", words.WAVE_ENDED.format(wave=wave.number, succeeded=counts.succeeded, base=base,
                                            required=required)
    return "", ""


def _has_work(rollout_id: int) -> bool:
    """Whether a decision is due, read without any lock: most job ends change nothing, and
    every device report of a fleet must not queue on the rollout's row for that."""
    rollout = Rollout.objects.filter(pk=rollout_id, state=R.RUNNING).first()
    wave = _wave(rollout) if rollout else None
    if wave is None:
        return False
    if wave.state == W.RUNNING:
        return bool(_wave_verdict(rollout, wave, wave_counts(wave))[0])
    return wave.state == W.SUCCEEDED and not UpdateJob.objects.filter(
        rollout_id=rollout_id, state__in=ACTIVE_STATES).exists()


def rollout_evaluate(*, rollout_id: int) -> str:
    """Apply the current wave's conditions; returns what was decided ("" for nothing).

    Error condition -> pause with the reason. Once the wave is queued: success condition
    -> next wave (or a pause for approval, if asked); every job finished without reaching
    it -> pause. The last wave decided and every job finished -> completed. Decided again
    under the rollout's lock, only when a first look without it finds something to do.
    """
    if not _has_work(rollout_id):
        return ""
    with transaction.atomic():
        rollout = _locked(rollout_id)
        wave = _wave(rollout) if rollout.state == R.RUNNING else None
        if wave is None:
            return ""
        if wave.state == W.RUNNING:
            verdict, reason = _wave_verdict(rollout, wave, wave_counts(wave))
            now = timezone.now()
            if verdict in ("halted", "ended"):
                RolloutWave.objects.filter(pk=wave.pk).update(state=W.FAILED, finished_at=now)
                _pause(rollout, reason=reason, actor=ACTOR_SYSTEM, kind="halted")
                return "halted"
            if verdict == "succeeded":
                RolloutWave.objects.filter(pk=wave.pk).update(state=W.SUCCEEDED, finished_at=now)
                wave.state = W.SUCCEEDED
                if _wave(rollout, wave.number + 1) is not None:
                    if rollout.approve_each_wave:
                        _pause(rollout, actor=ACTOR_SYSTEM, kind="awaiting_approval",
                               reason=words.AWAITING_APPROVAL.format(reason=reason, next=wave.number + 1))
                        return "awaiting_approval"
                    _next_wave_start(rollout, actor=ACTOR_SYSTEM)
                    return "wave_started"
        if wave.state == W.SUCCEEDED and _complete_if_done(rollout):
            return "completed"
    return ""


def rollout_jobs_ended(*, rollout_id: int) -> None:
    """Jobs of the rollout reached a final state (or timed out): decide once (runs after the
    jobs' commit; the alarm centre heard of each job with its change, alarm_events)."""
    rollout_evaluate(rollout_id=rollout_id)


def rollouts_evaluate_after_commit(job_rollouts) -> None:
    """Once this transaction commits, decide each rollout of `job_rollouts` ((rollout id, job
    id, state or "timed_out"), ...) once."""
    for rollout_id in dict.fromkeys(rollout_id for rollout_id, _job, _state in job_rollouts if rollout_id):
        transaction.on_commit(partial(rollout_jobs_ended, rollout_id=rollout_id))


# --- The operator's controls ------------------------------------------------------------------

def rollout_pause(*, rollout: Rollout, actor) -> Rollout:
    """Nothing new is queued while paused; jobs already under way go on."""
    actor = Actor.of(actor)
    with transaction.atomic():
        rollout = _locked(rollout.pk)
        if rollout.state not in (R.PENDING, R.RUNNING):
            raise _refusal(rollout, Refusal.ROLLOUT_NOT_RUNNING)
        _pause(rollout, reason=words.PAUSED_BY.format(actor=actor.label), actor=actor)
    return rollout


def rollout_resume(*, rollout: Rollout, actor) -> Rollout:
    """Go on: a halted wave continues (the failures so far accepted), a wave that is over
    (succeeded and waiting for approval, or ended) gives way to the next."""
    actor = Actor.of(actor)
    with transaction.atomic():
        rollout = _locked(rollout.pk)
        if rollout.state != R.PAUSED:
            raise _refusal(rollout, Refusal.ROLLOUT_NOT_PAUSED)
        wave = _wave(rollout)
        rollout_event_record(rollout=rollout, actor=actor, kind="resumed", details={"wave": rollout.current_wave})
        notifications.rollout_notify(rollout=rollout, event="rollout.resumed", resumed_by=actor.label)
        counts = wave_counts(wave) if wave else None
        if wave is None or (wave.queueing_done and counts.open == 0) or wave.state == W.SUCCEEDED:
            if _next_wave_start(rollout, actor=actor) is None:
                Rollout.objects.filter(pk=rollout.pk).update(state=R.RUNNING, paused_reason="")
                rollout.state = R.RUNNING
                _complete_if_done(rollout)
        else:
            Rollout.objects.filter(pk=rollout.pk).update(state=R.RUNNING, paused_reason="",
                                                         heartbeat_at=timezone.now())
            RolloutWave.objects.filter(pk=wave.pk).update(state=W.RUNNING, finished_at=None,
                                                          failures_accepted=counts.failed)
            rollout.state = R.RUNNING
            from ..tasks import rollout_run

            enqueue_after_commit(rollout_run, rollout.pk)
    rollout.refresh_from_db()
    return rollout


def rollout_advance(*, rollout: Rollout, actor, wave: int | None = None) -> Rollout:
    """Start the next wave now, whatever the current one's condition says.

    `wave`: the wave the operator saw as the current one. When the rollout has moved past it
    meanwhile (the wave succeeded and the next started by itself, or another operator
    advanced), the request is refused (WAVE_ALREADY_STARTED) rather than starting the wave
    after that one, which nobody asked for and which the one just started would not guard.
    """
    actor = Actor.of(actor)
    with transaction.atomic():
        rollout = _locked(rollout.pk)
        if not rollout.is_open:
            raise _refusal(rollout, Refusal.ROLLOUT_ENDED)
        if wave is not None and rollout.current_wave != wave:
            raise UpdateNotAllowed(Refusal.WAVE_ALREADY_STARTED, rollout=rollout.pk, current=rollout.current_wave,
                                   wave=wave)
        if _wave(rollout, rollout.current_wave + 1) is None:
            raise _refusal(rollout, Refusal.NO_NEXT_WAVE)
        RolloutWave.objects.filter(rollout=rollout, number=rollout.current_wave, queueing_done=False).update(
            queueing_done=True)
        _next_wave_start(rollout, actor=actor, kind="advanced")
    rollout.refresh_from_db()
    return rollout


def rollout_stop(*, rollout: Rollout, actor) -> Rollout:
    """Cancel every job of the rollout still cancellable; the others finish. Ends "stopped"."""
    actor = Actor.of(actor)
    with transaction.atomic():
        rollout = _locked(rollout.pk)
        if not rollout.is_open:
            raise _refusal(rollout, Refusal.ROLLOUT_ENDED)
        now = timezone.now()
        reason = words.ROLLOUT_STOPPED_BY.format(rollout=rollout.pk, actor=actor.label)
        jobs = UpdateJob.objects.filter(rollout=rollout)
        # Those the devices do not have yet (queued, or awaiting approval) end at once.
        cancelled = sum(jobs_transition_bulk(jobs=jobs, from_state=state, to_state=S.CANCELLED, actor=actor,
                                             kind="transition", reason=reason, skip_locked=False)
                        for state in sorted(CANCEL_AT_ONCE))
        for state in sorted(CANCEL_NEEDS_DEVICE):
            cancelled += jobs_transition_bulk(jobs=jobs, from_state=state, to_state=S.CANCELLING, actor=actor,
                                              kind="transition", reason=reason, skip_locked=False,
                                              fields={"state_before_cancel": state})
        Rollout.objects.filter(pk=rollout.pk).update(state=R.STOPPED, finished_at=now, paused_reason="")
        RolloutWave.objects.filter(rollout=rollout, state__in=[W.PENDING, W.RUNNING]).update(
            state=W.STOPPED, finished_at=now)
        rollout.state = R.STOPPED
        rollout_event_record(rollout=rollout, actor=actor, kind="stopped", details={"cancelled": cancelled})
        notifications.rollout_notify(rollout=rollout, event="rollout.stopped", stopped_by=actor.label,
                                     cancelled=cancelled)
    rollout.refresh_from_db()
    return rollout


def rollout_retry_failed(*, rollout: Rollout, actor) -> Rollout:
    """A new rollout of only the sites whose job failed (or timed out) in `rollout`, with
    its conditions; `rollout` must have ended."""
    rollout.refresh_from_db()
    if rollout.is_open:
        raise _refusal(rollout, Refusal.ROLLOUT_STILL_OPEN)
    if not UpdateJob.objects.filter(rollout=rollout).filter(JOB_FAILED_OR_TIMED_OUT).exists():
        raise _refusal(rollout, Refusal.NO_FAILED_SITES)
    other = Rollout.objects.filter(receiver=rollout.receiver, device_type=rollout.device_type,
                                   state__in=Rollout.OPEN_STATES).first()
    if other is not None:
        raise _refusal(other, Refusal.ROLLOUT_STILL_OPEN)
    window = ((rollout.install_window_start, rollout.install_window_end)
              if rollout.install_window_start is not None else None)
    retry, _ = rollout_start(
        receiver=rollout.receiver, device_type=rollout.device_type, actor=actor, retry_of=rollout,
        success_threshold_percent=rollout.success_threshold_percent,
        error_threshold_percent=rollout.error_threshold_percent, error_threshold_count=rollout.error_threshold_count,
        error_threshold_min=rollout.error_threshold_min, approve_each_wave=rollout.approve_each_wave,
        install_window=window,
    )
    return retry


def _refusal(rollout: Rollout, refusal: Refusal) -> UpdateNotAllowed:
    return UpdateNotAllowed(refusal, rollout=rollout.pk, state=rollout.get_state_display().lower())


def rollouts_job_counts(*, rollout_ids: list[int]) -> tuple[dict[int, dict[str, int]], dict[int, tuple[int, int]]]:
    """For a page of rollouts, from one read of the rollouts' job tally (firmware_updates/
    tally.py: a few rows per rollout, however many jobs it has): the jobs by state of each
    rollout, and (succeeded, failed) of each wave, counted as `wave_counts` does."""
    return _job_counts(JobTally.objects.filter(rollout_id__in=rollout_ids))


def rollouts_settled_counts(*, rollout_ids: list[int]) -> tuple[dict[int, dict[str, int]], dict[int, tuple[int, int]]]:
    """As `rollouts_job_counts`, of the rollouts' settled jobs alone (JOB_SETTLED: every job
    a wave counts as succeeded or failed is one): the finished jobs by state of each rollout
    (as `rollout_outcomes` counts them), and (succeeded, failed) of each wave: what the
    panel's rollout card shows."""
    return _settled_split(_job_counts(JobTally.objects.filter(rollout_id__in=rollout_ids).filter(JOB_SETTLED)))


def _settled_split(counts):
    by_state, waves = counts
    finished = {rollout_id: {state: n for state, n in counts.items() if state in TERMINAL_STATES}
                for rollout_id, counts in by_state.items()}
    return finished, waves


def rollout_settled_counts(*, rollout_id: int) -> tuple[dict[int, dict[str, int]], dict[int, tuple[int, int]]]:
    """`rollouts_settled_counts` of one rollout (the device type page's card): a statement
    composed once (core/statements.py)."""
    return _settled_split(_job_counts_of(_SETTLED_OF_ONE.rows(rollout=rollout_id)))


def _job_counts_query(groups):
    # The tally's groups, summed (PostgreSQL's triggers append rows that beat folds later).
    return (groups.order_by().values_list("rollout_id", "wave_id", "state")
            .annotate(total=Sum("n"), succeeded=Sum("n", filter=JOB_CONFIRMED),
                      failed=Sum("n", filter=JOB_FAILED_OR_TIMED_OUT)))


_SETTLED_OF_ONE = Statement(lambda: _job_counts_query(
    JobTally.objects.filter(rollout_id=Bound("rollout", BigIntegerField())).filter(JOB_SETTLED)))


def _job_counts(groups) -> tuple[dict[int, dict[str, int]], dict[int, tuple[int, int]]]:
    return _job_counts_of(_job_counts_query(groups))


def _job_counts_of(rows) -> tuple[dict[int, dict[str, int]], dict[int, tuple[int, int]]]:
    by_state: dict[int, dict[str, int]] = {}
    waves: dict[int, tuple[int, int]] = {}
    for rollout_id, wave_id, state, n, succeeded, failed in rows:
        if not n:
            continue
        counts = by_state.setdefault(rollout_id, {})
        counts[state] = counts.get(state, 0) + n
        if wave_id is not None:
            before = waves.get(wave_id, (0, 0))
            waves[wave_id] = (before[0] + (succeeded or 0), before[1] + (failed or 0))
    return by_state, waves
