"""JSON answers and errors of the device API, in the shapes the hawkBit DDI spec gives.

Errors use the spec's `ExceptionInfo` object: `{"message": ..., "errorCode": ...}`. The
error codes are ours (`ddi.<what>`); DDI clients log them and look only at the status.
"""

import json

from django.http import HttpResponse

CONTENT_TYPE = "application/json"
# RFC 9110 11.6.1: a 401 carries a challenge for every scheme we accept.
CHALLENGE = 'TargetToken realm="hawkBit DDI", GatewayToken realm="hawkBit DDI"'


class DdiError(Exception):
    """Ends a device request with `status` and an ExceptionInfo body."""

    def __init__(self, status: int, message: str, code: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.retry_after = retry_after  # seconds, sent as Retry-After


def bad_request(message: str, code: str = "ddi.invalid") -> DdiError:
    return DdiError(400, message, code)


def not_found(message: str = "Not found.") -> DdiError:
    return DdiError(404, message, "ddi.not_found")


def unauthorized() -> DdiError:
    # One message for every failure: never tells whether the token, the serial or the
    # pairing of both was wrong.
    return DdiError(
        401,
        "Authentication with a valid TargetToken or GatewayToken is required.",
        "ddi.unauthorized",
    )


def json_response(payload, status: int = 200) -> HttpResponse:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    response = HttpResponse(body, status=status, content_type=CONTENT_TYPE)
    response["Content-Length"] = str(len(body))
    return response


def error_response(error: DdiError) -> HttpResponse:
    response = json_response(
        {"message": error.message, "errorCode": error.code}, status=error.status
    )
    if error.status == 401:
        response["WWW-Authenticate"] = CHALLENGE
    return response


def empty_ok() -> HttpResponse:
    """The spec's bodiless 200 (feedback, configData)."""
    response = HttpResponse(b"", status=200)
    del response["Content-Type"]
    response["Content-Length"] = "0"
    return response
