"""API infrastructure shared by every app: pagination and the one exception handler."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import QuotaExceeded, Refused, Rejected


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_paginated_response_schema(self, schema):
        # The schema is OpenAPI 3.1 (settings), where null is a type: DRF still writes 3.0's
        # `nullable`, which 3.1 validators ignore.
        response = super().get_paginated_response_schema(schema)
        for link in ("next", "previous"):
            prop = response["properties"][link]
            if prop.pop("nullable", False):
                prop["type"] = [prop["type"], "null"]
        return response


def exception_handler(exc, context):
    """Domain errors become 4xx with `detail` in plain words (DESIGN.md 5).

    Only "not found" of the URL's object is a 404 (DRF's Http404 from get_object). A row
    missing inside a service (DoesNotExist) is a bug or a race: it stays a server error,
    logged with its traceback, rather than a 404 that names a model to the client.
    """
    if isinstance(exc, Http404):
        # get_object's own words name the model ("No UpdateJob matches the given query.").
        exc = NotFound()
    if isinstance(exc, QuotaExceeded):  # before Rejected: an archive over a quota is both
        return Response({"detail": exc.reason, "quota": exc.quota}, status=exc.status)
    if isinstance(exc, Refused):
        return Response({"detail": exc.reason, "code": exc.code}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, Rejected):
        body = {"detail": exc.reason, exc.field: [exc.reason]}
        if exc.code:
            body["code"] = exc.code
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = ValidationError(errors)
    response = drf_exception_handler(exc, context)
    if response is not None:
        _errors_in_json(context.get("request"))
    if response is not None and isinstance(exc, ValidationError):
        # Field errors stay as DRF gives them; `detail` sums them up in one sentence.
        if isinstance(response.data, dict) and "detail" not in response.data:
            response.data = {"detail": _first_error(response.data), **response.data}
        elif isinstance(response.data, list):
            response.data = {"detail": _first_error(response.data), "non_field_errors": response.data}
    return response


def _errors_in_json(request) -> None:
    """An error is JSON whatever the view renders otherwise (the schema's YAML, the docs'
    HTML page); only the browsable API, which a browser asked for, shows it in its page."""
    if request is None or isinstance(getattr(request, "accepted_renderer", None),
                                     JSONRenderer | BrowsableAPIRenderer):
        return
    request.accepted_renderer = JSONRenderer()
    request.accepted_media_type = JSONRenderer.media_type


def _first_error(errors, path: str = "") -> str:
    """The first message of (possibly nested) field errors, named by its dotted field path."""
    if isinstance(errors, dict):
        for field, value in errors.items():
            name = path if field in ("non_field_errors", api_settings.NON_FIELD_ERRORS_KEY) else (
                f"{path}.{field}" if path else str(field))
            if value:
                return _first_error(value, name)
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            if value:
                nested = isinstance(value, (dict, list))
                return _first_error(value, f"{path}[{index}]" if nested else path)
    elif errors:
        return f"{path}: {errors}" if path else str(errors)
    return gettext("Invalid input.")
