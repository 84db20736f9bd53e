"""DDI bodies: what we answer (spec components DdiControllerBase, DdiDeploymentBase, DdiCancel,
DdiArtifact) and what we read (DdiConfigData, DdiActionFeedback).

Every link is absolute and built from the request's Host, because panels reach the server
through NAT, proxies and receivers' gateways (DESIGN.md 4).
"""

import json
import zlib
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_duration

from core.json import JSONBodyError, json_loads

from ..install_windows import Window, window_open
from ..models import JobState, UpdateJob, is_active, is_deliverable
from ..services import feedback_validate
from .responses import DdiError, bad_request

MAX_ACTION_HISTORY = 50


# --- answers ------------------------------------------------------------------------------


def sleep_text(value: timedelta) -> str:
    """DDI polling sleep, HH:MM:SS (hours may exceed 24)."""
    seconds = max(1, int(value.total_seconds()))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def action_hash(job: UpdateJob) -> int:
    """The deploymentBase link's `c`: stable while the action stays the same, different once it
    changed (another release, or a cancel the device refused), so a client that caches the
    deployment by link fetches it again. A signed int32, as the spec types `c`."""
    raw = zlib.crc32(f"{job.pk}:{job.release_id}:{bool(job.state_before_cancel)}".encode()
                     + (f":{job.delta_id}".encode() if job.delta_id else b""))
    return raw - 2**32 if raw >= 2**31 else raw


def _url(request, name: str, caller, **kwargs) -> str:
    path = reverse(
        f"ddi:{name}",
        kwargs={"tenant": caller.receiver.code, "controller_id": caller.device.serial, **kwargs},
    )
    return request.build_absolute_uri(path)


def _link(href: str) -> dict:
    return {"href": href}


def _needs_attributes(device, job: UpdateJob | None, *, seen_before=None, now=None) -> bool:
    """Offer configData whenever the server has reason to doubt what the panel runs, and only
    then (DESIGN.md 4: some clients answer the link before anything else on every poll).
    Cheap: only what the poll's one statement read (lookup.device_by_token_digest).

    - the panel never described itself;
    - an action ended (succeeded, failed or cancelled) after it last did: a panel may have
      installed what it was told to stop, or failed after writing its flash; a succeeded job
      the panel's version already confirmed needs nothing more (hawkBit asks "after a
      successful update action");
    - it was offline (no poll) longer than DDI_ATTRIBUTES_AFTER_OFFLINE and has not described
      itself since it came back: someone may have flashed it on site;
    - its description is older than DDI_ATTRIBUTES_MAX_AGE (daily by default);
    - an action succeeded and the panel's version has not confirmed it: every
      DDI_ATTRIBUTES_UNCONFIRMED_EVERY, for DDI_ATTRIBUTES_MAX_AGE after the success.
    """
    if device.attributes_at is None:
        return True
    now = now or timezone.now()
    if now - device.attributes_at > settings.DDI_ATTRIBUTES_MAX_AGE:
        return True
    if (seen_before is not None and now - seen_before > settings.DDI_ATTRIBUTES_AFTER_OFFLINE
            and device.attributes_at <= seen_before):
        return True
    if job is None or is_active(job.state) or job.finished_at is None:
        return False
    if job.state == JobState.SUCCEEDED and job.confirmed_at is not None:
        return False
    if device.attributes_at < job.finished_at:
        return True
    # Succeeded, and the panel described itself since, still on another version: it may have
    # reported before its reboot (rauc-hawkbit-updater without post_update_reboot). Ask again
    # every DDI_ATTRIBUTES_UNCONFIRMED_EVERY, for a day at most (then the daily rule asks).
    return (
        job.state == JobState.SUCCEEDED
        and now - job.finished_at < settings.DDI_ATTRIBUTES_MAX_AGE
        and now - device.attributes_at > settings.DDI_ATTRIBUTES_UNCONFIRMED_EVERY
    )


def controller_base(request, *, caller, job: UpdateJob | None) -> dict:
    """The poll answer: how long to sleep and what the device should do next."""
    idle = caller.receiver.poll_sleep
    sleep = idle
    links = {}
    # A job awaiting approval is active (the panel's one job) but not the panel's business
    # yet: the poll says nothing of it, at the idle sleep.
    if job is not None and (is_deliverable(job.state) or job.state == JobState.CANCELLING):
        active = parse_duration(settings.DDI_ACTIVE_POLL_SLEEP) or timedelta(seconds=10)
        sleep = min(idle, active)
        if job.state == JobState.CANCELLING:
            links["cancelAction"] = _link(_url(request, "cancel-action", caller, action_id=job.pk))
        else:
            href = _url(request, "deployment-base", caller, action_id=job.pk)
            links["deploymentBase"] = _link(f"{href}?c={action_hash(job)}")
    elif job is not None and job.state == JobState.SUCCEEDED:
        links["installedBase"] = _link(_url(request, "installed-base", caller, action_id=job.pk))
    if _needs_attributes(caller.device, job, seen_before=caller.seen_before):
        links["configData"] = _link(_url(request, "config-data", caller))
    body = {"config": {"polling": {"sleep": sleep_text(sleep)}}}
    if links:
        body["_links"] = links
    return body


def artifact(request, *, caller, release, module_id: int | None = None) -> dict:
    """One artifact: `release` is a Release or the ReleaseDelta a job is sent (its module is
    still the release's)."""
    kwargs = {"module_id": release.pk if module_id is None else module_id}
    download = _url(request, "artifact", caller, filename=release.filename, **kwargs)
    md5sum = _url(request, "artifact", caller, filename=f"{release.filename}.MD5SUM", **kwargs)
    # One server, one scheme: both variants point at what the device reached us by.
    return {
        "filename": release.filename,
        "hashes": {"sha1": release.sha1, "md5": release.md5, "sha256": release.sha256},
        "size": release.size,
        "_links": {
            "download": _link(download),
            "download-http": _link(download),
            "md5sum": _link(md5sum),
            "md5sum-http": _link(md5sum),
        },
    }


