"""The management API's parsers (REST_FRAMEWORK DEFAULT_PARSER_CLASSES): JSON through
core/json.py, and DRF's form and multipart parsers refusing a field that holds a NUL
character or a lone surrogate (core.json.text_refusal: PostgreSQL refuses NUL in text, so a
field looked up by code, such as a rollout's device type, answered 500).

Its own module: DRF reads its parser setting while defining APIView, which core/api.py
imports, so the parser cannot live there.
"""

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError

from .json import JSONBodyError, JSONBodyTooLarge, json_loads, json_read, text_refusal


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser through core.json: size and nesting limits, reasons in plain words.

    DRF hands parsers the raw request stream, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE, so
    the size is checked here: by Content-Length before reading, and while reading. JSON is
    UTF-8 whatever charset the request names (RFC 8259 8.1).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        try:
            if declared and declared.isdigit() and int(declared) > settings.JSON_MAX_BYTES:
                raise JSONBodyTooLarge(f"The request body is larger than {settings.JSON_MAX_BYTES} bytes.")
            limit = settings.JSON_MAX_BYTES
            return json_loads(json_read(stream, max_bytes=limit), max_depth=settings.JSON_MAX_DEPTH, max_bytes=limit)
        except JSONBodyTooLarge as exc:
            raise RequestTooLarge(exc.reason) from None
        except JSONBodyError as exc:
            raise ParseError(exc.reason) from None


def _fields_refusal(data) -> None:
    """ParseError naming the first form field (name or value) that cannot be stored."""
    for name, values in data.lists():
        for text in (name, *(value for value in values if isinstance(value, str))):
            if why := text_refusal(text):
                raise ParseError(f"The form field {ascii(name)[:60]} holds {why}.")


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _fields_refusal(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        _fields_refusal(result.data)
        return result
