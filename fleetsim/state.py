"""A panel's state: what survives a power cut (`Flash`) and what it shows (`Phase`, events)."""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from .spec import PanelSpec


class Phase(StrEnum):
    OFF = "off"  # not started yet
    IDLE = "idle"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"  # complete, being checked
    READY = "ready"  # checked: ready for installation, waits for a disarmed partition and the install window
    INSTALLING = "installing"
    REBOOTING = "rebooting"  # after an install or a power cut: offline
    FAILED = "failed"  # the last action failed (see Panel.last_failure)
    CRASHED = "crashed"  # a bug in the simulator; the fleet restarts the panel


class Stage(StrEnum):
    """Where an action stands, in flash (so a power cut resumes it)."""

    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    VERIFIED = "verified"
    INSTALLED = "installed"  # new firmware runs; closed+success still to be reported
    FAILED = "failed"


@dataclass
class Artifact:
    url: str
    filename: str
    size: int
    hashes: dict[str, str]


class KeptBytes:
    """The bytes of a download kept in flash: in memory, or appended to a file (a fleet of
    thousands downloading at once would otherwise hold every archive in RAM)."""

    def __init__(self, path: Path | None = None):
        self._path = path
        self._mem = bytearray() if path is None else None
        self._file = None
        self._size = 0
        if path is not None:
            path.write_bytes(b"")

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes) -> None:
        if self._mem is not None:
            self._mem += data
        else:
            if self._file is None:
                self._file = open(self._path, "ab", buffering=0)  # stays open while downloading
            self._file.write(data)
        self._size += len(data)

    def data(self) -> bytes:
        if self._mem is not None:
            return bytes(self._mem)
        self.close()
        return self._path.read_bytes()

    def flip(self, index: int) -> None:
        """Corrupt one byte (the corrupt_byte fault)."""
        if self._mem is not None:
            self._mem[index] ^= 0x5A
            return
        self.close()
        with open(self._path, "r+b") as f:
            f.seek(index)
            byte = f.read(1)[0]
            f.seek(index)
            f.write(bytes([byte ^ 0x5A]))

    def clear(self) -> None:
        self.close()
        self._size = 0
        if self._mem is not None:
            self._mem.clear()
        else:
            self._path.write_bytes(b"")

    def close(self) -> None:
        """Close the file handle (volatile state: a power cut loses it, not the bytes)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.clear()
        if self._path is not None:
            self._path.unlink(missing_ok=True)


@dataclass
class ActionRecord:
    """The action the panel works on, kept in flash with the bytes downloaded so far."""

    id: str
    deployment_url: str
    artifact: Artifact
    version: str = ""  # the chunk's version; replaced by the archive's after the check
    stage: Stage = Stage.DOWNLOADING
    kept: KeptBytes = field(default_factory=KeptBytes)
    validator: str | None = None  # for If-Range: a strong ETag, else Last-Modified
    corrupted: bool = False
    failure: str | None = None
    failure_reported: bool = False
    # The last deploymentBase's verdict: `update` not `skip` (hawkBit says skip, with
    # `maintenanceWindow: unavailable`, outside the action's install window).
    install_now: bool = True
    # After the check: the image it installs (a delta already applied) and, for a delta, the
    # version it patched.
    new_image: bytes | None = None
    delta_from: str | None = None

    @property
    def feedback_url(self) -> str:
        # DDI: POST {deploymentBase/{actionId}}/feedback, without the link's query (?c=...).
        return self.deployment_url.split("?", 1)[0].rstrip("/") + "/feedback"


@dataclass
class Flash:
    """Everything a power cut does not lose."""

    firmware_version: str
    device_type: str
    hardware_revision: str
    channels: list[str]
    partitions: list[dict]
    settings: dict
    action: ActionRecord | None = None
    # The firmware image it runs, real bytes (a delta patches them): from the fleet file's
    # `firmware_image`, then whatever it installed. None: it cannot apply a delta.
    image: bytes | None = None

    @classmethod
    def from_spec(cls, spec: PanelSpec) -> Flash:
        return cls(firmware_version=spec.firmware_version, device_type=spec.device_type,
                   hardware_revision=spec.hardware_revision, channels=list(spec.channels),
                   partitions=copy.deepcopy(spec.partitions), settings=copy.deepcopy(spec.settings),
                   image=load_image(spec.firmware_image) if spec.firmware_image else None)

    def partitions_text(self) -> str:
        return ",".join(f"{p['number']}:{'armed' if p['armed'] else 'disarmed'}"
                        for p in self.partitions)

    def settings_digest(self) -> str:
        return settings_digest(self.settings)


# Panels running one version hold equal images: one copy in memory per distinct image
# (a fleet of thousands would otherwise hold thousands of copies).
_IMAGES: dict[str, bytes] = {}
_IMAGE_FILES: dict[str, bytes] = {}


def intern_image(image: bytes | None) -> bytes | None:
    if image is None:
        return None
    return _IMAGES.setdefault(hashlib.sha256(image).hexdigest(), image)


def load_image(path: str) -> bytes:
    if path not in _IMAGE_FILES:
        _IMAGE_FILES[path] = intern_image(Path(path).read_bytes())
    return _IMAGE_FILES[path]


def settings_digest(settings: dict) -> str:
    """sha256 of canonical JSON (sorted keys, no spaces, UTF-8): the server can recompute it."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Event:
    at: float  # seconds since the panel was created (real time)
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.at:8.3f} {self.kind:<10} {self.detail}"


class EventLog:
    """The last events of a panel: what a test asserts on and a human reads after a run."""

    def __init__(self, maxlen: int = 500):
        self._t0 = time.monotonic()
        self._events: deque[Event] = deque(maxlen=maxlen)

    def add(self, kind: str, detail: str) -> Event:
        event = Event(time.monotonic() - self._t0, kind, detail)
        self._events.append(event)
        return event

    def __iter__(self):
        return iter(list(self._events))

    def __len__(self) -> int:
        return len(self._events)

    def of(self, kind: str) -> list[Event]:
        return [e for e in list(self._events) if e.kind == kind]

    def text(self) -> str:
        return "\n".join(str(e) for e in list(self._events))


# Signals between the update worker and the panel's life cycle --------------------------
class Restart(Exception):
    """Raised out of the panel's task group to reboot it (install) after `seconds`."""

    def __init__(self, seconds: float, reason: str):
        super().__init__(reason)
        self.seconds = seconds
        self.reason = reason


class PowerCut(Restart):
    """Power lost: everything but flash is gone; the panel boots again after `seconds`."""


class ActionGone(Exception):
    """The server answered 404/410 for the action: it no longer exists."""
