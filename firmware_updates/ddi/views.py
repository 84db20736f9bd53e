"""hawkBit DDI v1 endpoints (DESIGN.md 4). Thin: authenticate, read, call one service, answer.

Plain Django views (no DRF): the protocol has its own error shape (ExceptionInfo), its own
auth schemes and no CSRF (devices are not browsers).
"""

import logging
from functools import wraps

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from core.errors import QuotaExceeded
from sites.services import device_touch

from .. import services
from ..install_windows import window_of
from ..models import JobState, UpdateJob, is_deliverable
from . import payloads
from .artifacts import serve
from .auth import authenticate
from .lookup import JOB_FIELDS, delta_by_pk, release_by_pk
from .responses import DdiError, bad_request, empty_ok, error_response, json_response, not_found

log = logging.getLogger(__name__)


# Refusals nginx may keep for the window like a go-ahead (deploy/nginx/firmware.conf): they
# depend on the token, the URL and the job, never on Range (a 416 does, and is not kept).
# A 429 (download budget) depends on the hour, not on Range: kept too, so that it replaces
# the go-ahead nginx holds and the device gets Django's answer (with Retry-After) each time.
KEPT_REFUSALS = frozenset({401, 403, 404, 410, 429})


def ddi_endpoint(*methods: str, register: bool = False, artifact: bool = False):
    """Method check, device authentication, `device_touch`, and errors (bad input, a quota) as
    ExceptionInfo.

    `artifact`: behind nginx, a refusal says nginx may keep it for X_ACCEL_EXPIRES as it
    keeps a go-ahead, so that a refused renewal replaces the go-ahead nginx renews in the
    background; the device still gets Django's own answer each time (docs/nginx.md).
    """

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def endpoint(request, tenant: str, controller_id: str, **kwargs) -> HttpResponse:
            try:
                if "\x00" in request.path_info:
                    # PostgreSQL cannot compare a NUL with text: the lookups below would fail
                    # (core.http_errors.NulInAddressMiddleware does this past the device path).
                    raise bad_request("The address holds a NUL character, which no address may hold.")
                if request.method not in methods:
                    raise DdiError(
                        405, f"{request.method} is not allowed here.", "ddi.method_not_allowed"
                    )
                # hawkBit tenants are case-insensitive; receiver codes are lower case.
                caller = authenticate(
                    request, tenant=tenant.lower(), controller_id=controller_id, register=register
                )
                device_touch(device=caller.device)
                if caller.device.install_offline_until is not None:
                    # Away to install until now: back? (alarm_events; read with the device).
                    services.device_back(device_id=caller.device.pk)
                # re_path hands ids over as text; the URL patterns allow digits only.
                ids = {name: int(value) for name, value in kwargs.items() if name.endswith("_id")}
                return view(request, caller, **{**kwargs, **ids})
            except DdiError as error:
                response = error_response(error)
                if error.retry_after is not None:
                    response["Retry-After"] = str(error.retry_after)
                if error.status == 405:
                    response["Allow"] = ", ".join(methods)
                if artifact and error.status in KEPT_REFUSALS and _go_ahead_window():
                    response["X-Accel-Expires"] = str(settings.X_ACCEL_EXPIRES)
                return response
            except ValidationError as exc:
                return error_response(
                    DdiError(400, payloads.validation_message(exc), "ddi.invalid")
                )
            except QuotaExceeded as exc:
                # The spec's 429 for configData and feedback; the message names the quota.
                return error_response(DdiError(exc.status, exc.reason, "ddi.quota_exceeded"))

        return endpoint

    return decorate


def _go_ahead_window() -> bool:
    return settings.USE_X_ACCEL_REDIRECT and settings.X_ACCEL_EXPIRES > 0


def _latest_job(device) -> UpdateJob | None:
    """The device's newest job: its active one if it has one (at most one is active, and a new
    job is only queued once the previous one has finished). Authentication reads it with the
    device for a TargetToken; this is the GatewayToken's way, reading the same fields."""
    return UpdateJob.objects.filter(device=device).only(*JOB_FIELDS).order_by("-pk").first()


def _device_job(device, action_id: int) -> UpdateJob:
    # Another device's action looks exactly like one that does not exist.
    job = (
        UpdateJob.objects.select_related("release__device_type", "delta")
        .filter(device=device, pk=action_id)
        .first()
    )
    if job is None:
        raise not_found(f"Action {action_id} is not an action of this controller.")
    job.device = device
    return job


def _gone(job: UpdateJob) -> DdiError:
    return DdiError(
        410,
        f"Action {job.pk} is no longer active ({job.get_state_display().lower()}).",
        "ddi.action_gone",
    )


@ddi_endpoint("GET", register=True)
def poll(request, caller):
    job = caller.latest_job(_latest_job)
    return json_response(payloads.controller_base(request, caller=caller, job=job))


@ddi_endpoint("PUT")
def config_data(request, caller):
    data, mode = payloads.config_data_parse(payloads.json_body(request))
    services.device_report_attributes(device=caller.device, data=data, mode=mode)
    return empty_ok()


