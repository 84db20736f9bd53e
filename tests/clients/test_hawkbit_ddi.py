"""@awesomeorganization/hawkbit-ddi (npm) as a panel: tests/clients/hawkbit_ddi_driver.mjs uses
the library as a vendor's Node.js agent would; the server must take it as it is (it sends
`"progress": {}` whenever the agent gives no count, which was refused with 400 before)."""

import json
import subprocess
from pathlib import Path

import pytest

from firmware_updates import services
from firmware_updates.models import JobState
from sites.models import Device

pytestmark = [pytest.mark.live, pytest.mark.clients]
S = JobState
DRIVER = Path(__file__).resolve().parent / "hawkbit_ddi_driver.mjs"


class Panel:
    """One run of the driver; `steps` are the JSON lines it printed."""

    def __init__(self, node_modules, fleet, tmp_path, *, outcome, serial=None, gateway=False,
                 attributes=None, holding: tuple[str, bytes] | None = None):
        self.artifacts = tmp_path / "artifacts"
        self.artifacts.mkdir(exist_ok=True)
        if holding:  # what the panel kept of an earlier, cut download
            (self.artifacts / holding[0]).write_bytes(holding[1])
        config = {
            "url": fleet.base_url, "tenant": fleet.receiver.code,
            "controllerId": serial or fleet.device.serial, "artifactsPath": str(self.artifacts),
            "attributes": attributes or {"sw_version": "5.30", "hw_revision": "2.1"},
            "outcome": outcome, "polls": 20, "modules": str(node_modules),
        }  # fmt: skip
        config["gatewayToken" if gateway else "targetToken"] = fleet.gateway_token if gateway else fleet.token
        path = tmp_path / "panel.json"
        path.write_text(json.dumps(config))
        self.process = subprocess.Popen(["node", str(DRIVER), str(path)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.steps = []

    def until(self, step: str) -> dict:
        for line in self.process.stdout:
            self.steps.append(json.loads(line))
            if self.steps[-1]["step"] == step:
                return self.steps[-1]
            assert self.steps[-1]["step"] != "error", self.steps
        raise AssertionError(f"the panel ended before {step!r}: {self.steps} {self.process.stderr.read()}")

    def go_on(self) -> None:
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def finish(self) -> list[dict]:
        out, err = self.process.communicate(timeout=30)
        self.steps += [json.loads(line) for line in out.splitlines()]
        assert self.process.returncode == 0, (self.steps, err)
        return self.steps


@pytest.fixture
def panel(node_modules, fleet, tmp_path):
    started = []

    def start(**kwargs) -> Panel:
        started.append(Panel(node_modules, fleet, tmp_path, **kwargs))
        return started[-1]

    yield start
    for run in started:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()


def test_update_resumed_download_success_and_confirmation(fleet, panel):
    job = fleet.queue()
    release = fleet.release
    # The panel already holds the archive's first 100 KiB (a download cut earlier): the library
    # asks for the rest with Range.
    with release.archive.open("rb") as archive:
        head = archive.read(100 * 1024)
    run = panel(outcome="success", holding=(release.filename, head))

    downloaded = run.until("downloaded")
    assert downloaded["resumedAt"] == 100 * 1024
    steps = run.finish()

    assert [s["action"] for s in steps if s["step"] == "poll"][:2] == ["configData", "deploymentBase"]
    job = fleet.job(job)
    assert job.state == S.SUCCEEDED
    assert job.confirmed_at is None  # green only once the panel reports 5.40


def test_failure_keeps_the_panels_reason(fleet, panel):
    job = fleet.queue()

    panel(outcome="failure").finish()

    job = fleet.job(job)
    assert job.state == S.FAILED
    assert job.reason == "signature check failed"


@pytest.mark.parametrize(("outcome", "state"), [("acknowledge-cancel", S.CANCELLED),
                                                ("reject-cancel", S.SUCCEEDED)])
def test_cancel_acknowledged_or_refused(fleet, panel, outcome, state):
    job = fleet.queue()
    run = panel(outcome=outcome)
    run.until("waiting")

    services.update_job_cancel(job=fleet.job(job), actor=None)
    run.go_on()
    run.until("cancel")
    run.finish()

    assert fleet.job(job).state == state


def test_gateway_registers_an_unknown_panel(fleet, panel):
    panel(outcome="register", serial="NG00000077", gateway=True,
          attributes={"sw_version": "5.30", "hw_revision": "2.2", "device_type": "nord-gsm"}).finish()

    device = Device.objects.get(serial="NG00000077")
    assert device.firmware_version == "5.30"
    assert device.attributes_at is not None
