"""`make demo`'s seeding: a fleet the simulator can run and the manual's example figures."""

import pytest
from django.core.management import call_command

from firmware_updates.management.commands import seed_demo
from firmware_updates.selectors import receiver_firmware_stats
from fleetsim import load_fleet
from receivers.models import Receiver

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
