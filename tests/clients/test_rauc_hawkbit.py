"""The `rauc-hawkbit` library (PyPI) as a panel. Its DDI layer (rauc_hawkbit.ddi: DDIClient,
deploymentBase, cancelAction, softwaremodules) runs unmodified; its RaucDBUSDDIClient needs
D-Bus, GLib and a RAUC daemon, so `RaucPanel` below follows that class's steps
(poll_base_resource, identify, process_deployment, download_artifact, cancel, and the
Progress, LastError and Completed callbacks) with RAUC's installation played by the test.

What it sends that the server must take as hawkBit does: `"progress": {}` on every feedback
without a percentage and `{"percentage": N}` with one (both refused with 400 before), a
transient error as `proceeding` + `failure` before its verdict, `"id"` and `"time"` extra."""

import asyncio
import os
import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest

from firmware_updates import services
from firmware_updates.models import JobState

try:  # scripts/install-test-clients.sh (make test runs it); missing, the suite fails
    import aiohttp
    from rauc_hawkbit.ddi import client as rauc_ddi
    from rauc_hawkbit.ddi.cancel_action import CancelStatusExecution, CancelStatusResult
    from rauc_hawkbit.ddi.client import ConfigStatusExecution, ConfigStatusResult
    from rauc_hawkbit.ddi.deployment_base import DeploymentStatusExecution, DeploymentStatusResult
except ImportError:
    if os.environ.get("SKIP_CLIENTS") != "1":
        raise
    pytest.skip("SKIP_CLIENTS=1", allow_module_level=True)

pytestmark = [pytest.mark.live, pytest.mark.clients]
S = JobState
Execution, Result = DeploymentStatusExecution, DeploymentStatusResult


class RaucPanel:
    """rauc-hawkbit-updater's RaucDBUSDDIClient, minus D-Bus: `install` says how RAUC ends
    ("success", "failure", or "error-then-success": a LastError, then completion)."""

    def __init__(self, session, fleet, bundle, *, install="success", on_deployment=None):
        host = urlsplit(fleet.base_url).netloc
        self.ddi = rauc_ddi.DDIClient(session, host, False, fleet.token, fleet.receiver.code,
                                      fleet.device.serial)  # fmt: skip
        self.attributes = {"sw_version": "5.30", "hw_revision": "2.1"}
        self.bundle, self.install, self.on_deployment = bundle, install, on_deployment
        self.log: list[str] = []

    async def run(self, polls=20) -> None:
        """poll_base_resource until an action ended."""
        for _ in range(polls):
            base = await self.ddi()
            links = base.get("_links", {})
            if "configData" in links:
                await self.ddi.configData(ConfigStatusExecution.closed, ConfigStatusResult.success,
                                          **self.attributes)  # fmt: skip
                self.log.append("identify")
            if "deploymentBase" in links and await self.process_deployment(base):
                return
            if "cancelAction" in links:
                await self.cancel(base)
            t = datetime.strptime(base["config"]["polling"]["sleep"], "%H:%M:%S")
            await asyncio.sleep(min(timedelta(hours=t.hour, minutes=t.minute, seconds=t.second).total_seconds(), 1))
        raise AssertionError(f"no outcome after {polls} polls: {self.log}")

    async def cancel(self, base) -> None:
        """RaucDBUSDDIClient.cancel: rauc-hawkbit refuses every cancel."""
        action_id, = re.search("/cancelAction/(.+)$", base["_links"]["cancelAction"]["href"]).groups()
        stop_id = (await self.ddi.cancelAction[action_id]())["cancelAction"]["stopId"]
        await self.ddi.cancelAction[stop_id].feedback(CancelStatusExecution.rejected, CancelStatusResult.success,
                                                      status_details=("Cancelling not supported",))  # fmt: skip
        self.log.append("cancel refused")

    async def process_deployment(self, base) -> bool:
        action_id, resource = re.search(r"/deploymentBase/(.+)\?c=(.+)$",
                                        base["_links"]["deploymentBase"]["href"]).groups()  # fmt: skip
        info = await self.ddi.deploymentBase[action_id](resource)
        artifact = info["deployment"]["chunks"][0]["artifacts"][0]
        if self.on_deployment and await self.on_deployment(self, action_id):
            return False
        url = artifact["_links"].get("download", artifact["_links"].get("download-http"))["href"]
        module, filename = re.search("/softwaremodules/(.+)/artifacts/(.+)$", url).groups()
        checksum = await self.ddi.softwaremodules[module].artifacts[filename](str(self.bundle))
        assert checksum == artifact["hashes"]["md5"]
        self.log.append("downloaded")
        feedback = self.ddi.deploymentBase[action_id].feedback
        for percentage in (0, 40, 100):  # progress_callback: RAUC's Progress property
            await feedback(Execution.proceeding, Result.none, ["Installing"], percentage=percentage)
        if self.install == "error-then-success":  # last_error_callback, then a retry that worked
            await feedback(Execution.proceeding, Result.failure, ["Failed mounting bundle: busy"])
        ok = self.install != "failure"
        # complete_callback
        await feedback(Execution.closed, Result.success if ok else Result.failure,
                       [f"Rauc bundle update completed with result: {0 if ok else 1}"])  # fmt: skip
        self.log.append("completed")
        return True


def drive(fleet, tmp_path, **kwargs) -> RaucPanel:
    async def main():
        async with aiohttp.ClientSession() as session:
            panel = RaucPanel(session, fleet, tmp_path / "update.raucb", **kwargs)
            await panel.run()
            return panel

    return asyncio.run(main())


def test_update_with_progress_and_a_transient_error_succeeds(fleet, tmp_path):
    job = fleet.queue()

    panel = drive(fleet, tmp_path, install="error-then-success")

    assert panel.log == ["identify", "downloaded", "completed"]
    job = fleet.job(job)
    assert job.state == S.SUCCEEDED
    assert job.warnings == ["The device reported a failure (proceeding): Failed mounting bundle: busy"]
    assert job.confirmed_at is None  # green once the panel reports 5.40


def test_failure_keeps_the_panels_reason(fleet, tmp_path):
    job = fleet.queue()

    drive(fleet, tmp_path, install="failure")

    job = fleet.job(job)
    assert job.state == S.FAILED
    assert job.reason == "Rauc bundle update completed with result: 1"


def test_cancel_is_refused_and_the_update_goes_on(fleet, tmp_path):
    job = fleet.queue()
    asked = []

    async def cancel_once(panel, action_id):
        """The operator cancels while the panel starts its download."""
        if asked:
            return False
        asked.append(action_id)
        await asyncio.to_thread(lambda: services.update_job_cancel(job=fleet.job(job), actor=None))
        return True

    panel = drive(fleet, tmp_path, on_deployment=cancel_once)

    assert panel.log == ["identify", "cancel refused", "downloaded", "completed"]
    job = fleet.job(job)
    assert job.state == S.SUCCEEDED
    assert any("refused the cancel" in e.details.get("message", "") for e in job.events.filter(kind="warning"))
