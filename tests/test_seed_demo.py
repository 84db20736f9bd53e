"""`make demo`'s seeding: a fleet the simulator can run and the manual's example figures."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from firmware_updates import services, swu
from firmware_updates.management.commands import seed_demo
from firmware_updates.models import Release, ReleaseDelta, UpdateJob
from firmware_updates.selectors import receiver_firmware_stats
from firmware_updates.services.rollouts import rollout_order
from fleetsim import load_fleet
from receivers.models import Receiver
from sites.models import DeviceType, Site

pytestmark = pytest.mark.django_db


def test_demo_seeds_a_runnable_fleet_and_the_manuals_example(tmp_path, monkeypatch):
    monkeypatch.setattr(seed_demo, "DEMO_DIR", tmp_path)
    call_command("seed_demo", sites=120)
    panels = load_fleet(tmp_path / "fleet.json")
    assert 0 < len(panels) <= 120 and all(p.tenant == "demo" for p in panels)
    [nord] = receiver_firmware_stats(receiver=Receiver.objects.get(code="example"))
    assert (nord.total, nord.current_version, nord.current, nord.not_planned, nord.updating) == (20, "5.40", 10, 6, 4)
    call_command("seed_demo", sites=120)  # a second run leaves the demo alone
    assert len(load_fleet(tmp_path / "fleet.json")) == len(panels)


def test_the_demo_has_sites_asking_for_approval_a_manager_who_approves_and_panels_on_battery(
        tmp_path, monkeypatch):
    """Issue 14 in the demo: the manager queues a site that asks for approval and approves it;
    some panels lose mains power now and then and wait for it before installing."""
    monkeypatch.setattr(seed_demo, "DEMO_DIR", tmp_path)
    call_command("seed_demo")
    demo = Receiver.objects.get(code="demo")
    asking = Site.objects.filter(receiver=demo, remote_update="approval")
    assert asking.count() == 2 and {s.device.device_type.code for s in asking} == {"nord-pro"}
    manager = get_user_model().objects.get(username="manager")
    assert manager.has_perm("firmware_updates.approve_updatejob")
    assert not get_user_model().objects.get(username="engineer").has_perm("firmware_updates.approve_updatejob")
    job = services.update_job_create(receiver=demo, site_number=asking.first().number, actor=manager)
    assert job.state == "awaiting_approval"
    assert services.update_job_approve(job=job, actor=manager).state == "queued"
    panels = load_fleet(tmp_path / "fleet.json")
    outages = [p for p in panels if p.power.mode == "outages"]
    assert 0.05 < len(outages) / len(panels) < 0.15
    assert all(p.power.report for p in panels)


def test_demo_panels_hold_their_versions_image_and_nord_gsm_releases_have_deltas(tmp_path, monkeypatch):
    """Issue 12 in the demo: a Nord GSM panel on 5.30 is sent the delta to 5.40, which its
    image (the 5.30 release's, byte for byte) can be patched with."""
    monkeypatch.setattr(seed_demo, "DEMO_DIR", tmp_path)
    call_command("seed_demo", sites=60)
    nord = DeviceType.objects.get(code="nord-gsm")
    deltas = {(d.release.version, d.base_version): d for d in ReleaseDelta.objects.filter(release__device_type=nord)}
    assert sorted(deltas) == [("5.40", "5.30"), ("5.41", "5.40"), ("5.42", "5.40"), ("5.42", "5.41")]
    current = Release.objects.get(device_type=nord, is_current=True)
    assert deltas["5.40", "5.30"].size < current.size / 4
    panels = load_fleet(tmp_path / "fleet.json")
    on_base = next(p for p in panels if p.device_type == "nord-gsm" and p.firmware_version == "5.30")
    held = Path(on_base.firmware_image).read_bytes()
    with deltas["5.40", "5.30"].archive.open("rb") as fh:
        info, patch = swu.read_archive_image(fh)
    with current.archive.open("rb") as fh:
        _, image = swu.read_archive_image(fh)
    assert swu.apply_archive_delta(info, patch, held) == image



def test_the_demos_faulty_release_fails_in_its_rollouts_canary_and_is_not_current(
        tmp_path, monkeypatch, eager_celery, django_capture_on_commit_callbacks):
    """The demo's story (README): 5.41 and 5.42 are uploaded but 5.40 stays current (the
    figures above hold); 5.41 does not start on 30 % of the demo receiver's Nord GSM panels,
    the first of its rollout's canary among them, so "Update software at all sites" with 5.41
    current halts at the canary; 5.42 starts on every panel."""
    monkeypatch.setattr(seed_demo, "DEMO_DIR", tmp_path)
    call_command("seed_demo")
    nord = DeviceType.objects.get(code="nord-gsm")
    assert list(Release.objects.filter(device_type=nord).order_by("version").values_list("version", "is_current")) \
        == [("5.20", False), ("5.30", False), ("5.40", True), ("5.41", False), ("5.42", False)]
    panels = {p.serial: p for p in load_fleet(tmp_path / "fleet.json")}
    failing = {s for s, p in panels.items() if p.faults.install_fails(s, "5.41")}
    assert not any(p.faults.install_fails(s, "5.42") for s, p in panels.items())
    demo = Receiver.objects.get(code="demo")
    faulty = Release.objects.get(device_type=nord, version="5.41")
    eligible = list(rollout_order(receiver=demo, release=faulty).values_list("serial", flat=True))
    assert len(eligible) >= 100, "enough Nord GSM sites for a canary, a second wave and the rest"
    assert failing <= set(eligible) <= set(panels)
    assert 0.28 < len(failing) / len(eligible) < 0.32

    services.release_mark_current(release=faulty)
    with django_capture_on_commit_callbacks(execute=True):
        rollout, _ = services.rollout_start(receiver=demo, device_type=nord, actor=None)
    canary = set(UpdateJob.objects.filter(rollout=rollout, wave__number=1).values_list("device__serial", flat=True))
    assert len(canary) == rollout.waves.get(number=1).size >= 1
    assert eligible[0] in canary & failing


def test_one_demo_panel_stays_off_the_line_after_its_install(tmp_path, monkeypatch):
    """The alarm centre's story (README): the site rundemo names is an outdated, eligible
    Nord LAN site whose panel the simulator keeps off the line after its install, and the
    demo's windows are short enough to see it turn red within minutes."""
    monkeypatch.setattr(seed_demo, "DEMO_DIR", tmp_path)
    call_command("seed_demo", sites=120)
    number = int((tmp_path / "not-returning-site").read_text())
    lan = DeviceType.objects.get(code="nord-lan")
    assert lan.expected_offline_seconds == seed_demo.DEMO_EXPECTED_OFFLINE_SECONDS
    demo = Receiver.objects.get(code="demo")
    release = Release.objects.get(device_type=lan, is_current=True)
    eligible = dict(rollout_order(receiver=demo, release=release).values_list("site__number", "serial"))
    away = [p.serial for p in load_fleet(tmp_path / "fleet.json") if p.faults.offline_after_install]
    assert away == [eligible[number]]
    services.update_job_create(receiver=demo, site_number=number, actor=None)  # queueing it is allowed
