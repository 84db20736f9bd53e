"""What a panel is: `PanelSpec` (+ `Faults`, `Arming`) and the fleet file that lists them.

A fleet file is JSON: either a list of panel objects, or `{"defaults": {...}, "panels":
[...]}` where each panel object is merged over the defaults. See docs/fleetsim.md.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from .link import LinkProfile


def _strict(cls, data: dict, what: str) -> None:
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"{what}: unknown key(s) {', '.join(sorted(unknown))}")


@dataclass(frozen=True)
class FailInstall:
    """Firmware versions that do not start on the panel (the `fail_install` fault): the
    install runs, the panel reboots, the watchdog resets it and the bootloader goes back to
    the firmware it ran before, then it reports closed/failure.

    `versions` None: every version. `share` below 1: only the panels whose serial hashes
    below it (sha256, so the same panels on every run and with every seed): a fleet-level
    rule for the fleet file's defaults, e.g. 30 % of the panels fail 5.41.
    """

    versions: tuple[str, ...] | None = None
    share: float = 1.0

    @classmethod
    def from_value(cls, value) -> FailInstall | None:
        """True, `["5.41", ...]`, `{"versions": [...], "share": 0.3}`, or False / None."""
        if value is None or value is False:
            return None
        if isinstance(value, cls):
            return value
        if value is True:
            return cls()
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            value = {"versions": value}
        if not isinstance(value, dict):
            raise ValueError(f"fail_install must be true, a list of versions or an object, not {value!r}")
        _strict(cls, value, "fail_install")
        versions, share = value.get("versions"), float(value.get("share", 1.0))
        if not 0 <= share <= 1:
            raise ValueError(f"fail_install share must be in [0, 1], not {share}")
        return cls(versions=None if versions is None else tuple(str(v) for v in versions), share=share)

    def applies(self, serial: str, version: str) -> bool:
        if self.versions is not None and version not in self.versions:
            return False
        return self.share >= 1 or serial_fraction(serial) < self.share

    def to_value(self):
        if self.share >= 1:
            return True if self.versions is None else list(self.versions)
        return {"versions": None if self.versions is None else list(self.versions), "share": self.share}


def serial_fraction(serial: str) -> float:
    """A serial's fixed place in [0, 1): the same on every run, whatever the seed."""
    return int.from_bytes(hashlib.sha256(serial.encode()).digest()[:8], "big") / 2**64


