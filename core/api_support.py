"""Pieces every management API module shares: error shapes for the schema, filter lookups,
and the token endpoint.

Kept apart from `core/api.py`, which DRF imports while it is still loading its own
generic views (pagination and exception handler settings): this module imports views.
"""

from django.utils.translation import gettext, ngettext
from drf_spectacular.utils import extend_schema
from rest_framework import routers, serializers, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from .signin import cache_outage_log, client_address, signin_refusal, signin_success_forget


class DateTimeField(serializers.DateTimeField):
    """DRF's, answering the same text: the zone it answers in (the request's, activated by
    core/preferences.py) looked up once, when the serializer binds the field, not again for
    every value (DRF asks asgiref's Local each time: a fifth of the rollouts list's
    serializing, 700 times a page)."""

    def bind(self, field_name, parent):
        super().bind(field_name, parent)
        if not hasattr(self, "timezone"):
            self.timezone = self.default_timezone()


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


class PasswordGuessThrottle(SimpleRateThrottle):
    """Slows password guessing on the token endpoint: 20 tries a minute per client address
    (X-Forwarded-For only as far as TRUSTED_PROXY_COUNT proxies vouch for it, core.signin).

    Every request counts, whoever sends it: DRF's AnonRateThrottle skips a request that
    carries a valid token, so anyone with an account of their own guessed other operators'
    passwords unthrottled by sending their own `Authorization: Token`."""

    scope = "auth-token"
    rate = "20/min"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # the cache's client errors: no limit rather than a 500
            cache_outage_log("token endpoint throttle not applied", exc)
            return True


class TokenObtainView(ObtainAuthToken):
    """`POST /api/v1/auth/token/`: an operator's key for `Authorization: Token <key>`.

    A sign-in like the panel's and the admin's login pages (core/signin.py): refused (429,
    Retry-After) while the client's address or the user name is paused after too many
    failures, wherever they failed; each failure is audited and counted there (Django's
    `user_login_failed`, which the serializer's `authenticate` sends), a success forgets the
    name's failures. Nobody is authenticated by what the request carries besides the body.
    """

    # ObtainAuthToken names DRF's own parsers; ours (settings) bound JSON bodies.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES
    authentication_classes = []
    throttle_classes = [PasswordGuessThrottle]

    @extend_schema(
        operation_id="auth_token_create",
        summary="Get the API token of an operator",
        description="429 with Retry-After while sign-ins from the client's address or for the user name "
                    "are paused after too many failures (SIGNIN_FAILURES_PER_ADDRESS, SIGNIN_FAILURES_PER_NAME, "
                    "SIGNIN_COOL_OFF), as the panel's login page is.",
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, 400: ErrorSerializer, 429: ErrorSerializer},
        auth=[],
        tags=["auth"],
    )
    def post(self, request, *args, **kwargs):
        username = request.data.get("username") if hasattr(request.data, "get") else None
        username = username if isinstance(username, str) else ""
        refusal = signin_refusal(address=client_address(request), username=username)
        if refusal is not None:
            minutes = -(-refusal.retry_after // 60)
            again = ngettext("Try again in %(minutes)s minute.", "Try again in %(minutes)s minutes.",
                             minutes) % {"minutes": minutes}
            return Response({"detail": f"{refusal.reason} {again}"}, status=status.HTTP_429_TOO_MANY_REQUESTS,
                            headers={"Retry-After": str(refusal.retry_after)})
        response = super().post(request, *args, **kwargs)
        signin_success_forget(username=username)
        return response


class ApiRoot(routers.APIRootView):
    """`GET /api/v1/`: each collection's absolute URL, by its prefix.

    Built from the prefixes, not by reversing the routes' names as DRF's own root does: the
    panel has pages named as the router names its routes (`receiver-list`, `release-list`), so
    DRF's root linked the receivers and releases to the panel's HTML pages."""

    prefixes: list[str] = []

    def get(self, request, *args, **kwargs):
        root = request.build_absolute_uri(request.path)
        return Response({prefix: f"{root}{prefix}/" for prefix in self.prefixes})


class Router(routers.DefaultRouter):
    def get_api_root_view(self, api_urls=None):
        return ApiRoot.as_view(prefixes=[prefix for prefix, _viewset, _basename in self.registry])
