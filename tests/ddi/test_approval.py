"""A job awaiting approval (issue 14) is the panel's one active job but not its business yet:
the poll offers nothing, and the action, its feedback and its archive are out of the panel's
reach until an approver lets it go on; then the panel finds it at its next poll."""

import pytest

from firmware_updates import services
from firmware_updates.models import JobState
from sites.models import Site

from .client import raw_get
from .conftest import SERIAL, TENANT

pytestmark = pytest.mark.live
S = JobState


@pytest.fixture
def held(fleet):
    Site.objects.filter(receiver=fleet.receiver, number=101).update(remote_update="approval")
    job = fleet.queue()
    assert job.state == S.AWAITING_APPROVAL
    return job


def test_the_poll_offers_nothing_of_a_job_awaiting_approval_at_the_idle_sleep(fleet, held):
    client = fleet.client()
    client.config_data({"sw_version": "5.30", "hw_revision": "2.1"})
    assert client.poll().json() == {"config": {"polling": {"sleep": "00:05:00"}}}


def test_the_held_action_its_feedback_and_its_archive_are_refused(fleet, held):
    client = fleet.client()
    assert client.request("GET", f"/deploymentBase/{held.pk}").status == 404
    assert client.feedback(held.pk, "closed", "failure", details=["nothing to fail"]).status == 410
    url = f"{fleet.base_url}/{TENANT}/controller/v1/{SERIAL}/softwaremodules/{fleet.release.pk}/artifacts/" \
          f"{fleet.release.filename}"
    assert raw_get(url, f"TargetToken {fleet.token}")[0] == 404
    assert fleet.job(held).state == S.AWAITING_APPROVAL


def test_once_approved_the_next_poll_offers_the_action(fleet, held):
    services.update_job_approve(job=held, actor=None)
    links = fleet.client().poll().json()["_links"]
    assert f"/deploymentBase/{held.pk}?c=" in links["deploymentBase"]["href"]
    assert fleet.client().request("GET", f"/deploymentBase/{held.pk}").status == 200
    assert fleet.job(held).state == S.DELIVERED
