"""fleetsim against a small DDI-like server written here (real HTTP on 127.0.0.1).

The real server's integration tests live elsewhere; these prove the device side: resume
after drops and power cuts, cancel acknowledge/refuse, the archive checks, the wait for a
disarmed partition and for the install window, state kept across the reboot, wake-up. No
database needed.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from firmware_updates.swu import build_archive, make_signing_identity
from fleetsim import Faults, Fleet, PanelSpec, PowerSupply, dump_fleet, parse_fleet, settings_digest
from fleetsim.http import NotLoopback
from fleetsim.link import Link, LinkProfile
from fleetsim.wakeup import parse_listen

ROOT = Path(__file__).resolve().parent.parent
SCALE = 0.01  # a 5 s poll sleep lasts 50 ms, a reboot of 2 s lasts 20 ms
LAST_MODIFIED = "Wed, 26 Nov 2025 10:00:00 GMT"
PATH = re.compile(r"^/(?P<tenant>[^/]+)/controller/v1/(?P<serial>[^/?]+)(?P<rest>/[^?]*)?")


def make_archive(*, size: int = 512 * 1024, version: str = "5.40", key=None, cert=None) -> bytes:
    out = io.BytesIO()
    image = random.Random(size).randbytes(size)
    build_archive(out, device_type="nord-gsm", version=version, hardware_revisions=["2.1", "2.2"],
                  images=[("fw.bin", image)], key_pem=key, cert_pem=cert)
    return out.getvalue()


@pytest.fixture(scope="module")
def archive() -> bytes:
    return make_archive()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address):
        pass  # panels cut connections on purpose (the link model); no tracebacks


class FakeDdi:
    """Just enough of hawkBit's controller API: poll, configData, deploymentBase, feedback,
    cancelAction and an artifact with Range / If-Range / ETag. Records what panels did."""

    def __init__(self, poll_sleep: str = "00:00:05"):
        self.poll_sleep = poll_sleep
        self.lock = threading.Lock()
        self.actions: dict[str, dict] = {}
        self.log: list[tuple] = []  # (serial, kind, payload) in arrival order
        self.config_stored: set[str] = set()
        self.polls: Counter = Counter()
        self.token: str | None = None  # when set, polls need "TargetToken <token>"
        self.ignore_range_once = False  # answer one ranged request with 200 and a new ETag
        self.gone_on: str | None = None  # answer 410 to this feedback execution
        self.chunked_polls = False
        self.weak_etag = False  # a weak ETag must never be used in If-Range
        self.failures = Counter()  # {"poll"|"artifact": n}: answer the next n with HTTP 503
        self.stall_deployment = 0.0  # seconds to sit on the first deploymentBase request
        self.stall_progress = 0.0  # seconds a download's `proceeding` takes before it is taken
        self.httpd = _QuietServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def assign(self, serial: str, data: bytes, action_id: str = "1") -> None:
        with self.lock:
            etag = 'W/"v1"' if self.weak_etag else '"v1"'
            self.actions[serial] = {"id": action_id, "data": data, "etag": etag,
                                    "state": "active", "cancel": False, "window": None}

    def set_window(self, serial: str, status: str | None) -> None:
        """The action's install window: None (no window), "available" or "unavailable"."""
        with self.lock:
            self.actions[serial]["window"] = status

    def cancel(self, serial: str) -> None:
        with self.lock:
            self.actions[serial]["cancel"] = True

    def entries(self, serial: str, kind: str) -> list:
        with self.lock:
            return [payload for s, k, payload in self.log if s == serial and k == kind]

    def executions(self, serial: str, kind: str = "feedback") -> list[tuple]:
        return [(b["status"]["execution"], b["status"]["result"]["finished"])
                for b in self.entries(serial, kind)]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        ddi = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go in separate writes

            def log_message(self, *args):
                pass

            def send_json(self, status: int, doc, chunked: bool = False):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    half = len(body) // 2
                    for part in (body[:half], body[half:], b""):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def body(self):
                return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def route(self):
                m = PATH.match(self.path)
                if not m:
                    self.send_json(404, {})
                    return None
                serial, rest = m["serial"], m["rest"] or ""
                base = f"http://{self.headers['Host']}/{m['tenant']}/controller/v1/{serial}"
                return serial, rest, base, ddi.actions.get(serial)

            def do_GET(self):
                routed = self.route()
                if not routed:
                    return
                serial, rest, base, act = routed
                auth = self.headers.get("Authorization", "")
                if ddi.token and auth != f"TargetToken {ddi.token}":
                    return self.send_json(401, {"message": "bad token"})
                kind = rest.split("/")[1] if rest else "poll"
                with ddi.lock:
                    fail = ddi.failures[kind] > 0
                    ddi.failures[kind] -= fail
                if fail:
                    return self.send_json(503, {"message": "try later"})
                if rest == "":
                    with ddi.lock:
                        ddi.polls[serial] += 1
                        ddi.log.append((serial, "poll", auth))
                    links = {}
                    if serial not in ddi.config_stored:
                        links["configData"] = {"href": f"{base}/configData"}
                    if act and act["state"] == "active":
                        if act["cancel"]:
                            links["cancelAction"] = {"href": f"{base}/cancelAction/{act['id']}"}
                        else:
                            links["deploymentBase"] = {
                                "href": f"{base}/deploymentBase/{act['id']}?c=-77"}
                    return self.send_json(200, {"config": {"polling": {"sleep": ddi.poll_sleep}},
                                                "_links": links}, chunked=ddi.chunked_polls)
                if not act or act["state"] != "active":
                    return self.send_json(404, {})
                if rest == f"/deploymentBase/{act['id']}":
                    import hashlib

                    stall, ddi.stall_deployment = ddi.stall_deployment, 0.0
                    time.sleep(stall)
                    data = act["data"]
                    url = f"{base}/softwaremodules/1/artifacts/fw.swu"
                    art = {"filename": "fw.swu", "size": len(data),
                           "hashes": {"sha256": hashlib.sha256(data).hexdigest(),
                                      "sha1": hashlib.sha1(data).hexdigest(),
                                      "md5": hashlib.md5(data).hexdigest()},
                           "_links": {"download-http": {"href": url},
                                      "md5sum-http": {"href": url + ".MD5SUM"}}}
                    chunk = {"part": "os", "version": "5.40", "name": "nord-gsm", "artifacts": [art]}
                    deployment = {"download": "forced", "update": "forced", "chunks": [chunk]}
                    with ddi.lock:
                        ddi.log.append((serial, "deployment", act["window"]))
                        if act["window"]:  # as hawkBit: skip the update while it is unavailable
                            deployment["maintenanceWindow"] = act["window"]
                            deployment["update"] = "skip" if act["window"] == "unavailable" else "forced"
                    return self.send_json(200, {"id": act["id"], "deployment": deployment})
                if rest == f"/cancelAction/{act['id']}":
                    return self.send_json(200, {"id": act["id"],
                                                "cancelAction": {"stopId": act["id"]}})
                if rest == "/softwaremodules/1/artifacts/fw.swu":
                    return self.artifact(serial, act)
                self.send_json(404, {})

            def artifact(self, serial, act):
                data, rng, if_range = act["data"], self.headers.get("Range"), self.headers.get("If-Range")
                with ddi.lock:
                    ddi.log.append((serial, "artifact", {"range": rng, "if-range": if_range}))
                    if rng and ddi.ignore_range_once:
                        ddi.ignore_range_once = False
                        act["etag"] = '"v2"'
                start, status = 0, 200
                strong = not act["etag"].startswith("W/")
                if rng and (if_range is None or if_range == LAST_MODIFIED
                            or (strong and if_range == act["etag"])):
                    start, status = int(rng.removeprefix("bytes=").rstrip("-")), 206
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                self.send_response(status)
                self.send_header("ETag", act["etag"])
                self.send_header("Last-Modified", LAST_MODIFIED)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                with contextlib.suppress(ConnectionError):
                    for i in range(start, len(data), 65536):
                        self.wfile.write(data[i:i + 65536])

            def do_PUT(self):
                routed = self.route()
                if routed and routed[1] == "/configData":
                    body = self.body()
                    with ddi.lock:
                        ddi.log.append((routed[0], "config", body["data"]))
                        ddi.config_stored.add(routed[0])
                    self.send_json(200, {})

            def do_POST(self):
                routed = self.route()
                if not routed:
                    return
                serial, rest, _, act = routed
                body = self.body()
                if not act or act["state"] != "active":
                    return self.send_json(410, {})
                execution = body["status"]["execution"]
                kind = "cancel-feedback" if rest.startswith("/cancelAction/") else "feedback"
                if execution == "proceeding" and ddi.stall_progress:
                    time.sleep(ddi.stall_progress)  # a busy server: the report is taken late
                with ddi.lock:
                    ddi.log.append((serial, kind, body))
                    if ddi.gone_on == execution:
                        act["state"] = "gone"
                        return self.send_json(410, {})
                    if kind == "cancel-feedback":
                        act["cancel"] = False
                        if execution == "closed":
                            act["state"] = "cancelled"
                    elif execution == "closed":
                        act["state"] = body["status"]["result"]["finished"]
                self.send_json(200, {})

        return Handler


