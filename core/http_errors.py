"""Django's error views (securitycenter/urls.py handler400/403/404/500): JSON under /api/.

DRF answers its own errors in JSON (core.api.exception_handler), but what never reaches a
DRF view is Django's: an unknown URL (`/api/v1/nope/`), an error DRF does not handle (a
500), a request Django refuses before any view (a body past DATA_UPLOAD_MAX_MEMORY_SIZE, a
bad Host). A client of the management API gets `{"detail": ...}` for those too; everyone
else gets the panel's pages (templates/404.html, 403.html) as before.

`NulInAddressMiddleware` refuses an address holding a NUL character, which PostgreSQL cannot
compare with text: 400 in JSON under /api/, a short text elsewhere.
"""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseBadRequest, JsonResponse
from django.utils import translation
from django.utils.translation import gettext
from django.views import defaults

API_PREFIX = "/api/"


def is_api(request) -> bool:
    return request.path_info == API_PREFIX.rstrip("/") or request.path_info.startswith(API_PREFIX)


def api_error(detail: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    if not is_api(request):
        return defaults.bad_request(request, exception, template_name)
    if isinstance(exception, RequestDataTooBig):
        return api_error(gettext("The request body is too large."), 413)
    # Django's own reason (SuspiciousOperation) is for the log, never for the client.
    return api_error(gettext("Bad request."), 400)


def permission_denied(request, exception, template_name=defaults.ERROR_403_TEMPLATE_NAME):
    if not is_api(request):
        return defaults.permission_denied(request, exception, template_name)
    return api_error(str(exception) or gettext("You may not do this."), 403)


def page_not_found(request, exception, template_name=defaults.ERROR_404_TEMPLATE_NAME):
    if not is_api(request):
        return defaults.page_not_found(request, exception, template_name)
    return api_error(gettext("No API endpoint at this address; /api/schema/ lists them."), 404)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    if not is_api(request):
        return defaults.server_error(request, template_name)
    return api_error(gettext("Server error: the request failed on our side and was logged."), 500)


def nul_in_address(request) -> bool:
    """Whether the request's path or query string holds a NUL character (`%00`)."""
    query = request.META.get("QUERY_STRING", "")
    return "\x00" in request.path_info or "%00" in query or "\x00" in query


class NulInAddressMiddleware:
    """In MIDDLEWARE, after the device protocol's own (whose views check their addresses
    themselves): an address holding a NUL character (`%00`, in the path or the query) is a
    400 before any view. PostgreSQL refuses NUL in text, so a filter (`?receiver=%00`), a
    lookup by code or a search answered 500; no legitimate address holds one. Bodies are
    checked where they are read (core/json.py, core/parsers.py, Django's form fields)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not nul_in_address(request):
            return self.get_response(request)
        # Before LocaleMiddleware: the request's language asked here.
        with translation.override(translation.get_language_from_request(request)):
            reason = gettext("The address holds a NUL character, which no address may hold.")
        if is_api(request):
            return api_error(reason, 400)
        return HttpResponseBadRequest(reason, content_type="text/plain; charset=utf-8")
