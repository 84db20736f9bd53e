"""`events/`: the alarm centre's event feed (docs/security-center.md).

`GET /api/v1/events/?after=<id>&receiver=<code>&type=<t1,t2>&limit=<n>` answers the events
after `after` in ascending `id`, at most `limit`, and `next`: the URL of the following page
when this one is full, else null (the console asks again later with the last `id` it has).
The `id` is the event's feed position (core/events.py: given after commit, in order), so a
console polling `after=` never misses an event that committed late.
"""

from urllib.parse import urlencode

from django.utils.translation import gettext as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from core import events
from core.api_support import DateTimeField, ErrorSerializer, query_object
from core.events import EventType
from core.models import Event
from core.permissions import VIEW_EVENT, ActionPermission
from receivers.models import Receiver

LIMIT_DEFAULT, LIMIT_MAX = 100, 1000


@extend_schema_field({"type": ["string", "null"]})
class BlankAsNullField(serializers.CharField):
    """A text column kept "" when unknown, answered as null."""

    def to_representation(self, value):
        return value or None


class FeedEventSerializer(serializers.Serializer):
    """One event of the feed (docs/security-center.md)."""

    id = serializers.IntegerField(source="position",
                                  help_text="Strictly increasing, never reused: ask for the events after it.")
    type = serializers.ChoiceField(choices=EventType.choices)
    at = DateTimeField(help_text="When it happened.")
    receiver = BlankAsNullField(help_text="Receiver code.")
    site_number = serializers.IntegerField(allow_null=True)
    serial = BlankAsNullField(help_text="The panel's serial (DDI controllerId).")
    job = serializers.IntegerField(allow_null=True, help_text="Update job id.")
    rollout = serializers.IntegerField(allow_null=True, help_text="Rollout id.")
    data = serializers.JSONField(help_text="The type's own fields (docs/security-center.md).")


class FeedPageSerializer(serializers.Serializer):
    results = FeedEventSerializer(many=True)
    next = serializers.URLField(allow_null=True, help_text="The following page, or null when this one is not full.")


def _whole(request, name: str, *, default: int, low: int, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bounds = (_("a whole number from %(low)s to %(high)s") % {"low": low, "high": high} if high is not None
                  else _("a whole number of at least %(low)s") % {"low": low})
        raise ValidationError({name: _("Give %(name)s as %(bounds)s, not %(raw)r.") % {
            "name": name, "bounds": bounds, "raw": raw}})
    return value


def _types(request) -> list[str]:
    raw = request.query_params.get("type") or ""
    asked = [t.strip() for t in raw.split(",") if t.strip()]
    unknown = [t for t in asked if t not in EventType.values]
    if unknown:
        raise ValidationError({"type": _("Unknown event type %(types)s; known: %(known)s.") % {
            "types": ", ".join(repr(t) for t in unknown), "known": ", ".join(EventType.values)}})
    return asked


class FeedSchema(AutoSchema):
    """The feed answers one page object (`results`, `next`), not a bare list of events."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


class EventViewSet(viewsets.GenericViewSet):
    schema = FeedSchema()
    serializer_class = FeedEventSerializer
    permission_classes = [ActionPermission]
    action_permissions = {"list": (VIEW_EVENT,)}
    pagination_class = None

    @extend_schema(
        summary="The alarm centre's event feed",
        description="Events in ascending `id`; poll with `after` set to the last `id` received.",
        parameters=[
            OpenApiParameter("after", OpenApiTypes.INT, description="Only events after this id (default 0)."),
            OpenApiParameter("receiver", str, description="Receiver code."),
            OpenApiParameter("type", str, description="Event types, comma separated: " + ", ".join(EventType.values)),
            OpenApiParameter("limit", OpenApiTypes.INT,
                             description=f"Events per page, 1 to {LIMIT_MAX} (default {LIMIT_DEFAULT})."),
        ],
        responses={200: FeedPageSerializer, 400: ErrorSerializer},
    )
    def list(self, request):
        after = _whole(request, "after", default=0, low=0)
        limit = _whole(request, "limit", default=LIMIT_DEFAULT, low=1, high=LIMIT_MAX)
        types = _types(request)
        receiver = query_object(request, "receiver", Receiver.objects.all())
        # What committed since the last reader or delivery gets its place in the feed first.
        events.events_sequence()
        qs = Event.objects.filter(position__gt=after)
        if receiver is not None:
            qs = qs.filter(receiver=receiver.code)
        if types:
            qs = qs.filter(type__in=types)
        page = list(qs.order_by("position")[:limit])
        following = None
        if len(page) == limit:
            params = request.query_params.copy()
            params["after"] = str(page[-1].position)
            following = request.build_absolute_uri(request.path + "?" + urlencode(sorted(params.items())))
        return Response({"results": FeedEventSerializer(page, many=True).data, "next": following})
