"""One eligibility rule, one badge: every reader gives the same answer for the same panel.

The matrix covers what decides eligibility (IP channel, hardware supported, version older /
equal / newer than the current release, an active job, the site's consent to remote
updates) and what must not (online or offline; a site asking for approval). Each panel sits alone on its own receiver, so the receiver's statistics are that
panel's verdict; the same panel is then asked through the per-site refusal (queueing), the
device type page's list, the "Update software at all sites" preview and the rollout itself.
"""

import itertools
from dataclasses import replace
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from firmware_updates import services
from firmware_updates.badges import Badge, badge_expression, device_badge
from firmware_updates.eligibility import ELIGIBLE, red_reason_of, refusal_of, update_refusal
from firmware_updates.errors import Refusal, UpdateNotAllowed
from firmware_updates.selectors import (
    SiteFilters,
    device_type_sites,
    receiver_firmware_stats,
    rollout_transfer,
    site_list,
)
from firmware_updates.views.presenters import StatsView
from sites.models import Device
from tests.factories import (
    DeviceFactory,
    DeviceTypeFactory,
    ReceiverFactory,
    ReleaseFactory,
    UpdateJobFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CHANNELS = {"ip": ["gprs", "sms"], "no_ip": ["gsm_voice", "sms"]}
HARDWARE = {"supported": "2.1", "not_supported": "1.0"}
VERSIONS = {"older": "5.30", "equal": "5.40", "newer": "5.50"}
CONSENT = ("allowed", "approval", "forbidden")
MATRIX = list(itertools.product(CHANNELS, HARDWARE, VERSIONS, ("online", "offline"), ("job", "no_job"), CONSENT))


def _verdict_of_statistics(row) -> str:
    """The one panel's refusal code, as the statistics row of its receiver says it."""
    assert row.total == 1
    if row.current:
        return Refusal.ALREADY_CURRENT.value
    if row.updating:
        return Refusal.ALREADY_UPDATING.value
    assert row.not_planned == 1
    if not row.not_eligible:
        assert StatsView(row).eligible_red == 1, "red and eligible: the update-all dialog queues it"
        return ELIGIBLE
    assert StatsView(row).eligible_red == 0
    (code,) = row.not_eligible_reasons
    return code


def _expected(channels, hardware, version, job, consent="allowed") -> str:
    """The seed's rule, written out for the test: current, updating, then the refusals, the
    site's own first (issue 14)."""
    if version == "equal":
        return Refusal.ALREADY_CURRENT.value
    if job == "job":
        return Refusal.ALREADY_UPDATING.value
    if consent == "forbidden":
        return Refusal.REMOTE_UPDATE_FORBIDDEN.value
    if channels == "no_ip":
        return Refusal.NO_IP_CHANNEL.value
    if hardware == "not_supported":
        return Refusal.HARDWARE_NOT_SUPPORTED.value
    if version == "newer":
        return Refusal.WOULD_DOWNGRADE.value
    return ELIGIBLE


@pytest.fixture
def nord():
    nord = DeviceTypeFactory()
    return nord, ReleaseFactory(device_type=nord, version="5.40", hardware_revisions=["2.1", "2.2"])


def _panel(nord_release, case):
    nord, release = nord_release
    channels, hardware, version, online, job, consent = case
    receiver = ReceiverFactory(code="r-" + "-".join(case).replace("_", ""))
    now = timezone.now()
    device = DeviceFactory(
        site__receiver=receiver, site__remote_update=consent, device_type=nord, channels=CHANNELS[channels],
        hardware_revision=HARDWARE[hardware], firmware_version=VERSIONS[version],
        last_seen=now if online == "online" else now - timedelta(days=2),
    )
    if job == "job":
        UpdateJobFactory(device=device, release=release)
        device.refresh_from_db()
    return receiver, device


@pytest.mark.parametrize("case", MATRIX, ids=["-".join(c) for c in MATRIX])
def test_statistics_refusal_list_and_rollout_agree_on_every_panel(nord, case):
    receiver, device = _panel(nord, case)
    nord_type, release = nord
    expected = _expected(*case[:3], case[4], case[5])

    (row,) = receiver_firmware_stats(receiver=receiver)
    assert _verdict_of_statistics(row) == expected
    # The red breakdown is disjoint: a red panel under one reason, its refusal first, then offline.
    red_reason = expected if expected not in ("already_current", "already_updating", ELIGIBLE) else (
        ("offline" if case[3] == "offline" else "not_queued") if expected == ELIGIBLE else "")
    assert row.red_reasons == ({red_reason: 1} if red_reason else {})
    assert row.offline == (1 if red_reason == "offline" else 0)
    # The device type page's statistics (its type's conditions alone, the facets and the
    # transfer in the same pass) say the same, and the transfer counts the panel a rollout queues.
    (typed,) = receiver_firmware_stats(receiver=receiver, device_type=nord_type, facets=True, transfer=True)
    assert typed == replace(row, versions=typed.versions, hardware=typed.hardware, transfer=typed.transfer)
    assert (typed.versions, typed.hardware) == ({device.firmware_version: 1}, {device.hardware_revision: 1})
    assert typed.transfer.panels == (1 if expected == ELIGIBLE else 0)
    assert typed.transfer == rollout_transfer(receiver=receiver, device_type=nord_type, release=release)

    refusal = update_refusal(device=device, release=release, site=f"Site {device.site.number}")
    assert (refusal.code if refusal else ELIGIBLE) == expected

    (listed,) = device_type_sites(receiver=receiver, device_type=nord_type)
    assert (refusal_of(listed.verdict), red_reason_of(listed.verdict)) == (expected, red_reason)
    if red_reason:  # the reason filter lists it, and only under its reason
        assert [d.pk for d in device_type_sites(receiver=receiver, device_type=nord_type,
                                                filters=SiteFilters(reason=red_reason))] == [device.pk]
        assert not device_type_sites(receiver=receiver, device_type=nord_type,
                                     filters=SiteFilters(reason="failed" if red_reason != "failed" else "offline"))

    # The rollout queues exactly the eligible panel (held for approval where its site asks
    # for it); with nothing to queue it is refused, naming the same reason.
    if expected == ELIGIBLE:
        rollout = services.rollout_run(rollout_id=services.rollout_start(
            receiver=receiver, device_type=nord_type, actor=None)[0].pk)
        assert (rollout.queued, rollout.skipped) == (1, {})
        (job,) = rollout.jobs.all()
        assert job.state == ("awaiting_approval" if case[5] == "approval" else "queued")
        assert job.events.get().to_state == job.state
    else:
        with pytest.raises(UpdateNotAllowed) as refused:
            services.rollout_start(receiver=receiver, device_type=nord_type, actor=None)
        assert refused.value.code == "nothing_to_queue"
        assert f"(1 {Refusal(expected).short})" in refused.value.reason


def test_a_panel_newer_than_the_current_release_would_downgrade_everywhere(nord, eager_celery,
                                                                          django_capture_on_commit_callbacks):
    """The bug: the update-all dialog counted a newer panel as "will be queued", while the
    rollout skipped it as a downgrade. Now the dialog, the API and the rollout agree."""
    nord_type, release = nord
    receiver = ReceiverFactory(code="north")
    DeviceFactory(site__receiver=receiver, device_type=nord_type, firmware_version="5.50")
    DeviceFactory(site__receiver=receiver, device_type=nord_type, firmware_version="5.30")
    manager = UserFactory(is_superuser=True)
    client = Client()
    client.force_login(manager)

    dialog = client.get(f"/receivers/north/software-update/{nord_type.code}/update-all/").content.decode()
    assert '<b data-testid="update-all-count">1</b> outdated site will be queued' in dialog
    assert '<b data-testid="update-all-not-eligible">1</b> cannot be updated and will be skipped: 1 would downgrade' \
        in dialog

    (stats,) = client.get("/api/v1/receivers/north/firmware-stats/").json()
    assert stats["not_eligible"] == 1 and stats["not_eligible_reasons"] == {"would_downgrade": 1}

    with django_capture_on_commit_callbacks(execute=True):
        rollout = client.post("/api/v1/rollouts/", {"receiver": "north", "device_type": nord_type.code},
                              content_type="application/json").json()
    rollout = client.get(f"/api/v1/rollouts/{rollout['id']}/").json()
    assert rollout["queued"] == 1 and rollout["skipped"] == {"would_downgrade": 1}


def test_queueing_a_newer_panel_is_refused_as_a_downgrade(nord):
    nord_type, _ = nord
    receiver = ReceiverFactory(code="north")
    DeviceFactory(site__receiver=receiver, site__number=7, device_type=nord_type, firmware_version="5.50")
    with pytest.raises(UpdateNotAllowed) as refused:
        services.update_job_create(receiver=receiver, site_number=7, actor=None)
    assert refused.value.code == "would_downgrade"
    assert str(refused.value) == "Site 7 runs 5.50, newer than 5.40: that would downgrade it."


@pytest.mark.parametrize("case", MATRIX[::5], ids=["-".join(c) for c in MATRIX[::5]])
def test_the_single_panel_badge_equals_the_queryset_badge(nord, case):
    receiver, device = _panel(nord, case)
    nord_type, release = nord
    annotated = Device.objects.annotate(badge=badge_expression(current_version=release.version)).get(pk=device.pk)
    single = device_badge(device=device, current_version=release.version,
                          has_active_job=device.active_job_id is not None)
    (site,) = site_list(receiver=receiver)
    assert single == annotated.badge == site.badge
    expected = _expected(*case[:3], case[4], case[5])
    assert single == {Refusal.ALREADY_CURRENT.value: Badge.GREEN,
                      Refusal.ALREADY_UPDATING.value: Badge.YELLOW}.get(expected, Badge.RED)


def test_no_current_release_is_never_green_and_never_queued():
    nord = DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40", is_current=False)
    receiver = ReceiverFactory(code="north")
    device = DeviceFactory(site__receiver=receiver, site__number=3, device_type=nord, firmware_version="5.40")
    (row,) = receiver_firmware_stats(receiver=receiver)
    assert (row.current, row.not_eligible, row.not_eligible_reasons) == (0, 1, {"no_current_release": 1})
    assert device_badge(device=device, current_version=None, has_active_job=False) == Badge.RED
    assert site_list(receiver=receiver).get().badge == Badge.RED
    with pytest.raises(UpdateNotAllowed, match="Nord GSM has no current release."):
        services.update_job_create(receiver=receiver, site_number=3, actor=None)
