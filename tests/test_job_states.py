"""Job states, written once: the forward order, the table derived from it, the named
predicates, and every change of state (one job or a fleet of them) held to the table."""

from datetime import timedelta

import pytest
from django.utils import timezone

from firmware_updates import services
from firmware_updates.models import (
    ACTIVE_STATES,
    CANCEL_AT_ONCE,
    CANCEL_NEEDS_DEVICE,
    CONFIRMABLE_STATES,
    DOWNLOAD_COMPLETE,
    DOWNLOAD_INCOMPLETE,
    DOWNLOAD_NOT_STARTED,
    FETCHING,
    FORWARD_ORDER,
    START_STATES,
    TRANSITIONS,
    JobState,
    UpdateJob,
    is_cancellable,
    is_deliverable,
    transition_allowed,
)
from tests.factories import UpdateJobFactory

S = JobState


def test_the_table_says_what_design_md_says():
    """DESIGN.md 3: queued → delivered → downloading → downloaded → ready → installing →
    succeeded; any active state → failed; queued → cancelled; delivered|downloading →
    cancelling → cancelled or back to where it was."""
    assert FORWARD_ORDER == (S.QUEUED, S.DELIVERED, S.DOWNLOADING, S.DOWNLOADED, S.READY, S.INSTALLING,
                             S.SUCCEEDED)
    for rank, state in enumerate(FORWARD_ORDER[:-1]):
        later = set(FORWARD_ORDER[rank + 1:])
        assert later | {S.FAILED} <= TRANSITIONS[state], state
        assert not set(FORWARD_ORDER[:rank + 1]) & TRANSITIONS[state], f"{state} may not go backwards"
    assert {state for state, targets in TRANSITIONS.items() if S.CANCELLED in targets} == {
        S.AWAITING_APPROVAL, S.QUEUED, S.CANCELLING}
    assert {state for state, targets in TRANSITIONS.items() if S.CANCELLING in targets} == {S.DELIVERED,
                                                                                           S.DOWNLOADING}
    assert TRANSITIONS[S.CANCELLING] == {*FORWARD_ORDER[1:], S.CANCELLED, S.FAILED}
    assert ACTIVE_STATES == set(JobState.values) - {S.SUCCEEDED, S.FAILED, S.CANCELLED}
    assert all(not TRANSITIONS[state] for state in (S.SUCCEEDED, S.FAILED, S.CANCELLED))


def test_a_job_awaiting_approval_goes_on_only_by_approval_or_ends():
    """Issue 14: held before the forward order; nothing a device reports may skip the approval."""
    assert TRANSITIONS[S.AWAITING_APPROVAL] == {S.QUEUED, S.CANCELLED, S.FAILED}
    assert {state for state, targets in TRANSITIONS.items() if S.AWAITING_APPROVAL in targets} == set()
    assert S.AWAITING_APPROVAL in ACTIVE_STATES and is_cancellable(S.AWAITING_APPROVAL)
    assert not is_deliverable(S.AWAITING_APPROVAL)


def test_cancel_is_possible_until_the_panel_has_the_whole_file():
    assert [s for s in FORWARD_ORDER if is_cancellable(s)] == [S.QUEUED, S.DELIVERED, S.DOWNLOADING]
    assert not is_cancellable(S.CANCELLING)
    # The poll offers the action in every active state but cancelling, which offers the cancel,
    # and awaiting approval, which offers nothing yet.
    assert {s for s in JobState.values if is_deliverable(s)} == ACTIVE_STATES - {S.CANCELLING, S.AWAITING_APPROVAL}


def test_the_named_sets_the_services_and_views_ask_are_cut_from_the_forward_order():
    """What services, payloads and views ask by name instead of spelling states out."""
    assert DOWNLOAD_NOT_STARTED == {S.QUEUED, S.DELIVERED}
    assert FETCHING == CANCEL_NEEDS_DEVICE == {S.DELIVERED, S.DOWNLOADING}
    assert DOWNLOAD_INCOMPLETE | DOWNLOAD_COMPLETE == set(FORWARD_ORDER)
    assert not DOWNLOAD_INCOMPLETE & DOWNLOAD_COMPLETE
    assert DOWNLOAD_COMPLETE == {S.DOWNLOADED, S.READY, S.INSTALLING, S.SUCCEEDED}
    assert START_STATES == CANCEL_AT_ONCE == {S.QUEUED, S.AWAITING_APPROVAL}
    assert CONFIRMABLE_STATES == set(JobState.values) - {S.FAILED, S.CANCELLED} - START_STATES


@pytest.mark.django_db
def test_a_bulk_transition_the_table_forbids_is_refused_and_changes_nothing():
    job = UpdateJobFactory(state=S.SUCCEEDED)
    assert not transition_allowed(S.SUCCEEDED, S.FAILED)
    with pytest.raises(ValueError, match="may not go from succeeded to failed"):
        services.jobs_transition_bulk(jobs=UpdateJob.objects.all(), from_state=S.SUCCEEDED, to_state=S.FAILED,
                                      actor=services.ACTOR_SYSTEM, kind="test", reason="no")
    job.refresh_from_db()
    assert job.state == S.SUCCEEDED and not job.events.exists()


@pytest.mark.django_db
def test_reconciliation_times_out_an_install_through_the_table_and_frees_the_panel():
    job = UpdateJobFactory(state=S.INSTALLING)
    UpdateJob.objects.filter(pk=job.pk).update(state_changed_at=timezone.now() - timedelta(days=1))
    assert services.reconcile()["install_timeout"] == 1
    job.refresh_from_db()
    job.device.refresh_from_db()
    assert job.state == S.FAILED and job.finished_at is not None
    assert job.device.active_job_id is None
    (event,) = job.events.filter(kind="install_timeout")
    assert (event.from_state, event.to_state, event.actor_label) == (S.INSTALLING, S.FAILED, "system")
