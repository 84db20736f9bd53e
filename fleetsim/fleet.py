"""A fleet of panels on one event loop: run it with `await fleet.run()` or in a thread.

    fleet = Fleet("http://127.0.0.1:8000", [PanelSpec(serial="P1", tenant="demo", token="t")],
                  time_scale=0.01)
    with fleet:                                   # start_in_thread() ... stop()
        fleet.wait_until(lambda: fleet.panel("P1").firmware_version == "5.40", timeout=30)

Panels live on the fleet's loop. From another thread, read their attributes freely (plain
values) but change them only through the thread-safe methods here (`poll_now`,
`set_partition`, `set_power`, `call`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

from .http import check_loopback
from .panel import Panel
from .spec import PanelSpec
from .state import Phase
from .wakeup import WakeupListener, parse_listen

log = logging.getLogger("fleetsim.fleet")

CRASH_PAUSE = 30.0  # simulated seconds before a crashed panel is started again


class Fleet:
    def __init__(self, server_url: str, panels: Iterable[PanelSpec], *, time_scale: float = 1.0,
                 wakeup_listen: str | None = None, seed: int | str = 0,
                 request_timeout: float = 30.0, start_spread: float = 5.0,
                 flash_dir: str | Path | None = None):
        """server_url: `http://127.0.0.1:8000` (loopback only). time_scale scales the panels'
        sleeps, reboots and offline periods (0.01: a minute lasts 0.6 s), never bandwidth.
        start_spread: panels start at random within this many simulated seconds.
        flash_dir: keep downloads in files there instead of in memory (large fleets)."""
        parts = urlsplit(server_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"server URL must be http://HOST:PORT, not {server_url!r}")
        check_loopback(parts.hostname)
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.server_url = server_url.rstrip("/")
        self.time_scale = time_scale
        self.start_spread = start_spread
        self.wakeup_listen = parse_listen(wakeup_listen) if wakeup_listen else None
        self.wakeup_address: tuple[str, int] | None = None
        self.panels: dict[str, Panel] = {}
        flash = Path(flash_dir) if flash_dir is not None else None
        if flash is not None:
            flash.mkdir(parents=True, exist_ok=True)
        for spec in panels:
            if spec.serial in self.panels:
                raise ValueError(f"duplicate serial {spec.serial!r}")
            self.panels[spec.serial] = Panel(spec, server_url=self.server_url,
                                             time_scale=time_scale,
                                             request_timeout=request_timeout, seed=seed,
                                             flash_dir=flash)
        self._rng = random.Random(f"{seed}:fleet")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = False
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._ran = False
        self.started_at: float | None = None

    # Access ----------------------------------------------------------------------------
    def panel(self, serial: str) -> Panel:
        return self.panels[serial]

    def __iter__(self):
        return iter(list(self.panels.values()))

    def __len__(self) -> int:
        return len(self.panels)

    def summary(self) -> dict:
        """Counts for a progress line or a report (cheap; safe from any thread)."""
        panels = list(self.panels.values())
        # list() copies in one step: the loop thread may be adding outcomes meanwhile.
        outcomes = Counter(o for p in panels for o in list(p.outcomes.values()))
        return {
            "panels": len(panels),
            "phases": dict(Counter(str(p.phase) for p in panels)),
            "versions": dict(Counter(p.firmware_version for p in panels)),
            "succeeded": outcomes["succeeded"], "failed": outcomes["failed"],
            "cancelled": outcomes["cancelled"],
            "bytes_received": sum(p.stats.bytes_received for p in panels),
            "artifact_bytes": sum(p.artifact_bytes_received for p in panels),
            "kept_bytes": sum(p.kept_bytes for p in panels),
            "requests": sum(p.stats.requests for p in panels),
            "drops": sum(p.drops for p in panels),
            "power_cuts": sum(p.power_cuts for p in panels),
            "crashes": sum(p.crashes for p in panels),
        }

    # Running ---------------------------------------------------------------------------
    async def run(self, duration: float | None = None) -> None:
        """Run until stop() (or for `duration` real seconds). A fleet runs once."""
        if self._ran:
            raise RuntimeError("a fleet runs once; build a new one")
        self._ran = True
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stop_requested:
            self._stop.set()
        listener = None
        tasks: list[asyncio.Task] = []
        try:
            if self.wakeup_listen:
                listener = WakeupListener(self, *self.wakeup_listen)
                self.wakeup_address = await listener.start()
            self.started_at = time.monotonic()
            for panel in self.panels.values():
                delay = self._rng.uniform(0, self.start_spread) * self.time_scale
                tasks.append(asyncio.create_task(self._supervise(panel, delay),
                                                 name=f"panel {panel.serial}"))
            self._started.set()
            try:
                async with asyncio.timeout(duration):
                    await self._stop.wait()
            except TimeoutError:
                pass
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if listener is not None:
                await listener.close()

    async def _supervise(self, panel: Panel, delay: float) -> None:
        """Never let one panel's bug take the fleet down: log it, restart the panel."""
        await asyncio.sleep(delay)
        while True:
            try:
                await panel.run()
            except Exception:
                panel.crashes += 1
                panel.phase = Phase.CRASHED
                panel.event("crash", "the simulator crashed; restarting the panel")
                log.exception("panel %s crashed", panel.serial)
                await panel.http.close()
                await asyncio.sleep(CRASH_PAUSE * self.time_scale)

    def start_in_thread(self, timeout: float = 10.0) -> Fleet:
        """Run the fleet's loop in a daemon thread; returns once the panels are started."""
        if self._thread is not None:
            raise RuntimeError("the fleet is already running")

        def main() -> None:
            try:
                asyncio.run(self.run())
            except BaseException as exc:  # surfaced by start_in_thread / stop
                self._error = exc
                log.exception("the fleet stopped on an error")
            finally:
                self._started.set()

        self._thread = threading.Thread(target=main, name="fleetsim", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError("the fleet did not start")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the fleet: from its own loop (e.g. a signal handler) or from another thread."""
        self._stop_requested = True
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is self._loop:
                self._stop.set()
            else:
                try:
                    self._loop.call_soon_threadsafe(self._stop.set)
                except RuntimeError:
                    pass  # the loop closed meanwhile: the fleet has stopped already
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Fleet:
        return self.start_in_thread()

    def __exit__(self, *exc) -> None:
        self.stop()

    # Thread-safe commands --------------------------------------------------------------
    def call(self, fn: Callable, *args, timeout: float = 10.0):
        """Run fn(*args) on the fleet's loop and return its result (from any thread)."""
        if self._loop is None:
            raise RuntimeError("the fleet is not running")
        try:
            if asyncio.get_running_loop() is self._loop:
                return fn(*args)
        except RuntimeError:
            pass

        async def invoke():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(invoke(), self._loop).result(timeout)

    def poll_now(self, serials: Iterable[str] | None = None) -> list[str]:
        """Wake panels (all by default); returns the serials that heard it."""
        chosen = list(self.panels) if serials is None else list(serials)
        return self.call(lambda: [s for s in chosen if self.panels[s].poll_now()])

    def set_partition(self, serial: str, number: int, armed: bool) -> bool:
        return self.call(self.panels[serial].set_partition, number, armed)

    def set_power(self, serial: str, *, supply: str | None = None, battery: str | None = None) -> bool:
        """Mains fails or returns (`supply` mains | battery), the battery runs low or is charged."""
        return self.call(lambda: self.panels[serial].set_power(supply=supply, battery=battery))

    # Waiting ---------------------------------------------------------------------------
    def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0,
                   interval: float = 0.01, what: str | None = None) -> None:
        """Block (in a thread other than the fleet's) until predicate() is true."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self._error is not None:
                raise RuntimeError("the fleet stopped") from self._error
            if time.monotonic() > deadline:
                raise TimeoutError(self._timeout_report(what or getattr(predicate, "__name__", "")))
            time.sleep(interval)

    async def until(self, predicate: Callable[[], bool], timeout: float = 10.0,
                    interval: float = 0.01, what: str | None = None) -> None:
        """The same, awaited on the fleet's own loop."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(self._timeout_report(what or getattr(predicate, "__name__", "")))
            await asyncio.sleep(interval)

    def _timeout_report(self, what: str) -> str:
        lines = [f"condition not met in time: {what}"]
        for panel in list(self.panels.values())[:5]:
            lines.append(f"--- {panel.serial}: phase {panel.phase}, firmware {panel.firmware_version},"
                         f" kept {panel.kept_bytes}, last failure {panel.last_failure}")
            lines.extend(str(e) for e in list(panel.events)[-25:])
        return "\n".join(lines)
