"""The CLI's progress display: one live line on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from typing import TextIO

from .fleet import Fleet
from .state import Phase

PHASE_ORDER = [p.value for p in Phase]


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def format_line(summary: dict, *, elapsed: float, rate: float) -> str:
    """`00:01:23 | 100 panels: idle 20, downloading 50 | 12.3 MiB in, 4.5 KiB/s | ...`."""
    phases = summary["phases"]
    counts = ", ".join(f"{name} {phases[name]}" for name in PHASE_ORDER if phases.get(name))
    versions = ", ".join(f"{v}: {n}" for v, n in sorted(summary["versions"].items()))
    h, rest = divmod(int(elapsed), 3600)
    return (f"{h:02d}:{rest // 60:02d}:{rest % 60:02d} | {summary['panels']} panels: {counts}"
            f" | {human_bytes(summary['bytes_received'])} in, {human_bytes(rate)}/s"
            f" | updated {summary['succeeded']}, failed {summary['failed']},"
            f" cancelled {summary['cancelled']}, drops {summary['drops']} | versions {versions}")


class ProgressDisplay:
    def __init__(self, fleet: Fleet, stream: TextIO = sys.stdout, interval: float | None = None):
        self.fleet = fleet
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.interval = interval if interval is not None else (0.5 if self.tty else 10.0)
        self._t0 = time.monotonic()
        self._last = (self._t0, 0)

    def render(self) -> str:
        now = time.monotonic()
        summary = self.fleet.summary()
        then, before = self._last
        rate = (summary["bytes_received"] - before) / max(now - then, 1e-6)
        self._last = (now, summary["bytes_received"])
        return format_line(summary, elapsed=now - self._t0, rate=rate)

    def write(self, line: str) -> None:
        if self.tty:
            width = shutil.get_terminal_size((120, 20)).columns
            self.stream.write("\r" + line[:width - 1] + "\x1b[K")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.write(self.render())

    def finish(self) -> None:
        """The final state on a line of its own."""
        self._last = (self._t0, 0)  # the final line shows the average rate of the whole run
        line = self.render()
        self.stream.write(("\r" + line + "\x1b[K\n") if self.tty else line + "\n")
        self.stream.flush()