@pytest.fixture
def ddi():
    server = FakeDdi()
    yield server
    server.close()


def spec(serial: str = "P1", **overrides) -> PanelSpec:
    values = {"serial": serial, "tenant": "demo", "token": f"tok-{serial}", "link": "unlimited",
              "partitions": [{"number": 1, "armed": False}], "reboot_seconds": 2.0}
    return PanelSpec(**{**values, **overrides})


@contextlib.contextmanager
def running(ddi: FakeDdi, *specs: PanelSpec, **options):
    fleet = Fleet(ddi.url, specs, **{"time_scale": SCALE, "start_spread": 0, **options})
    with fleet:
        yield fleet
    crashed = [p.serial for p in fleet if p.crashes]
    assert not crashed, "\n".join(fleet.panel(s).events.text() for s in crashed)


def succeeded(fleet: Fleet, serial: str = "P1"):
    return lambda: fleet.panel(serial).outcomes.get("1") == "succeeded"


# The update, step by step -------------------------------------------------------------------
def test_update_reports_every_step_in_order_and_runs_the_new_firmware(ddi, archive):
    ddi.chunked_polls = True
    ddi.assign("P1", archive)
    with running(ddi, spec()) as fleet:
        fleet.wait_until(succeeded(fleet), timeout=10)
        panel = fleet.panel("P1")
    steps = [e for e in ddi.executions("P1") if e != ("proceeding", "none")]
    assert steps[0] == ("download", "none")
    assert steps[1:] == [("downloaded", "none"), ("scheduled", "none"), ("closed", "success")]
    assert ("proceeding", "none") in ddi.executions("P1")  # installing
    assert panel.firmware_version == "5.40" and panel.phase == "idle"
    assert ddi.entries("P1", "config")[-1]["sw_version"] == "5.40"
    assert ddi.entries("P1", "poll")[0] == "TargetToken tok-P1"