@ddi_endpoint("GET")
def deployment_base(request, caller, action_id: int):
    count = payloads.history_count(request)
    job = _device_job(caller.device, action_id)
    if not is_deliverable(job.state):
        raise not_found(
            f"Action {job.pk} has nothing to deploy ({job.get_state_display().lower()})."
        )
    job = services.job_deployment_fetched(job=job)
    history = payloads.action_history(job, count) if count else None
    # Not the hot poll: the rollout's window costs one query, and only for a rollout's job.
    window = window_of(job, receiver=caller.receiver)
    return json_response(payloads.deployment_base(request, caller=caller, job=job, history=history,
                                                  window=window))


@ddi_endpoint("POST")
def deployment_feedback(request, caller, action_id: int):
    execution, finished, progress, details = payloads.feedback_parse(payloads.json_body(request),
                                                                     action_id=action_id)
    job = _device_job(caller.device, action_id)
    try:
        services.job_apply_feedback(
            job=job, execution=execution, finished=finished, progress=progress, details=details
        )
    except services.ActionGone:
        raise _gone(job) from None
    return empty_ok()


@ddi_endpoint("GET")
def installed_base(request, caller, action_id: int):
    count = payloads.history_count(request)
    job = _device_job(caller.device, action_id)
    if job.state != JobState.SUCCEEDED:
        raise not_found(f"Action {job.pk} was not installed ({job.get_state_display().lower()}).")
    history = payloads.action_history(job, count) if count else None
    return json_response(payloads.deployment_base(request, caller=caller, job=job, history=history))


@ddi_endpoint("GET")
def cancel_action(request, caller, action_id: int):
    job = _device_job(caller.device, action_id)
    if job.state != JobState.CANCELLING:
        raise not_found(f"Action {job.pk} is not being cancelled.")
    return json_response(payloads.cancel_action(job))


@ddi_endpoint("POST")
def cancel_feedback(request, caller, action_id: int):
    execution, finished, _progress, details = payloads.feedback_parse(payloads.json_body(request),
                                                                      action_id=action_id)
    job = _device_job(caller.device, action_id)
    try:
        services.job_apply_cancel_feedback(
            job=job, execution=execution, finished=finished, details=details
        )
    except services.ActionGone:
        raise _gone(job) from None
    return empty_ok()


def _downloadable_release(caller, module_id: int):
    """The archive the device's own active job is sent, if `module_id` is its release; else
    404. A job sent a delta (`UpdateJob.delta`) is served that delta and only that: the
    module is still the release, the artifact another file.

    A cancelling or finished job's archive is no longer served (DESIGN.md 5). The job is the
    one authentication read with the device (TargetToken), so a download costs one query more:
    the release or its delta (`lookup`).
    """
    job = caller.latest_job(_latest_job)
    if (
        job is None
        or not is_deliverable(job.state)
        or job.release_id != module_id
    ):
        raise not_found("No such artifact for this controller.")
    release = delta_by_pk(job.delta_id) if job.delta_id else release_by_pk(job.release_id)
    if release is None:  # pragma: no cover - a job's release and delta are protected from deletion
        raise not_found("No such artifact for this controller.")
    return job, release


@ddi_endpoint("GET")
def artifact_list(request, caller, module_id: int):
    _job, release = _downloadable_release(caller, module_id)
    return json_response([payloads.artifact(request, caller=caller, release=release, module_id=module_id)])


@ddi_endpoint("GET", "HEAD", artifact=True)
def artifact(request, caller, module_id: int, filename: str):
    # `release`: the release, or the delta the job is sent (the same fields: file, hashes).
    job, release = _downloadable_release(caller, module_id)
    if filename == release.filename:
        return _serve_archive(request, job, release)
    if filename == f"{release.filename}.MD5SUM":
        # The md5sum tool's format, so `md5sum -c` checks the download.
        body = f"{release.md5}  {release.filename}\n".encode()
        response = HttpResponse(
            b"" if request.method == "HEAD" else body, content_type="text/plain; charset=utf-8"
        )
        response["Content-Length"] = str(len(body))
        return response
    raise not_found("No such artifact for this controller.")


def _serve_archive(request, job: UpdateJob, release):
    def open_file():
        try:
            return release.archive.storage.open(release.archive.name, "rb")
        except OSError:
            log.error("archive of release %s is missing: %s", release.pk, release.archive.name)
            raise DdiError(404, "The artifact is not available.", "ddi.artifact_missing") from None

    def started(first: int) -> None:
        services.job_download_progress(job=job, offset=first)

    def admit(first: int, last: int) -> None:
        retry_after = services.job_download_admit(job=job, size=release.size, first=first, last=last)
        if retry_after is not None:
            raise DdiError(429, f"More than {settings.DDI_DOWNLOAD_BUDGET_ARCHIVES} archives' worth of this action's "
                                f"archive asked for within the hour; retry after {retry_after} s.",
                           "ddi.download_budget_exceeded", retry_after=retry_after)

    return serve(
        request,
        open_file=open_file,
        size=release.size,
        etag=f'"{release.sha256}"',
        filename=release.filename,
        accel_path=f"{settings.X_ACCEL_REDIRECT_PREFIX}{release.archive.name}",
        started=started,
        admit=admit,
    )


@ddi_endpoint("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")
def unsupported(request, caller, resource: str):
    # confirmationBase, installedBase PUT, ...: resources of the spec we do not offer, answered
    # in the protocol's error shape (and only to an authenticated device).
    raise not_found(f"No such DDI resource: {resource[:100]}.")
