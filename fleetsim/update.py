"""The update worker of a panel (seed: download in parts → check → wait → install → start).

`run_update` resumes from whatever stage flash says, so after a power cut or a dropped
connection the same function simply carries on.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from typing import TYPE_CHECKING

from . import ddi
from .checks import CheckFailed, check_archive
from .ddi import feedback_body
from .http import Response, TransportError
from .state import ActionGone, ActionRecord, Phase, PowerCut, Restart, Stage, intern_image

if TYPE_CHECKING:
    from .panel import Panel

PROGRESS_STEPS = 10  # `proceeding` feedback about every 10 % of the download, not every chunk
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


async def run_update(panel: Panel, rec: ActionRecord) -> None:
    try:
        if rec.stage == Stage.DOWNLOADING:
            await _download(panel, rec)
        if rec.stage == Stage.DOWNLOADED:
            await _check(panel, rec)
        if rec.stage == Stage.VERIFIED:
            await _install(panel, rec)  # ends in a reboot (raises Restart)
        if rec.stage == Stage.FAILED and not rec.failure_reported:
            await report_failure(panel, rec)
    except ActionGone as exc:
        if panel.flash.action is rec:
            panel.forget(str(exc))


# Download ---------------------------------------------------------------------------------
async def _download(panel: Panel, rec: ActionRecord) -> None:
    art = rec.artifact
    panel.phase = Phase.DOWNLOADING
    if not rec.kept:
        await panel.feedback(rec.feedback_url, feedback_body(
            rec, "download", "none", progress=(0, art.size),
            details=[f"downloading {art.filename} ({art.size} bytes)"]))
    else:
        panel.event("resume", f"action {rec.id}: {len(rec.kept)}/{art.size} bytes kept")
    step = max(1, art.size // PROGRESS_STEPS)
    reported = len(rec.kept) // step
    cut_at = (panel.spec.link.power_cut_at or 0) * art.size

    def sink(data: bytes) -> None:
        nonlocal reported
        room = art.size - len(rec.kept)
        if len(data) > room:
            raise TransportError(f"the server sent more than the announced {art.size} bytes")
        rec.kept.append(data)
        if panel.power_cut_pending and len(rec.kept) >= cut_at:
            panel.power_cut_pending = False
            panel.power_cuts += 1
            raise PowerCut(panel.spec.reboot_seconds,
                           f"power cut at {len(rec.kept)}/{art.size} bytes")
        if len(rec.kept) // step > reported and len(rec.kept) < art.size:
            reported = len(rec.kept) // step
            _report_progress(panel, rec)

    def on_head(resp: Response):
        if resp.status == 206:
            match = _CONTENT_RANGE.match(resp.header("content-range") or "")
            if not match or int(match.group(1)) != len(rec.kept):
                # Not the range we asked for: trust nothing we kept, start over.
                panel.event("restart", f"unexpected Content-Range {resp.header('content-range')!r}")
                rec.kept.clear()
                rec.validator = None
                return lambda data: None
        elif resp.status == 200:
            if rec.kept:
                # If-Range did not match (the file changed) or the server ignores ranges.
                panel.event("restart", f"HTTP 200 to a ranged request; {len(rec.kept)} bytes dropped")
                rec.kept.clear()
        else:
            return None
        etag = resp.header("etag")
        # If-Range needs a strong validator (RFC 9110 13.1.5): a weak ETag would make the
        # server send the whole file on every resume.
        if etag and not etag.startswith("W/"):
            rec.validator = etag
        elif resp.header("last-modified"):
            rec.validator = resp.header("last-modified")
        return sink

    try:
        await _fetch(panel, rec, on_head)
    finally:
        rec.kept.close()
    rec.stage = Stage.DOWNLOADED


async def _fetch(panel: Panel, rec: ActionRecord, on_head) -> None:
    art = rec.artifact
    stalls = 0
    while len(rec.kept) < art.size:
        await panel.link.wait_online()
        start = len(rec.kept)
        headers = {}
        if start:
            headers["Range"] = f"bytes={start}-"
            if rec.validator:
                headers["If-Range"] = rec.validator
        try:
            resp = await panel.http.request("GET", art.url, headers=headers, on_head=on_head,
                                            kind="artifact")
        except TransportError as exc:
            stalls = 0 if len(rec.kept) > start else stalls + 1
            panel.event("drop", f"{exc} at {len(rec.kept)}/{art.size}")
            await panel.sleep(panel.backoff(stalls, base=1.0, cap=60.0))
            continue
        if resp.status in (200, 206):
            stalls = 0 if len(rec.kept) > start else stalls + 1
            continue
        if resp.status == 416:
            panel.event("download", f"416 at {len(rec.kept)}: checking what is kept")
            break
        # 401/403/404/410/5xx: wait; the poll loop decides whether the action still exists.
        stalls += 1
        panel.event("retry", f"artifact: HTTP {resp.status}")
        await panel.sleep(panel.backoff(stalls, base=5.0, cap=300.0))


def _report_progress(panel: Panel, rec: ActionRecord) -> None:
    """Fire-and-forget `proceeding` with the byte count; at most one in flight."""
    if panel.progress_task and not panel.progress_task.done():
        return
    body = feedback_body(rec, "proceeding", "none", progress=(len(rec.kept), rec.artifact.size))

    async def send() -> None:
        try:
            await panel.feedback(rec.feedback_url, body, reliable=False)
        except Exception:  # noqa: BLE001 - progress is best effort; the poll handles the rest
            pass

    panel.progress_task = panel.spawn(send())


async def handle_cancel(panel: Panel, href: str) -> None:
    """cancelAction: stop and discard a download in progress; refuse once it is complete."""
    try:
        resp = await panel.http.request("GET", href, kind="cancel")
    except TransportError as exc:
        panel.event("retry", f"cancelAction: {exc}")
        return
    if resp.status != 200:
        panel.event("retry", f"cancelAction: {resp.brief()}")
        return
    try:
        cancel_id, stop_id = ddi.parse_cancel(resp.json(), href)
    except ValueError as exc:
        panel.event("error", f"cancelAction: {exc}", logging.WARNING)
        return
    rec = panel.flash.action
    ours = rec is not None and rec.id == stop_id
    complete = ours and rec.stage in (Stage.DOWNLOADED, Stage.VERIFIED, Stage.INSTALLED)
    if ours and (complete or panel.spec.faults.refuse_cancel):
        why = ("the download is complete; the update continues" if complete
               else "cancel refused (fault switch refuse_cancel)")
        execution, finished, details = "rejected", "none", [why]
        panel.outcomes[stop_id] = "refused-cancel"
    else:
        kept = len(rec.kept) if ours else 0
        if ours:
            panel.forget("cancelled by the server")
        execution, finished = "closed", "success"
        details = [f"cancelled: download stopped, {kept} bytes discarded"]
        panel.outcomes[stop_id] = "cancelled"
    body = ddi.feedback_body(cancel_id, execution, finished, details=details)
    try:
        await panel.feedback(ddi.feedback_url_of(href), body, reliable=False)
    except ActionGone:
        pass  # nothing left to cancel


# Check ------------------------------------------------------------------------------------
async def _check(panel: Panel, rec: ActionRecord) -> None:
    if panel.progress_task and not panel.progress_task.done():
        # Never let a stale `proceeding` overtake `downloaded`: one already sent would still
        # reach the server, and after `downloaded` it reads as the installation starting (the
        # job skipped `ready`). It is answered, or given up (it is not retried), first.
        await asyncio.wait([panel.progress_task])
    panel.phase = Phase.DOWNLOADED
    size = rec.artifact.size
    await panel.feedback(rec.feedback_url, feedback_body(
        rec, "downloaded", "none", progress=(len(rec.kept), size),
        details=[f"{len(rec.kept)} bytes downloaded"]))
    if panel.spec.faults.corrupt_byte and len(rec.kept) and not rec.corrupted:
        rec.kept.flip(len(rec.kept) // 2)
        rec.corrupted = True
        panel.event("fault", f"corrupted byte {len(rec.kept) // 2} of the download")
    device_type, board = panel.held_identity()
    try:
        checked = await asyncio.to_thread(
            check_archive, rec.kept.data(), rec.artifact, device_type=device_type,
            hardware_revision=board, trusted_certs_pem=panel.spec.trusted_certs_pem,
            base_image=panel.flash.image)
    except CheckFailed as exc:
        return await _fail(panel, rec, str(exc))
    except Exception as exc:  # noqa: BLE001 - an archive the parser chokes on is refused
        return await _fail(panel, rec, f"the archive could not be read: {exc!r}")
    rec.version, rec.new_image, rec.delta_from = checked.version, checked.image, checked.delta_from
    rec.stage = Stage.VERIFIED
    sent = (f"a delta from {checked.delta_from} ({rec.artifact.size} bytes), patched" if checked.delta_from
            else f"the full archive ({rec.artifact.size} bytes)")
    panel.event("checked", f"action {rec.id}: archive OK, firmware {checked.version}: {sent}")


async def _fail(panel: Panel, rec: ActionRecord, reason: str) -> None:
    _failed(panel, rec, reason)
    await report_failure(panel, rec)


def _failed(panel: Panel, rec: ActionRecord, reason: str) -> None:
    rec.stage, rec.failure = Stage.FAILED, reason
    rec.kept.discard()
    panel.phase = Phase.FAILED
    panel.last_failure = reason
    panel.outcomes[rec.id] = "failed"
    panel.event("failure", f"action {rec.id}: {reason}", logging.INFO)


async def report_failure(panel: Panel, rec: ActionRecord, *, reliable: bool = True) -> None:
    try:
        ok = await panel.feedback(rec.feedback_url, feedback_body(
            rec, "closed", "failure", details=[rec.failure or "failed"]), reliable=reliable)
    except ActionGone:
        ok = True
    rec.failure_reported = rec.failure_reported or ok


# Install ----------------------------------------------------------------------------------
def _ready_details(rec: ActionRecord, waits: list[str]) -> list[str]:
    # Always names the partition (the seed's condition), then what else holds it back now.
    waits = ["a disarmed partition", *(w for w in waits if w != "a disarmed partition")]
    return [f"firmware {rec.version} ready for installation; waits for {' and for '.join(waits)}"]


async def _install(panel: Panel, rec: ActionRecord) -> None:
    panel.phase = Phase.READY
    # What the server said when the download started may be old news by now.
    await panel.reread_deployment(rec)
    waits, power_said = panel.install_waits(rec), panel.power_waits()
    await panel.feedback(rec.feedback_url, feedback_body(rec, "scheduled", "none",
                                                         details=_ready_details(rec, waits)))
    if not rec.install_now:
        panel.event("waiting", "the server says update: skip (install window closed): the installation waits")
    if all(panel.partitions.values()):
        panel.event("waiting", "every partition is armed: the installation waits")
    if power_said:
        panel.event("waiting", f"waits for {' and for '.join(power_said)}: the installation waits")

    async def power_changed(now: list[str]) -> None:
        # Power newly holding the install back is news for the job's timeline (`scheduled`
        # again: the server keeps the job ready and records the words); arming is not, people
        # arm and disarm all day.
        nonlocal power_said
        if panel.power_waits() == power_said:
            return
        power_said = panel.power_waits()
        if power_said:
            panel.event("waiting", f"waits for {' and for '.join(now)}")
            try:
                await panel.feedback(rec.feedback_url, feedback_body(
                    rec, "scheduled", "none", details=_ready_details(rec, now)), reliable=False)
            except ActionGone:
                pass  # the poll finds out what became of the action

    await panel.wait_installable(rec, reported=waits, on_change=power_changed)
    panel.phase = Phase.INSTALLING
    disarmed = ",".join(str(n) for n, armed in panel.partitions.items() if not armed)
    await panel.feedback(rec.feedback_url, feedback_body(
        rec, "proceeding", "none",
        details=[f"installing firmware {rec.version}; partition {disarmed} disarmed"]))
    # Settings and partitions stay in flash untouched; only the firmware changes.
    panel.snapshot_before_install = {"partitions": copy.deepcopy(panel.flash.partitions),
                                     "settings_digest": panel.flash.settings_digest()}
    panel.reboots += 1
    away = panel.spec.reboot_seconds + panel.spec.faults.offline_after_install_seconds()
    if away > panel.spec.reboot_seconds:
        panel.event("fault", "after this install the panel stays off the line "
                    + ("for good" if away == float("inf") else f"for {away:g} s") + " (offline_after_install)")
    if panel.spec.faults.install_fails(panel.serial, rec.version):
        # The fail_install fault: the new firmware does not start, the watchdog resets the
        # panel and the bootloader goes back to the firmware that ran before. Flash keeps
        # the failure; the poll after the reboot reports it (closed/failure), as suricatta
        # does after its reboot (`-c 3`), and configData still says the old version.
        running = panel.flash.firmware_version
        panel.event("fault", f"firmware {rec.version} does not start on this panel (fail_install)")
        _failed(panel, rec, f"firmware {rec.version} did not start (watchdog reset during boot); "
                            f"the bootloader went back to {running}")
        raise Restart(away, f"installing firmware {rec.version}, which does not start")
    panel.flash.firmware_version = rec.version
    panel.flash.image = intern_image(rec.new_image)
    rec.stage = Stage.INSTALLED
    rec.kept.discard()
    raise Restart(away, f"installing firmware {rec.version}")