def test_a_progress_report_in_flight_is_taken_before_downloaded(ddi, archive):
    """A server taking the download's last `proceeding` after `downloaded` would read it as the
    installation starting: the panel waits for its answer before saying `downloaded`."""
    ddi.stall_progress = 0.3
    ddi.assign("P1", archive)
    with running(ddi, spec(link={"preset": "unlimited", "bandwidth": 500_000})) as fleet:
        fleet.wait_until(succeeded(fleet), timeout=20)
    steps = ddi.executions("P1")
    downloaded = steps.index(("downloaded", "none"))
    assert ("proceeding", "none") in steps[:downloaded]  # the download reported progress
    progress_after = [b["status"]["result"].get("progress") for b in ddi.entries("P1", "feedback")[downloaded + 1:]]
    assert not [p for p in progress_after if p and p["cnt"] < p["of"]], "a download's report came after downloaded"


@pytest.mark.parametrize("weak_etag", [False, True])
def test_download_resumes_after_drops_with_little_waste(ddi, archive, weak_etag):
    ddi.weak_etag = weak_etag
    ddi.assign("P1", archive)
    link = {"preset": "unlimited", "drop_every_kib": 64}
    with running(ddi, spec(link=link)) as fleet:
        fleet.wait_until(succeeded(fleet), timeout=15)
        panel = fleet.panel("P1")
    ranged = ddi.entries("P1", "artifact")[1:]
    validator = LAST_MODIFIED if weak_etag else '"v1"'
    assert panel.drops >= 3 and len(ranged) >= 3
    assert all(r["range"].startswith("bytes=") and r["if-range"] == validator for r in ranged)
    assert panel.artifact_bytes_received <= 1.05 * len(archive)
    assert not panel.events.of("restart")


@pytest.mark.parametrize("in_files", [False, True])
def test_power_cut_mid_download_resumes_from_the_kept_bytes(ddi, archive, tmp_path, in_files):
    ddi.assign("P1", archive)
    flash = tmp_path / "flash" if in_files else None
    link = {"preset": "unlimited", "power_cut_at": 0.5}
    with running(ddi, spec(link=link, reboot_seconds=10), flash_dir=flash) as fleet:
        panel = fleet.panel("P1")
        fleet.wait_until(lambda: panel.phase == "rebooting", timeout=10)  # 100 ms without power
        assert panel.kept_bytes >= len(archive) // 2
        if in_files:
            assert (flash / "P1-1.part").stat().st_size == panel.kept_bytes
        fleet.wait_until(succeeded(fleet), timeout=10)
    if in_files:
        assert list(flash.iterdir()) == []  # installed: the download is gone from flash
    assert panel.power_cuts == 1 and panel.events.of("power-cut")
    resumed = [int(r["range"][6:-1]) for r in ddi.entries("P1", "artifact") if r["range"]]
    assert resumed and resumed[0] >= len(archive) // 2
    assert panel.artifact_bytes_received <= 1.05 * len(archive)
    assert len(ddi.entries("P1", "config")) >= 2  # volatile state lost: attributes sent again


def test_server_answering_200_to_a_range_restarts_the_download(ddi, archive):
    ddi.assign("P1", archive)
    ddi.ignore_range_once = True
    with running(ddi, spec(link={"preset": "unlimited", "drop_every_kib": 200})) as fleet:
        fleet.wait_until(succeeded(fleet), timeout=10)
        panel = fleet.panel("P1")
    assert panel.events.of("restart")
    assert ddi.entries("P1", "artifact")[-1]["if-range"] in (None, '"v2"')