def deployment_base(request, *, caller, job: UpdateJob, history: list[str] | None = None,
                    window: Window | None = None, now=None) -> dict:
    """One chunk (the device's firmware, part "os") with one artifact: the release archive,
    or the delta the job is sent (`UpdateJob.delta`, chosen when it was delivered).

    With an install window (install_windows.window_of), `maintenanceWindow` says whether it is
    open now and, while it is closed, `update` is `skip`: download, but do not install yet.
    hawkBit answers so for an action with a maintenance schedule (its `update` is otherwise the
    download's handling); without a window the key is absent, as hawkBit leaves it.
    """
    release = job.release
    deployment = {"download": "forced", "update": "forced"}
    if window is not None:
        available = window_open(window, now or timezone.now())
        deployment["maintenanceWindow"] = "available" if available else "unavailable"
        if not available:
            deployment["update"] = "skip"
    deployment["chunks"] = [
        {
            "part": "os",
            "version": release.version,
            "name": release.device_type.code,
            "artifacts": [artifact(request, caller=caller, release=job.delta if job.delta_id else release,
                                   module_id=release.pk)],
        }
    ]
    body = {"id": str(job.pk), "deployment": deployment}
    if history is not None:
        body["actionHistory"] = {"status": job.state.upper(), "messages": history}
    return body


def action_history(job: UpdateJob, count: int) -> list[str]:
    """The job's last `count` events, newest first (the spec's LIFO order)."""
    events = job.events.order_by("-at", "-id")[:count]
    lines = []
    for event in events:
        what = f"{event.from_state or '-'} -> {event.to_state}" if event.to_state else event.kind
        details = event.details or {}
        extra = details.get("message") or "; ".join(details.get("details") or [])
        lines.append(
            f"{event.at:%Y-%m-%dT%H:%M:%SZ} {event.actor_label}: {what}"
            + (f" ({extra})" if extra else "")
        )
    return lines


def cancel_action(job: UpdateJob) -> dict:
    return {"id": str(job.pk), "cancelAction": {"stopId": str(job.pk)}}


# --- requests -----------------------------------------------------------------------------


def json_body(request) -> dict:
    """The request's JSON object (core.json: size and depth limits); 400/413 as ExceptionInfo."""
    if request.content_type == "application/cbor":
        raise DdiError(415, "Send JSON; CBOR is not supported.", "ddi.unsupported_media_type")
    try:
        body = json_loads(request.body, max_depth=settings.JSON_MAX_DEPTH, max_bytes=settings.JSON_MAX_BYTES)
    except RequestDataTooBig:
        raise DdiError(413, "The request body is too large.", "ddi.too_large") from None
    except JSONBodyError as exc:
        code = "ddi.too_large" if exc.status == 413 else "ddi.body_not_readable"
        raise DdiError(exc.status, exc.reason, code) from None
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.", "ddi.body_not_readable")
    return body


def validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        field, errors = next(iter(exc.message_dict.items()))
        return f"{field}: {errors[0]}"
    return " ".join(exc.messages)


def config_data_parse(body: dict) -> tuple[dict, str]:
    """DdiConfigData: `data` is a map of strings, `mode` merge|replace|remove (default merge)."""
    data = body.get("data")
    if not isinstance(data, dict):
        raise bad_request("'data' must be an object of attribute names to text values.")
    wrong = sorted(k for k, v in data.items() if not isinstance(v, str))
    if wrong:
        raise bad_request(f"Attribute values must be text; {', '.join(wrong[:5])} is not.")
    mode = body.get("mode", "merge")
    if mode not in ("merge", "replace", "remove"):
        raise bad_request(f"Unknown mode {mode!r}; expected merge, replace or remove.")
    return data, mode


def feedback_parse(body: dict, *, action_id: int) -> tuple[str, str, dict | None, list[str]]:
    """DdiActionFeedback -> (execution, finished, progress, details); extra fields are ignored
    (SWUpdate adds an integer "id" and a "time").

    The optional `id` names the action the report is about (SWUpdate sends it as an integer,
    rauc-hawkbit and @awesomeorganization/hawkbit-ddi as text): absent, null or empty it is
    the URL's; another action's id, or a value that is no id, is a 400 rather than a report
    applied to the wrong action.
    """
    report_id = body.get("id")
    if report_id not in (None, "") and not _same_id(report_id, action_id):
        shown = json.dumps(report_id)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise bad_request(f"id: {shown} is not the id of action {action_id}, to whose address the report was sent.")
    try:
        return feedback_validate(body.get("status"))
    except ValidationError as exc:
        raise bad_request(validation_message(exc)) from None


def _same_id(value, action_id: int) -> bool:
    if isinstance(value, bool):
        return False
    return (isinstance(value, int) and value == action_id) or (isinstance(value, str) and value.strip() == str(action_id))


def history_count(request) -> int | None:
    value = request.GET.get("actionHistory")
    if value is None:
        return None
    try:
        count = int(value)
    except ValueError:
        raise bad_request("actionHistory must be a number of messages.") from None
    if count == 0:
        return None  # the spec's default: no history
    # hawkBit reads a negative count as "all of them".
    return MAX_ACTION_HISTORY if count < 0 else min(count, MAX_ACTION_HISTORY)