@dataclass(frozen=True)
class Faults:
    """Fault switches. `wrong_board` / `wrong_device_type` make the panel *hold* another
    board revision / device type than it reports: the server queues it, and the panel's
    own archive check refuses the update (True picks a value no archive supports).
    `fail_install`: versions whose install fails after the reboot (`FailInstall`).
    `offline_after_install`: after the install's reboot the panel stays off the line, for
    ever (True) or for that many more simulated seconds (a modem that does not register
    again, a GPRS cell that takes minutes): the alarm centre's "did not come back"."""

    corrupt_byte: bool = False  # flip one byte of the downloaded file
    wrong_board: bool | str = False
    wrong_device_type: bool | str = False
    never_disarm: bool = False  # arm every partition at boot and never disarm one
    refuse_cancel: bool = False  # answer `rejected` to a cancel even mid-download
    fail_install: FailInstall | None = None
    offline_after_install: bool | float = False

    def __post_init__(self):
        value = self.offline_after_install
        if value is not True and value is not False and (
                not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < float("inf")):
            raise ValueError(f"offline_after_install must be true, false or seconds (>= 0), not {value!r}")

    def offline_after_install_seconds(self) -> float:
        """Simulated seconds the panel stays off the line after its install's reboot."""
        if self.offline_after_install is True:
            return float("inf")
        return float(self.offline_after_install or 0)

    @classmethod
    def from_value(cls, value) -> Faults:
        """`["corrupt_byte", ...]`, `{"wrong_board": "1.0", "fail_install": ["5.41"], ...}` or None."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, list | tuple):
            value = dict.fromkeys(value, True)
        if not isinstance(value, dict):
            raise ValueError(f"faults must be a list of names or an object, not {value!r}")
        _strict(cls, value, "faults")
        if "fail_install" in value:
            value = {**value, "fail_install": FailInstall.from_value(value["fail_install"])}
        return cls(**value)

    def install_fails(self, serial: str, version: str) -> bool:
        return self.fail_install is not None and self.fail_install.applies(serial, version)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}
        if self.fail_install is not None:
            data["fail_install"] = self.fail_install.to_value()
        return data


@dataclass(frozen=True)
class Arming:
    """How the people at the site arm and disarm partitions (simulated seconds).

    static: never changes; random: each partition toggles on average every `mean_toggle`
    seconds; night: every partition armed from `night_from` to `night_to` o'clock of a
    simulated day of `day_length` seconds; the panel starts at `start_hour` o'clock.
    """

    mode: str = "static"
    mean_toggle: float = 3600.0
    night_from: int = 22
    night_to: int = 6
    day_length: float = 86400.0
    start_hour: float = 12.0

    @classmethod
    def from_value(cls, value) -> Arming:
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            value = {"mode": value}
        if not isinstance(value, dict):
            raise ValueError(f"arming must be a mode name or an object, not {value!r}")
        _strict(cls, value, "arming")
        arming = cls(**value)
        if arming.mode not in ("static", "random", "night"):
            raise ValueError(f"arming mode {arming.mode!r}: expected static, random or night")
        return arming

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class PowerSupply:
    """What the panel runs on (simulated seconds), as issue 14 has panels report it (configData
    `power`: mains | battery, `battery`: ok | low) and wait for it: a panel installs only on
    mains power with its battery ok, as it installs only while a partition is disarmed.

    static: `supply` and `battery` stay as given (a test or the demo changes them by command);
    outages: the mains fails for `outage_for` seconds once every `outage_every`, the first time
    `first_outage_at` seconds after the panel starts; after `low_after` seconds on battery (None:
    never) the battery is low, and ok again `recharge_for` seconds after the mains is back.
    `report` False: a panel whose firmware knows nothing of power (it neither reports nor waits
    for it; the server then holds nothing back for it).
    """

    mode: str = "static"
    supply: str = "mains"
    battery: str = "ok"
    outage_every: float = 86400.0
    outage_for: float = 1800.0
    first_outage_at: float = 0.0
    low_after: float | None = 1200.0
    recharge_for: float = 600.0
    report: bool = True

    @classmethod
    def from_value(cls, value) -> PowerSupply:
        """None, "mains", "battery", or an object of the fields above."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            value = {"supply": value}
        if not isinstance(value, dict):
            raise ValueError(f"power must be mains, battery or an object, not {value!r}")
        _strict(cls, value, "power")
        power = cls(**value)
        if power.mode not in ("static", "outages"):
            raise ValueError(f"power mode {power.mode!r}: expected static or outages")
        if power.supply not in ("mains", "battery") or power.battery not in ("ok", "low"):
            raise ValueError("power supply is mains or battery, battery ok or low")
        if power.mode == "outages" and not (0 < power.outage_for
                                            and power.outage_for + power.recharge_for < power.outage_every):
            raise ValueError("power outages: outage_for and recharge_for must fit within outage_every")
        return power

    def state_at(self, elapsed: float) -> tuple[str, str]:
        """(supply, battery) `elapsed` simulated seconds after the panel started."""
        if self.mode == "static" or elapsed < self.first_outage_at:
            return self.supply, self.battery
        phase = (elapsed - self.first_outage_at) % self.outage_every
        if phase < self.outage_for:
            return "battery", "low" if self.low_after is not None and phase >= self.low_after else "ok"
        drained = self.low_after is not None and self.outage_for > self.low_after
        return "mains", "low" if drained and phase - self.outage_for < self.recharge_for else "ok"

    def next_change(self, elapsed: float) -> float:
        """Simulated seconds from `elapsed` until the state may change (outages only)."""
        if elapsed < self.first_outage_at:
            return self.first_outage_at - elapsed
        phase = (elapsed - self.first_outage_at) % self.outage_every
        marks = [self.outage_for, self.outage_for + self.recharge_for, self.outage_every]
        if self.low_after is not None and self.low_after < self.outage_for:
            marks.append(self.low_after)
        return min(mark for mark in marks if mark > phase) - phase

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def parse_partitions(value) -> list[dict]:
    """`[{"number": 1, "armed": true}, ...]` or the configData form `"1:armed,2:disarmed"`."""
    if isinstance(value, str):
        result = []
        for item in filter(None, (p.strip() for p in value.split(","))):
            number, _, state = item.partition(":")
            if state not in ("armed", "disarmed"):
                raise ValueError(f"partition {item!r}: expected <number>:armed|disarmed")
            result.append({"number": int(number), "armed": state == "armed"})
        value = result
    if not isinstance(value, list) or not value:
        raise ValueError("partitions must be a non-empty list")
    parts = []
    for p in value:
        if not isinstance(p, dict) or set(p) - {"number", "armed"} or "number" not in p:
            raise ValueError(f"partition {p!r}: expected {{'number': int, 'armed': bool}}")
        parts.append({"number": int(p["number"]), "armed": bool(p.get("armed", False))})
    if len({p["number"] for p in parts}) != len(parts):
        raise ValueError("partition numbers must be unique")
    return sorted(parts, key=lambda p: p["number"])