def test_server_errors_timeouts_and_offline_periods_are_ridden_out(ddi, archive):
    ddi.assign("P1", archive)
    ddi.failures.update({"poll": 3, "softwaremodules": 2})
    ddi.stall_deployment = 1.0  # longer than the request timeout
    link = {"preset": "unlimited", "bandwidth": 400_000, "offline_for": 20, "offline_every": 50}
    with running(ddi, spec(link=link), request_timeout=0.3) as fleet:
        fleet.wait_until(succeeded(fleet), timeout=15)
        panel = fleet.panel("P1")
    retries = " ".join(e.detail for e in panel.events.of("retry"))
    assert "poll: HTTP 503" in retries and "artifact: HTTP 503" in retries
    assert "deploymentBase: " in retries and "timed out after 0.3 s" in retries
    drops = " ".join(e.detail for e in panel.events.of("drop"))
    assert "network lost mid-transfer" in drops or "no network" in drops
    assert panel.artifact_bytes_received <= 1.05 * len(archive)


def test_the_fleet_runs_on_a_callers_event_loop(ddi, archive):
    import asyncio

    ddi.assign("P1", archive)

    async def main() -> Fleet:
        fleet = Fleet(ddi.url, [spec()], time_scale=SCALE, start_spread=0)
        running_fleet = asyncio.create_task(fleet.run())
        await fleet.until(succeeded(fleet), timeout=10)
        fleet.stop()
        await running_fleet
        return fleet

    fleet = asyncio.run(main())
    assert fleet.panel("P1").firmware_version == "5.40"
    with pytest.raises(RuntimeError, match="runs once"):
        asyncio.run(fleet.run())


# Cancel ---------------------------------------------------------------------------------------
def test_cancel_mid_download_is_acknowledged_and_the_bytes_discarded(ddi, archive):
    ddi.assign("P1", archive)
    with running(ddi, spec(link={"preset": "unlimited", "bandwidth": 200_000})) as fleet:
        panel = fleet.panel("P1")
        fleet.wait_until(lambda: panel.kept_bytes > 0, timeout=5)
        ddi.cancel("P1")
        fleet.wait_until(lambda: panel.outcomes.get("1") == "cancelled", timeout=5)
        fleet.wait_until(lambda: ddi.executions("P1", "cancel-feedback"), timeout=5)
        assert panel.kept_bytes == 0 and panel.action_id is None and panel.phase == "idle"
        fetched = len(ddi.entries("P1", "artifact"))
        time.sleep(0.2)
        assert len(ddi.entries("P1", "artifact")) == fetched
    assert ddi.executions("P1", "cancel-feedback") == [("closed", "success")]
    assert panel.firmware_version == "5.30"


def test_cancel_is_refused_once_download_completed(ddi, archive):
    ddi.assign("P1", archive)
    armed = [{"number": 1, "armed": True}]
    with running(ddi, spec(partitions=armed)) as fleet:
        panel = fleet.panel("P1")
        fleet.wait_until(lambda: panel.phase == "ready", timeout=5)
        ddi.cancel("P1")
        fleet.wait_until(lambda: ddi.executions("P1", "cancel-feedback"), timeout=5)
        assert ddi.executions("P1", "cancel-feedback") == [("rejected", "none")]
        assert panel.phase == "ready"
        fleet.set_partition("P1", 1, False)
        fleet.wait_until(succeeded(fleet), timeout=5)


def test_refuse_cancel_fault_rejects_mid_download_and_the_update_continues(ddi, archive):
    ddi.assign("P1", archive)
    link = {"preset": "unlimited", "bandwidth": 400_000}
    with running(ddi, spec(link=link, faults=["refuse_cancel"])) as fleet:
        panel = fleet.panel("P1")
        fleet.wait_until(lambda: panel.kept_bytes > 0, timeout=5)
        ddi.cancel("P1")
        fleet.wait_until(lambda: ddi.executions("P1", "cancel-feedback"), timeout=5)
        assert panel.phase == "downloading"
        fleet.wait_until(succeeded(fleet), timeout=10)
    assert ddi.executions("P1", "cancel-feedback") == [("rejected", "none")]


def test_410_on_feedback_forgets_the_action(ddi, archive):
    ddi.assign("P1", archive)
    ddi.gone_on = "downloaded"
    with running(ddi, spec()) as fleet:
        panel = fleet.panel("P1")
        fleet.wait_until(lambda: panel.events.of("forget"), timeout=5)
        assert panel.action_id is None and panel.kept_bytes == 0
        assert panel.phase == "idle" and panel.firmware_version == "5.30"


# Archive checks -------------------------------------------------------------------------------
@pytest.mark.parametrize(("faults", "reason"), [
    (["corrupt_byte"], "sha256 of the downloaded file does not match"),
    ({"wrong_board": "1.0"}, "hardware revision 1.0 not in [2.1, 2.2]"),
    (["wrong_device_type"], "archive is for board nord-gsm, this is nord-gsm-other"),
])
def test_a_failed_check_closes_the_action_with_the_reason(ddi, archive, faults, reason):
    ddi.assign("P1", archive)
    with running(ddi, spec(faults=faults)) as fleet:
        panel = fleet.panel("P1")
        fleet.wait_until(lambda: panel.outcomes.get("1") == "failed", timeout=5)
        fleet.wait_until(lambda: ("closed", "failure") in ddi.executions("P1"), timeout=5)
        assert panel.phase == "failed" and reason in panel.last_failure
    closing = ddi.entries("P1", "feedback")[-1]["status"]
    assert reason in closing["details"][0]
    assert ("scheduled", "none") not in ddi.executions("P1")
    assert panel.firmware_version == "5.30"
    assert ddi.entries("P1", "config")[-1]["hw_revision"] == "2.1"  # reports what it claims


