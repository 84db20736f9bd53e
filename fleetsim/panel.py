"""One virtual alarm panel: polls its server over hawkBit DDI and runs what it is given.

Shape of a panel's life (`Panel.run`): boot → poll loop + arming schedule (+ an update
worker while an action runs) → a reboot (install) or a power cut restarts everything but
`flash`. The update worker itself (download, check, install) lives in `fleetsim.update`.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from pathlib import Path
from urllib.parse import quote

from . import arming, ddi, power, update
from .http import HttpClient, TransportError, WireStats
from .link import Link
from .spec import PanelSpec
from .state import (
    ActionGone,
    ActionRecord,
    EventLog,
    Flash,
    KeptBytes,
    Phase,
    PowerCut,
    Restart,
    Stage,
)

log = logging.getLogger("fleetsim.panel")

UNAUTHORIZED_SLEEP = 600.0  # after a 401/403: keep polling, slowly


class Panel:
    def __init__(self, spec: PanelSpec, *, server_url: str, time_scale: float = 1.0,
                 request_timeout: float = 30.0, seed: int | str = 0,
                 flash_dir: Path | None = None):
        self.spec = spec
        self.flash_dir = flash_dir  # None: downloads are kept in memory
        self.serial = spec.serial
        self.time_scale = time_scale
        base = spec.seed if spec.seed is not None else f"{seed}:{spec.serial}"
        # Two RNGs: the link's draws (drops) must not depend on how often people arm.
        self.rng = random.Random(f"{base}:panel")
        self.link = Link(spec.link, rng=random.Random(f"{base}:link"), time_scale=time_scale)
        self.created = time.monotonic()
        self.stats = WireStats()
        auth = {"Authorization": spec.authorization} if spec.authorization else {}
        self.http = HttpClient(self.link, self.stats, timeout=request_timeout, headers=auth)
        self.flash = Flash.from_spec(spec)
        if spec.faults.never_disarm:
            for p in self.flash.partitions:
                p["armed"] = True
        # The supply is outside the panel (not flash): it stays what it is across reboots.
        self.power, self.battery = spec.power.supply, spec.power.battery
        self.base_url = (f"{server_url.rstrip('/')}/{quote(spec.tenant, safe='')}"
                         f"/controller/v1/{quote(spec.serial, safe='')}")
        self.events = EventLog()
        self.phase = Phase.OFF
        self.last_failure: str | None = None
        self.outcomes: dict[str, str] = {}  # action id → succeeded|failed|cancelled|refused-cancel
        self.snapshot_before_install: dict | None = None
        self.polls = 0
        self.power_cuts = 0
        self.reboots = 0
        self.crashes = 0
        self.power_cut_pending = spec.link.power_cut_at is not None
        self._wake = asyncio.Event()
        self._install_gate = asyncio.Event()  # arming changed, or the server's `update` did
        self._config_sent: dict | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._worker: asyncio.Task | None = None
        self.progress_task: asyncio.Task | None = None

    # What tests and the display read ----------------------------------------------------
    @property
    def firmware_version(self) -> str:
        return self.flash.firmware_version

    @property
    def action_id(self) -> str | None:
        return self.flash.action.id if self.flash.action else None

    @property
    def kept_bytes(self) -> int:
        return len(self.flash.action.kept) if self.flash.action else 0

    @property
    def bytes_received(self) -> int:
        return self.stats.bytes_received

    @property
    def artifact_bytes_received(self) -> int:
        """Bytes received over the wire on artifact requests, headers included."""
        return self.stats.received_by_kind["artifact"]

    @property
    def requests(self) -> int:
        return self.stats.requests

    @property
    def drops(self) -> int:
        return self.link.drops

    @property
    def partitions(self) -> dict[int, bool]:
        return {p["number"]: p["armed"] for p in self.flash.partitions}

    @property
    def settings(self) -> dict:
        return copy.deepcopy(self.flash.settings)

    def held_identity(self) -> tuple[str, str]:
        """(device type, board revision) the hardware really has: the faults wrong_device_type
        and wrong_board make it differ from what the panel reports."""
        faults = self.spec.faults
        device_type, board = self.flash.device_type, self.flash.hardware_revision
        if faults.wrong_device_type:
            wrong = faults.wrong_device_type
            device_type = wrong if isinstance(wrong, str) else f"{device_type}-other"
        if faults.wrong_board:
            board = faults.wrong_board if isinstance(faults.wrong_board, str) else "0.0"
        return device_type, board

    def config_data(self) -> dict[str, str]:
        f = self.flash
        data = {"sw_version": f.firmware_version, "hw_revision": f.hardware_revision,
                "device_type": f.device_type, "channels": ",".join(f.channels),
                "partitions": f.partitions_text(), "settings_digest": f.settings_digest()}
        if self.spec.power.report:
            data.update(power=self.power, battery=self.battery)
        return data

    def install_waits(self, rec: ActionRecord | None = None) -> list[str]:
        """What keeps the checked update from installing now, in the feedback's words: a
        disarmed partition, mains power and a charged battery (a panel whose firmware knows
        nothing of power waits for neither), the install window."""
        waits = ["a disarmed partition"] if all(p["armed"] for p in self.flash.partitions) else []
        waits += self.power_waits()
        if rec is not None and not rec.install_now:
            waits.append("the install window")
        return waits

    def power_waits(self) -> list[str]:
        if not self.spec.power.report:
            return []
        return ((["mains power"] if self.power == "battery" else [])
                + (["the battery to charge"] if self.battery == "low" else []))

    # Commands (call them on the fleet's event loop; Fleet has thread-safe wrappers) --------
    def poll_now(self) -> bool:
        """Wake-up: poll at once. False when the panel cannot hear it (off, rebooting, offline)."""
        if self.phase in (Phase.OFF, Phase.REBOOTING) or not self.link.online():
            return False
        self.event("wakeup", "poll-now received")
        self._wake.set()
        return True

    def set_partition(self, number: int, armed: bool, *, by: str = "user") -> bool:
        """Arm or disarm a partition (a person at the keypad). False while rebooting."""
        if self.phase == Phase.REBOOTING:
            return False
        for p in self.flash.partitions:
            if p["number"] == number and p["armed"] != armed:
                p["armed"] = armed
                self.event("arming", f"partition {number} {'armed' if armed else 'disarmed'} by {by}")
                self._install_gate.set()
                return True
        return False

    def set_power(self, *, supply: str | None = None, battery: str | None = None, by: str = "user") -> bool:
        """Mains fails or returns, the battery runs low or is charged (the schedule, or a test
        playing the site). The panel reports it with its next configData. False: no change."""
        supply, battery = supply or self.power, battery or self.battery
        if (supply, battery) == (self.power, self.battery):
            return False
        self.power, self.battery = supply, battery
        self.event("power", f"on {supply}, battery {battery} ({by})")
        self._install_gate.set()
        return True

    async def wait_installable(self, rec: ActionRecord, *, reported: list[str] | None = None,
                               on_change=None) -> None:
        """Until everything holds at once: a partition is disarmed, the panel is on mains with
        its battery ok, and the server lets it install (`update` not `skip`: its install window
        is open). The poll loop reads the deployment again meanwhile (`_on_deployment`).
        `on_change(waits)` is awaited whenever what it waits for differs from what it last
        said (`reported`: what its `scheduled` feedback said), a change while it was saying
        so included."""
        waits = self.install_waits(rec) if reported is None else reported
        while True:
            self._install_gate.clear()  # before looking: a change from now on wakes the wait
            now = self.install_waits(rec)
            if now != waits:
                waits = now
                if on_change is not None:
                    await on_change(now)
                    continue  # it awaited: look again
            if not waits:
                return
            await self._install_gate.wait()

    async def reread_deployment(self, rec: ActionRecord) -> None:
        """GET the action's deploymentBase again for its `update`: the install window may have
        closed since the download started. A failed read keeps what the panel knew."""
        fresh = await self._fetch_deployment(rec.deployment_url)
        if fresh is not None and fresh.id == rec.id:
            self._install_now(rec, fresh.install_now)

    def _install_now(self, rec: ActionRecord, allowed: bool) -> None:
        if allowed != rec.install_now:
            self.event("window", f"action {rec.id}: the server " + (
                "allows the installation now" if allowed
                else "says update: skip (install window closed): the installation waits"), logging.INFO)
        rec.install_now = allowed
        self._install_gate.set()

    # Helpers for the update worker ----------------------------------------------------
    def event(self, kind: str, detail: str, level: int = logging.DEBUG) -> None:
        self.events.add(kind, detail)
        log.log(level, "%s %s: %s", self.serial, kind, detail)

    def spawn(self, coro) -> asyncio.Task | None:
        """A task that lives until the next reboot (it must handle its own errors)."""
        if self._tg is None:
            coro.close()
            return None
        return self._tg.create_task(coro)

    async def sleep(self, simulated_seconds: float) -> None:
        await asyncio.sleep(max(0.0, simulated_seconds) * self.time_scale)

    def backoff(self, failures: int, *, base: float = 2.0, cap: float = 300.0) -> float:
        """Simulated seconds to wait after `failures` failures in a row (jittered)."""
        return min(cap, base * 2 ** max(0, failures - 1)) * self.rng.uniform(0.5, 1.0)

    async def feedback(self, url: str, body: dict, *, reliable: bool = True) -> bool:
        """POST a DDI feedback. reliable: retry until the server takes it.

        Returns True when accepted, False when given up; raises ActionGone on 404/410.
        """
        body = {**body, "timestamp": int(time.time() * 1000)}
        status = body["status"]
        what = f"{status['execution']}/{status['result']['finished']}"
        failures = 0
        while True:
            try:
                resp = await self.http.request("POST", url, json=body, kind="feedback")
            except TransportError as exc:
                resp, reason = None, str(exc)
            else:
                reason = f"HTTP {resp.status}"
                if resp.ok:
                    self.event("feedback", f"{what} {status.get('details') or ''}".strip())
                    return True
                if resp.status in (404, 410):
                    raise ActionGone(f"feedback {what}: HTTP {resp.status}")
                if resp.status < 500 and resp.status not in (401, 403, 408, 429):
                    self.event("error", f"server refused feedback {what}: {resp.brief()}",
                               logging.WARNING)
                    return False
            if not reliable:
                return False
            failures += 1
            self.event("retry", f"feedback {what}: {reason}")
            await self.link.wait_online()
            await self.sleep(self.backoff(failures, cap=UNAUTHORIZED_SLEEP))

    def forget(self, reason: str) -> None:
        """Drop the current action (and its kept bytes); stop the worker unless it is us."""
        rec = self.flash.action
        worker, self._worker = self._worker, None
        if worker and not worker.done() and worker is not asyncio.current_task():
            worker.cancel()
        if self.progress_task and not self.progress_task.done():
            self.progress_task.cancel()
        self.flash.action = None
        if rec is not None:
            self.event("forget", f"action {rec.id}: {reason}; {len(rec.kept)} bytes discarded")
            rec.kept.discard()
            if rec.stage != Stage.FAILED:
                self.phase = Phase.IDLE

    # Life cycle -------------------------------------------------------------------------
    async def run(self) -> None:
        """Live until cancelled. A reboot or a power cut restarts all but flash."""
        while True:
            self._config_sent = None
            rec = self.flash.action
            self.phase = Phase.FAILED if rec and rec.stage == Stage.FAILED else Phase.IDLE
            restart: Restart | None = None
            try:
                async with asyncio.TaskGroup() as tg:
                    self._tg = tg
                    tg.create_task(self._poll_loop())
                    tg.create_task(arming.arming_loop(self))
                    tg.create_task(power.power_loop(self))
            except* Restart as group:
                restart = group.exceptions[0]
            finally:
                self._tg = self._worker = None
                if self.flash.action is not None:
                    self.flash.action.kept.close()
                await self.http.close()
            if restart is None:  # pragma: no cover - the poll loop never returns
                return
            self.phase = Phase.REBOOTING
            kind = "power-cut" if isinstance(restart, PowerCut) else "reboot"
            back = "stays off the line" if restart.seconds == float("inf") else f"back in {restart.seconds:g} s"
            self.event(kind, f"{restart.reason}; {back}", logging.INFO)
            await self.sleep(restart.seconds)

    async def _poll_loop(self) -> None:
        failures = 0
        while True:
            await self.link.wait_online()
            self._wake.clear()  # a wake-up arriving during this poll triggers another
            sleep = await self._poll_once()
            failures = 0 if sleep is not None else failures + 1
            delay = sleep if sleep is not None else self.backoff(failures)
            try:
                async with asyncio.timeout(delay * self.time_scale):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _poll_once(self) -> float | None:
        """One poll and whatever it asks for; the sleep to take, None after a failure."""
        try:
            resp = await self.http.request("GET", self.base_url, kind="poll")
        except TransportError as exc:
            self.event("retry", f"poll: {exc}")
            return None
        self.polls += 1
        if resp.status in (401, 403):
            self.last_failure = f"poll refused: {resp.brief()}"
            self.event("error", self.last_failure, logging.WARNING)
            return UNAUTHORIZED_SLEEP
        if resp.status != 200:
            self.event("retry", f"poll: {resp.brief()}")
            return None
        try:
            links, sleep = ddi.poll_links(resp.json())
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self.event("error", f"poll: malformed answer ({exc})", logging.WARNING)
            return None
        await self._send_config(links.get("configData"))
        if "cancelAction" in links:
            await update.handle_cancel(self, links["cancelAction"])
        elif "deploymentBase" in links:
            await self._on_deployment(links["deploymentBase"])
        elif self.flash.action is not None:
            rec = self.flash.action
            if rec.stage == Stage.INSTALLED:
                await self._report_installed(rec)
            else:
                self.forget("the server no longer offers it")
        return sleep

    async def _send_config(self, href: str | None) -> None:
        """PUT configData when the server asks or our attributes changed since last sent."""
        data = self.config_data()
        if href is None and data == self._config_sent:
            return
        try:
            resp = await self.http.request("PUT", href or f"{self.base_url}/configData",
                                           json={"mode": "merge", "data": data}, kind="config")
        except TransportError as exc:
            self.event("retry", f"configData: {exc}")
            return
        if resp.ok:
            self._config_sent = data
            self.event("config", ", ".join(f"{k}={v}" for k, v in data.items()))
        else:
            self.event("error", f"configData refused: {resp.brief()}", logging.WARNING)

    async def _on_deployment(self, href: str) -> None:
        action_id = ddi.action_id_of(href)
        rec = self.flash.action
        if rec is not None and rec.id == action_id:
            if rec.stage == Stage.INSTALLED:
                return await self._report_installed(rec)
            if rec.stage == Stage.FAILED:
                if not rec.failure_reported:
                    await update.report_failure(self, rec, reliable=False)
                return
            if self._worker is not None and not self._worker.done() and rec.stage == Stage.DOWNLOADING:
                return
            # Downloaded and waiting to install: read the deployment again, its `update` says
            # whether the panel may install now (an install window opening or closing).
        elif rec is not None:
            self.forget(f"replaced by action {action_id}")
        fresh = await self._fetch_deployment(href)
        if fresh is None:
            return
        rec = self.flash.action
        if rec is not None and rec.id == fresh.id and rec.artifact.size == fresh.artifact.size \
                and rec.artifact.hashes == fresh.artifact.hashes:
            rec.artifact, rec.deployment_url = fresh.artifact, fresh.deployment_url
            self._install_now(rec, fresh.install_now)
            if self._worker is not None and not self._worker.done():
                return  # the worker waiting to install goes on with the new verdict
        else:
            if rec is not None:
                self.forget("the artifact changed")
            if self.flash_dir is not None:
                name = f"{quote(self.serial, safe='')}-{quote(fresh.id, safe='')}.part"
                fresh.kept = KeptBytes(self.flash_dir / name)
            self.flash.action = rec = fresh
            self.event("action", f"action {rec.id}: {rec.artifact.filename} "
                                 f"({rec.artifact.size} bytes) version {rec.version}", logging.INFO)
        self._worker = self.spawn(update.run_update(self, rec))

    async def _fetch_deployment(self, href: str) -> ActionRecord | None:
        try:
            resp = await self.http.request("GET", href, kind="deployment")
        except TransportError as exc:
            self.event("retry", f"deploymentBase: {exc}")
            return None
        if resp.status != 200:
            self.event("retry", f"deploymentBase: {resp.brief()}")
            return None
        try:
            return ddi.parse_deployment(resp.json(), href)  # None: `download: skip`, not yet
        except ValueError as exc:
            self.event("error", f"deploymentBase: {exc}", logging.WARNING)
            return None

    async def _report_installed(self, rec: ActionRecord) -> None:
        try:
            ok = await self.feedback(rec.feedback_url, ddi.feedback_body(
                rec, "closed", "success", details=[f"running firmware {rec.version}"]),
                reliable=False)
        except ActionGone:
            ok = True  # the server closed it already; the new firmware runs either way
        if ok and self.flash.action is rec:
            self.flash.action = None
            self.outcomes[rec.id] = "succeeded"
            self.phase = Phase.IDLE
            self.event("success", f"action {rec.id}: firmware {rec.version}", logging.INFO)