@dataclass
class PanelSpec:
    """One panel as it is when the fleet starts."""

    serial: str
    tenant: str  # the receiver code
    token: str | None = None  # sent as `TargetToken <token>`
    gateway_token: str | None = None  # sent as `GatewayToken <token>` when no token is set
    device_type: str = "nord-gsm"
    hardware_revision: str = "2.1"
    firmware_version: str = "5.30"
    channels: list[str] = field(default_factory=lambda: ["gprs"])
    partitions: list[dict] = field(default_factory=lambda: [{"number": 1, "armed": False}])
    settings: dict = field(default_factory=dict)
    link: LinkProfile = field(default_factory=lambda: LinkProfile.from_value("ethernet"))
    arming: Arming = field(default_factory=Arming)
    power: PowerSupply = field(default_factory=PowerSupply)
    faults: Faults = field(default_factory=Faults)
    trusted_certs_pem: bytes | None = None  # when set, archives must be signed by one of them
    # A file holding the image of `firmware_version` the panel runs (real bytes: a delta
    # patches them); relative paths are relative to the fleet file. None: it holds no image
    # and refuses deltas (the server then sends the full archive).
    firmware_image: str | None = None
    reboot_seconds: float = 8.0  # install + reboot, simulated seconds (the seed: <= 10 s)
    seed: int | None = None  # RNG seed; default: derived from the fleet seed and the serial

    def __post_init__(self):
        if not self.serial or not self.tenant:
            raise ValueError("a panel needs a serial and a tenant")
        self.link = LinkProfile.from_value(self.link)
        self.arming = Arming.from_value(self.arming)
        self.power = PowerSupply.from_value(self.power)
        self.faults = Faults.from_value(self.faults)
        self.partitions = parse_partitions(self.partitions)
        if isinstance(self.channels, str):
            self.channels = [c.strip() for c in self.channels.split(",") if c.strip()]
        if isinstance(self.trusted_certs_pem, str):
            self.trusted_certs_pem = self.trusted_certs_pem.encode()
        if not 0 < self.reboot_seconds <= 10:
            raise ValueError("reboot_seconds must be in (0, 10]: the update takes at most 10 s")

    @property
    def authorization(self) -> str | None:
        if self.token:
            return f"TargetToken {self.token}"
        if self.gateway_token:
            return f"GatewayToken {self.gateway_token}"
        return None

    @classmethod
    def from_dict(cls, data: dict, *, base_dir: Path | None = None) -> PanelSpec:
        """Build from a fleet-file object; `trusted_certs_file` is relative to base_dir."""
        data = dict(data)
        cert_file = data.pop("trusted_certs_file", None)
        if cert_file:
            path = Path(cert_file)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            data["trusted_certs_pem"] = path.read_bytes()
        if "trusted_certs" in data:
            data["trusted_certs_pem"] = data.pop("trusted_certs")
        image = data.get("firmware_image")
        if image and not Path(image).is_absolute() and base_dir is not None:
            data["firmware_image"] = str(base_dir / image)
        _strict(cls, data, f"panel {data.get('serial', '?')}")
        return cls(**data)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["link"] = self.link.to_dict()
        data["arming"] = self.arming.to_dict()
        data["power"] = self.power.to_dict()
        data["faults"] = self.faults.to_dict()
        pem = data.pop("trusted_certs_pem")
        if pem:
            data["trusted_certs"] = pem.decode()
        return {k: v for k, v in data.items() if v is not None}


def parse_fleet(document, *, base_dir: Path | None = None) -> list[PanelSpec]:
    """Panels from a parsed fleet file (a list, or an object with defaults and panels)."""
    defaults: dict = {}
    if isinstance(document, dict):
        if set(document) - {"defaults", "panels"}:
            raise ValueError("a fleet object has only 'defaults' and 'panels'")
        defaults = document.get("defaults") or {}
        document = document.get("panels")
    if not isinstance(document, list):
        raise ValueError("a fleet file is a list of panels or {'defaults': ..., 'panels': [...]}")
    specs = [PanelSpec.from_dict({**defaults, **item}, base_dir=base_dir) for item in document]
    serials = [s.serial for s in specs]
    if len(set(serials)) != len(serials):
        raise ValueError("serials in a fleet must be unique")
    return specs


def load_fleet(path: str | Path) -> list[PanelSpec]:
    path = Path(path)
    return parse_fleet(json.loads(path.read_text()), base_dir=path.parent)


def dump_fleet(specs: list[PanelSpec]) -> str:
    return json.dumps([s.to_dict() for s in specs], indent=2)