def test_a_firmware_that_does_not_start_is_reported_failed_after_the_reboot_on_the_old_version(ddi, archive):
    """fail_install: the panel installs, reboots, comes back on the firmware it ran before and
    says so twice, as a real A/B panel does: configData with the old version, then closed /
    failure with the reason. What may not be lost: the failure report (the job would hang in
    installing), the old version (the site must not turn green), the panel's settings."""
    ddi.assign("P1", archive)
    partitions = [{"number": 1, "armed": True}, {"number": 2, "armed": False}]
    with running(ddi, spec(faults={"fail_install": ["5.40"]}, partitions=partitions)) as fleet:
        panel = fleet.panel("P1")
        fleet.wait_until(lambda: ddi.actions["P1"]["state"] == "failure", timeout=10)
        fleet.wait_until(lambda: panel.action_id is None, timeout=5)  # the next poll: forgotten
    assert panel.outcomes == {"1": "failed"} and panel.phase == "failed"
    assert panel.firmware_version == "5.30" and panel.reboots == 1 and panel.events.of("reboot")
    reason = "firmware 5.40 did not start (watchdog reset during boot); the bootloader went back to 5.30"
    assert panel.last_failure == reason
    steps = [e for e in ddi.executions("P1") if e != ("proceeding", "none")]
    assert steps == [("download", "none"), ("downloaded", "none"), ("scheduled", "none"), ("closed", "failure")]
    assert ddi.entries("P1", "feedback")[-1]["status"]["details"] == [reason]
    kinds = [(k, p) for s, k, p in ddi.log if s == "P1" and k in ("config", "feedback")]
    installing = next(i for i, (k, p) in enumerate(kinds) if k == "feedback"
                      and (p["status"].get("details") or [""])[0].startswith("installing firmware 5.40"))
    after_reboot = [p for k, p in kinds[installing:] if k == "config"]
    assert after_reboot and all(c["sw_version"] == "5.30" for c in after_reboot)
    assert panel.partitions == {1: True, 2: False}


def test_fail_install_fails_only_its_versions_on_a_share_of_serials_fixed_by_the_serial():
    rule = {"fail_install": {"versions": ["5.41"], "share": 0.3}}
    serials = [f"NG{n:07d}" for n in range(3000)]
    failing = [s for s in serials if Faults.from_value(rule).install_fails(s, "5.41")]
    assert 0.27 < len(failing) / len(serials) < 0.33
    assert failing == [s for s in serials if Faults.from_value(rule).install_fails(s, "5.41")]  # every run
    assert not any(Faults.from_value(rule).install_fails(s, "5.42") for s in serials)
    # In the fleet file's defaults it is a fleet-level rule; a panel's own list replaces it.
    a, b = parse_fleet({"defaults": {"tenant": "demo", "faults": rule},
                        "panels": [{"serial": failing[0]}, {"serial": serials[0], "faults": {"fail_install": "5.42"}}]})
    assert a.faults.install_fails(a.serial, "5.41") and not a.faults.install_fails(a.serial, "5.42")
    assert b.faults.install_fails(b.serial, "5.42") and not b.faults.install_fails(b.serial, "5.41")
    assert Faults.from_value(["fail_install"]).install_fails("X", "9.99")  # true: every version
    again = parse_fleet(json.loads(dump_fleet([a, b])))
    assert [s.to_dict() for s in again] == [a.to_dict(), b.to_dict()]
    with pytest.raises(ValueError, match="versoins"):
        Faults.from_value({"fail_install": {"versoins": ["5.41"]}})


def test_signature_is_required_from_the_trusted_certificate():
    key, cert = make_signing_identity("Vendor A")
    _, other = make_signing_identity("Someone else")
    signed = make_archive(size=64 * 1024, key=key, cert=cert)
    server = FakeDdi()
    try:
        server.assign("GOOD", signed)
        server.assign("BAD", signed)
        panels = [spec("GOOD", trusted_certs_pem=cert), spec("BAD", trusted_certs_pem=other)]
        with running(server, *panels) as fleet:
            fleet.wait_until(succeeded(fleet, "GOOD"), timeout=5)
            fleet.wait_until(lambda: fleet.panel("BAD").outcomes.get("1") == "failed", timeout=5)
        assert fleet.panel("BAD").last_failure
    finally:
        server.close()


