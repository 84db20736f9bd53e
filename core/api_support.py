"""Pieces every management API module shares: error shapes for the schema, filter lookups,
and the token endpoint.

Kept apart from `core/api.py`, which DRF imports while it is still loading its own
generic views (pagination and exception handler settings): this module imports views.
"""

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle

from .signin import cache_outage_log


class ErrorSerializer(serializers.Serializer):
    """Every error answer: the reason in plain words (a 400 adds one entry per bad field)."""

    detail = serializers.CharField()


class RefusalSerializer(ErrorSerializer):
    """409: not allowed now; `code` is a stable machine name for the reason."""

    code = serializers.CharField()


class RejectionSerializer(ErrorSerializer):
    """400 for input refused as a whole (an archive): `detail` in the request's language, `code` a
    stable machine name for why (e.g. archive_hash_mismatch)."""

    code = serializers.CharField(required=False)


class QuotaSerializer(ErrorSerializer):
    """429 / 413: a quota would be passed; `quota` names the setting that sets it."""

    quota = serializers.CharField()


def query_object(request, param: str, queryset, *, field: str = "code", what: str = ""):
    """The object a filter parameter names (`?receiver=north`): None if absent, 400 if unknown."""
    value = request.query_params.get(param)
    if not value:
        return None
    obj = queryset.filter(**{field: value}).first()
    if obj is None:
        raise ValidationError({param: gettext("Unknown {what} {value!r}.").format(
            what=what or param.replace("_", " "), value=value)})
    return obj


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class PasswordGuessThrottle(AnonRateThrottle):
    """Slows password guessing on the token endpoint: 20 tries a minute per client address
    (X-Forwarded-For only as far as TRUSTED_PROXY_COUNT proxies vouch for it, core.signin)."""

    scope = "auth-token"
    rate = "20/min"

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # the cache's client errors: no limit rather than a 500
            cache_outage_log("token endpoint throttle not applied", exc)
            return True


class TokenObtainView(ObtainAuthToken):
    """`POST /api/v1/auth/token/`: an operator's key for `Authorization: Token <key>`."""

    # ObtainAuthToken names DRF's own parsers; ours (settings) bound JSON bodies.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES
    throttle_classes = [PasswordGuessThrottle]

    @extend_schema(
        operation_id="auth_token_create",
        summary="Get the API token of an operator",
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, 400: ErrorSerializer},
        auth=[],
        tags=["auth"],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)
