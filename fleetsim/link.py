"""The link model of one panel: bandwidth, latency, drops, offline periods, a power cut.

Every byte a panel sends or receives passes through its `Link` (see `fleetsim.http`), so
the model decides when a connection breaks and how fast bytes arrive. Randomness comes
from the panel's own seeded RNG, so a run is reproducible byte for byte: the same seed
drops the same connections after the same numbers of bytes.

Bandwidth and latency are physics of the link and stay in real seconds; the time scale
applies to durations the panel lives through (offline periods, sleeps, reboots).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class LinkProfile:
    """What a link is like. All durations in simulated seconds unless said otherwise."""

    bandwidth: float | None = None  # bytes/s in each direction, real time; None = unlimited
    latency: float = 0.0  # real seconds added to every request and every new connection
    drop_every_kib: float | None = None  # mean KiB received between forced disconnects
    offline_for: float = 0.0  # offline this long ...
    offline_every: float = 0.0  # ... once in every period this long
    power_cut_at: float | None = None  # one power cut once this fraction of a download is kept

    @classmethod
    def from_value(cls, value: str | dict | LinkProfile | None) -> LinkProfile:
        """A preset name, a profile, or a dict `{"preset": name, <field>: value, ...}`."""
        if value is None:
            return PRESETS["ethernet"]
        if isinstance(value, LinkProfile):
            return value
        if isinstance(value, str):
            if value not in PRESETS:
                raise ValueError(f"unknown link preset {value!r}; known: {', '.join(PRESETS)}")
            return PRESETS[value]
        if not isinstance(value, dict):
            raise ValueError(f"link must be a preset name or an object, not {value!r}")
        options = dict(value)
        base = cls.from_value(options.pop("preset", "ethernet"))
        known = {f.name for f in fields(cls)}
        unknown = set(options) - known
        if unknown:
            raise ValueError(f"unknown link option(s): {', '.join(sorted(unknown))}")
        profile = replace(base, **options)
        profile.validate()
        return profile

    def validate(self) -> None:
        if self.bandwidth is not None and self.bandwidth <= 0:
            raise ValueError("link bandwidth must be positive (or null for unlimited)")
        if self.drop_every_kib is not None and self.drop_every_kib <= 0:
            raise ValueError("link drop_every_kib must be positive (or null for no drops)")
        if self.latency < 0 or self.offline_for < 0 or self.offline_every < 0:
            raise ValueError("link durations must not be negative")
        if self.offline_for and self.offline_for >= self.offline_every:
            raise ValueError("link offline_for must be shorter than offline_every")
        if self.power_cut_at is not None and not 0 <= self.power_cut_at < 1:
            raise ValueError("link power_cut_at is a fraction in [0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, LinkProfile] = {
    # Loopback speed, nothing goes wrong: for tests and server benchmarks.
    "unlimited": LinkProfile(),
    "ethernet": LinkProfile(bandwidth=1_000_000, latency=0.02, drop_every_kib=32_768),
    "gprs": LinkProfile(bandwidth=5_000, latency=0.6, drop_every_kib=64),
    # A basement: slow, drops often, loses the network for two minutes every quarter hour.
    "gprs-bad": LinkProfile(bandwidth=2_000, latency=1.5, drop_every_kib=24,
                            offline_for=120, offline_every=900),
}


class Link:
    """The live state of one panel's link; shared by all of the panel's connections."""

    def __init__(self, profile: LinkProfile, *, rng: random.Random, time_scale: float = 1.0,
                 clock=time.monotonic):
        self.profile = profile
        self.time_scale = time_scale
        self._rng = rng
        self._clock = clock
        self._t0 = clock()
        period = profile.offline_every * time_scale
        # A random phase, so a fleet's panels do not all lose the network together.
        self._phase = rng.uniform(0, period) if profile.offline_for and period else 0.0
        self._drop_budget = self._draw_budget()
        self._rx_ready = 0.0  # monotonic time when the link can deliver the next byte
        self._tx_ready = 0.0
        self.drops = 0

    # Offline periods ----------------------------------------------------------------
    def offline_remaining(self) -> float:
        """Real seconds until the link is back; 0 when online."""
        p = self.profile
        if not p.offline_for or not p.offline_every:
            return 0.0
        period = p.offline_every * self.time_scale
        length = p.offline_for * self.time_scale
        pos = (self._clock() - self._t0 + self._phase) % period
        return length - pos if pos < length else 0.0

    def online(self) -> bool:
        return self.offline_remaining() == 0.0

    async def wait_online(self) -> None:
        while (left := self.offline_remaining()) > 0:
            await asyncio.sleep(left)

    # Latency and bandwidth ----------------------------------------------------------
    async def delay(self) -> None:
        """One round trip's worth of latency (with a little jitter)."""
        if self.profile.latency:
            await asyncio.sleep(self.profile.latency * self._rng.uniform(0.8, 1.2))

    def chunk_size(self) -> int:
        """How many bytes to read at a time: small on slow links so pacing stays smooth."""
        bw = self.profile.bandwidth
        return 65_536 if bw is None else max(512, min(65_536, int(bw / 10)))

    async def _pace(self, attr: str, n: int) -> None:
        bw = self.profile.bandwidth
        if bw is None or n <= 0:
            return
        now = self._clock()
        ready = max(now, getattr(self, attr)) + n / bw
        setattr(self, attr, ready)
        if ready - now > 0.001:
            await asyncio.sleep(ready - now)

    async def received(self, n: int) -> None:
        """Account for n bytes that arrived; waits as long as the bandwidth says."""
        if self.profile.drop_every_kib is not None:
            self._drop_budget -= n
        await self._pace("_rx_ready", n)

    async def sent(self, n: int) -> None:
        await self._pace("_tx_ready", n)

    # Drops --------------------------------------------------------------------------
    def _draw_budget(self) -> float:
        kib = self.profile.drop_every_kib
        if kib is None:
            return float("inf")
        # Exponential gaps: drops come at random, on average every `kib` KiB.
        return max(1.0, self._rng.expovariate(1.0 / (kib * 1024)))

    def read_allowance(self, want: int) -> int:
        """Bytes that may be read before the next drop; 0 means: drop the connection now."""
        if self._drop_budget <= 0:
            return 0
        return int(min(want, max(1, self._drop_budget)))

    def dropped(self) -> None:
        """The connection was just cut by the model: start counting towards the next drop."""
        self.drops += 1
        self._drop_budget = self._draw_budget()