# Installation: when, and what survives --------------------------------------------------------
def test_never_disarm_waits_in_ready_until_someone_disarms(ddi, archive):
    ddi.assign("P1", archive)
    panels = [{"number": 1, "armed": False}, {"number": 2, "armed": False}]
    with running(ddi, spec(partitions=panels, faults=["never_disarm"], arming="random")) as fleet:
        panel = fleet.panel("P1")
        fleet.wait_until(lambda: panel.phase == "ready", timeout=5)
        polls = ddi.polls["P1"]
        time.sleep(0.5)  # ten poll intervals
        assert panel.phase == "ready" and ddi.polls["P1"] > polls + 3
        assert panel.partitions == {1: True, 2: True}
        assert ddi.executions("P1")[-1] == ("scheduled", "none")
        fleet.set_partition("P1", 2, False)
        fleet.wait_until(succeeded(fleet), timeout=5)


def test_outside_the_install_window_the_panel_downloads_and_installs_only_once_it_opens(ddi, archive):
    ddi.assign("P1", archive)
    ddi.set_window("P1", "unavailable")
    with running(ddi, spec()) as fleet:
        panel = fleet.panel("P1")
        fleet.wait_until(lambda: panel.phase == "ready", timeout=5)
        asked, polls = len(ddi.entries("P1", "deployment")), ddi.polls["P1"]
        fleet.wait_until(lambda: ddi.polls["P1"] > polls + 3, timeout=5)
        # Downloaded and checked, partition 1 disarmed: only the window holds it back. It asks
        # the server again at every poll.
        assert panel.phase == "ready" and panel.firmware_version == "5.30"
        assert panel.kept_bytes == len(archive)
        assert len(ddi.entries("P1", "deployment")) > asked + 2
        assert ddi.executions("P1")[-1] == ("scheduled", "none")
        assert "install window" in ddi.entries("P1", "feedback")[-1]["status"]["details"][0]
        ddi.set_window("P1", "available")
        fleet.wait_until(succeeded(fleet), timeout=5)
    steps = [e for e in ddi.executions("P1") if e != ("proceeding", "none")]
    assert steps == [("download", "none"), ("downloaded", "none"), ("scheduled", "none"), ("closed", "success")]
    assert panel.events.of("window")[-1].detail == "action 1: the server allows the installation now"


def test_a_window_closing_during_the_download_holds_the_install(ddi, archive):
    """The deployment said `forced` when the download started; the panel asks again before it
    installs, and waits."""
    ddi.assign("P1", archive)
    with running(ddi, spec(link={"preset": "unlimited", "bandwidth": 400_000})) as fleet:
        panel = fleet.panel("P1")
        fleet.wait_until(lambda: panel.phase == "downloading", timeout=5)
        ddi.set_window("P1", "unavailable")
        fleet.wait_until(lambda: panel.phase == "ready", timeout=10)
        polls = ddi.polls["P1"]
        fleet.wait_until(lambda: ddi.polls["P1"] > polls + 2, timeout=5)
        assert panel.phase == "ready" and panel.firmware_version == "5.30"
        ddi.set_window("P1", "available")
        fleet.wait_until(succeeded(fleet), timeout=5)
    assert panel.firmware_version == "5.40"


def test_an_update_assigned_at_night_installs_when_the_site_disarms_in_the_morning(ddi, archive):
    ddi.assign("P1", archive)
    # A 4-minute simulated day (2.4 s real): armed 22:00-06:00; the panel starts at 23:00.
    night = {"mode": "night", "day_length": 240, "start_hour": 23}
    with running(ddi, spec(arming=night)) as fleet:
        panel = fleet.panel("P1")
        fleet.wait_until(lambda: panel.phase == "ready" and panel.partitions == {1: True}, timeout=5)
        fleet.wait_until(succeeded(fleet), timeout=5)
    arming = [e.detail for e in panel.events.of("arming")]
    assert arming[:2] == ["partition 1 armed by schedule", "partition 1 disarmed by schedule"]
    assert panel.snapshot_before_install["partitions"] == [{"number": 1, "armed": False}]


def _details(ddi, execution="scheduled") -> list[str]:
    return [b["status"]["details"][0] for b in ddi.entries("P1", "feedback") if b["status"]["execution"] == execution]


def test_a_panel_on_battery_waits_for_mains_and_for_a_charged_battery_and_says_so(ddi, archive):
    """Issue 14: the panel installs only on mains with its battery ok; it reports its power in
    configData and, when power holds the install back, in its `scheduled` feedback."""
    ddi.assign("P1", archive)
    with running(ddi, spec(power="battery")) as fleet:
        panel = fleet.panel("P1")
        fleet.wait_until(lambda: panel.phase == "ready" and _details(ddi), timeout=5)
        assert ddi.entries("P1", "config")[-1]["power"] == "battery"
        assert _details(ddi) == ["firmware 5.40 ready for installation; waits for a disarmed partition and for "
                                 "mains power"]
        fleet.set_power("P1", supply="mains", battery="low")  # back on mains, the battery drained
        fleet.wait_until(lambda: len(_details(ddi)) == 2, timeout=5)
        assert _details(ddi)[-1] == ("firmware 5.40 ready for installation; waits for a disarmed partition and "
                                     "for the battery to charge")
        time.sleep(0.3)
        assert panel.phase == "ready" and not panel.outcomes
        fleet.wait_until(lambda: ddi.entries("P1", "config")[-1]["battery"] == "low", timeout=5)
        fleet.set_power("P1", battery="ok")
        fleet.wait_until(succeeded(fleet), timeout=5)
    assert [e.detail for e in panel.events.of("power")] == ["on mains, battery low (user)",
                                                            "on mains, battery ok (user)"]


def test_a_panel_that_knows_nothing_of_power_neither_reports_nor_waits_for_it(ddi, archive):
    ddi.assign("P1", archive)
    with running(ddi, spec(power={"supply": "battery", "report": False})) as fleet:
        fleet.wait_until(succeeded(fleet), timeout=5)
    assert all("power" not in c and "battery" not in c for c in ddi.entries("P1", "config"))
    assert _details(ddi) == ["firmware 5.40 ready for installation; waits for a disarmed partition"]


def test_power_outages_follow_their_schedule():
    plan = PowerSupply.from_value({"mode": "outages", "outage_every": 1000, "outage_for": 300, "first_outage_at": 100,
                                   "low_after": 200, "recharge_for": 150})
    assert [plan.state_at(t) for t in (0, 100, 299, 300, 399, 400, 549, 550, 1100)] == [
        ("mains", "ok"), ("battery", "ok"), ("battery", "ok"), ("battery", "low"), ("battery", "low"),
        ("mains", "low"), ("mains", "low"), ("mains", "ok"), ("battery", "ok")]
    assert [plan.next_change(t) for t in (0, 100, 350, 450, 600)] == [100, 200, 50, 100, 500]
    never_low = PowerSupply.from_value({"mode": "outages", "outage_every": 1000, "outage_for": 300, "low_after": None})
    assert never_low.state_at(299) == ("battery", "ok") and never_low.state_at(310) == ("mains", "ok")
    for bad in ({"mode": "sometimes"}, {"supply": "solar"}, {"mode": "outages", "outage_every": 100, "outage_for": 90},
                {"voltage": 12}):
        with pytest.raises(ValueError):
            PowerSupply.from_value(bad)


def test_a_scheduled_outage_holds_the_install_until_the_mains_is_back(ddi, archive):
    ddi.assign("P1", archive)
    outage = {"mode": "outages", "outage_every": 3600, "outage_for": 120, "low_after": None, "first_outage_at": 0}
    with running(ddi, spec(power=outage)) as fleet:  # 120 simulated seconds: 1.2 s
        panel = fleet.panel("P1")
        fleet.wait_until(lambda: panel.phase == "ready" or panel.outcomes, timeout=5)
        fleet.wait_until(succeeded(fleet), timeout=10)
        assert panel.power == "mains"
    assert [e.detail for e in panel.events.of("power")][:2] == ["on battery, battery ok (schedule)",
                                                                "on mains, battery ok (schedule)"]
    # The install's own report (download progress is `proceeding` too, and may come first).
    installing = next(i for i, e in enumerate(panel.events) if e.kind == "feedback" and "installing firmware" in e.detail)
    back = next(i for i, e in enumerate(panel.events) if e.kind == "power" and "mains" in e.detail)
    assert back < installing


def test_settings_and_partition_states_survive_the_reboot(ddi, archive):
    ddi.assign("P1", archive)
    settings = {"zones": 8, "entry_delay": 30, "name": "Café Nord", "users": [1, 2]}
    partitions = [{"number": 1, "armed": True}, {"number": 2, "armed": False}]
    with running(ddi, spec(settings=settings, partitions=partitions)) as fleet:
        fleet.wait_until(succeeded(fleet), timeout=10)
        panel = fleet.panel("P1")
    assert panel.reboots == 1 and panel.events.of("reboot")
    assert panel.settings == settings and panel.partitions == {1: True, 2: False}
    assert panel.snapshot_before_install["settings_digest"] == settings_digest(settings)
    after = ddi.entries("P1", "config")[-1]
    assert after == {"sw_version": "5.40", "hw_revision": "2.1", "device_type": "nord-gsm",
                     "channels": "gprs", "partitions": "1:armed,2:disarmed",
                     "settings_digest": settings_digest(settings), "power": "mains", "battery": "ok"}
    # The new version is reported by configData before the action is closed.
    kinds = [(k, p) for s, k, p in ddi.log if s == "P1" and k in ("config", "feedback")]
    config_at = next(i for i, (k, p) in enumerate(kinds) if k == "config" and p["sw_version"] == "5.40")
    closed_at = next(i for i, (k, p) in enumerate(kinds)
                     if k == "feedback" and p["status"]["execution"] == "closed")
    assert config_at < closed_at


# Polling, auth, wake-up -----------------------------------------------------------------------
def test_unauthorized_poll_is_logged_and_retried_slowly(ddi):
    ddi.token = "right"
    with running(ddi, spec(token="wrong")) as fleet:
        panel = fleet.panel("P1")
        fleet.wait_until(lambda: panel.last_failure, timeout=5)
        time.sleep(0.3)
        assert "401" in panel.last_failure and panel.polls == 1


def test_wakeup_listener_triggers_an_immediate_poll(ddi):
    ddi.poll_sleep = "01:00:00"
    other = spec("P2", tenant="elsewhere")
    with running(ddi, spec(), other, time_scale=1.0, wakeup_listen="127.0.0.1:0") as fleet:
        fleet.wait_until(lambda: ddi.polls["P1"] == 1 and ddi.polls["P2"] == 1, timeout=5)
        host, port = fleet.wakeup_address
        command = {"receiver": "demo", "command": "poll-now", "serials": ["P1", "P2", "NOPE"]}
        request = urllib.request.Request(f"http://{host}:{port}/wake", json.dumps(command).encode(),
                                         {"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 202
            assert json.load(resp) == {"woken": ["P1"], "unreachable": [], "unknown": ["P2", "NOPE"]}
        fleet.wait_until(lambda: ddi.polls["P1"] == 2, timeout=2)
        assert ddi.polls["P2"] == 1
        bad = urllib.request.Request(f"http://{host}:{port}/", b"not json", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bad, timeout=5)
        assert err.value.code == 400


def test_only_loopback_is_ever_targeted_or_bound():
    with pytest.raises(NotLoopback):
        Fleet("http://192.0.2.1:8000", [spec()])
    with pytest.raises(NotLoopback):
        Fleet("http://example.com", [spec()])
    with pytest.raises(ValueError):
        parse_listen("0.0.0.0:9100")
    assert parse_listen("127.0.0.1:9100") == ("127.0.0.1", 9100)


# Pieces ---------------------------------------------------------------------------------------
def test_fleet_file_round_trips_and_rejects_typos(tmp_path):
    document = {"defaults": {"tenant": "demo", "link": "gprs", "channels": "gprs,ethernet"},
                "panels": [{"serial": "A", "token": "t", "partitions": "1:armed,2:disarmed",
                            "faults": ["corrupt_byte"], "settings": {"x": 1}},
                           {"serial": "B", "gateway_token": "g", "link": {"preset": "gprs-bad",
                                                                          "power_cut_at": 0.3},
                            "arming": {"mode": "night", "night_from": 23}}]}
    a, b = parse_fleet(document)
    assert a.partitions == [{"number": 1, "armed": True}, {"number": 2, "armed": False}]
    assert a.channels == ["gprs", "ethernet"] and a.faults.corrupt_byte
    assert a.authorization == "TargetToken t" and b.authorization == "GatewayToken g"
    assert b.link.bandwidth == 2000 and b.link.power_cut_at == 0.3 and b.arming.night_from == 23
    again = parse_fleet(json.loads(dump_fleet([a, b])))
    assert [s.to_dict() for s in again] == [a.to_dict(), b.to_dict()]
    with pytest.raises(ValueError, match="serail"):
        parse_fleet([{"serail": "A", "tenant": "demo"}])
    with pytest.raises(ValueError, match="unique"):
        parse_fleet([{"serial": "A", "tenant": "d"}, {"serial": "A", "tenant": "d"}])


def test_link_model_offline_periods_and_drops_are_seeded():
    now = [100.0]
    profile = LinkProfile(offline_for=10, offline_every=100, drop_every_kib=64)
    link = Link(profile, rng=random.Random(1), time_scale=0.5, clock=lambda: now[0])
    states = []
    for _ in range(100):
        now[0] += 0.5
        states.append(link.online())
    assert states.count(False) == 10  # 10 simulated seconds of 100, at half speed
    budgets = []
    for seed in (7, 7):
        link = Link(profile, rng=random.Random(seed))
        budgets.append(link.read_allowance(10**9))
    assert budgets[0] == budgets[1] and budgets[0] > 0


# Command line ---------------------------------------------------------------------------------
def test_cli_runs_a_fleet_file_for_a_duration(ddi, archive, tmp_path):
    ddi.assign("C1", archive)
    fleet_file = tmp_path / "fleet.json"
    fleet_file.write_text(json.dumps([{"serial": "C1", "tenant": "demo", "token": "t",
                                       "link": "unlimited", "reboot_seconds": 1}]))
    done = subprocess.run([sys.executable, "-m", "fleetsim", "run", "--server", ddi.url, "--fleet",
                           str(fleet_file), "--time-scale", "0.01", "--duration", "1.5"],
                          cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    assert "1 panels: idle 1" in done.stdout.splitlines()[-1]
    assert "updated 1" in done.stdout.splitlines()[-1]


def test_cli_gateway_panels_poll_with_the_gateway_token_and_stop_on_sigterm(ddi):
    proc = subprocess.Popen([sys.executable, "-m", "fleetsim", "gateway", "--server", ddi.url,
                             "--tenant", "demo", "--gateway-token", "GT", "--count", "3",
                             "--time-scale", "0.01", "--quiet"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while len(ddi.polls) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
    finally:
        proc.kill()
    assert sorted(ddi.polls) == ["demo-gw-00001", "demo-gw-00002", "demo-gw-00003"]
    assert set(ddi.entries("demo-gw-00001", "poll")) == {"GatewayToken GT"}
