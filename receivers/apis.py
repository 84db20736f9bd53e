"""`receivers/`: receiving servers and their gateway tokens (DESIGN.md 5).

The firmware statistics of a receiver (`receivers/{code}/firmware-stats/`) are the update
app's: firmware_updates/apis/receivers.py extends this view set with them."""

from datetime import time

from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api_support import DateTimeField, ErrorSerializer
from core.permissions import (
    ADD_RECEIVER,
    CHANGE_RECEIVER,
    VIEW_RECEIVER,
    ActionPermission,
)

from . import services
from .models import Receiver, code_validator, time_zone_validator


def receiver_field(**kwargs) -> serializers.SlugRelatedField:
    """A receiver named by its code in a request body; an unknown code is a 400 on the field."""
    return serializers.SlugRelatedField(
        slug_field="code", queryset=Receiver.objects.all(), help_text="Receiver code.",
        error_messages={"does_not_exist": gettext_lazy("No receiver has the code {value}.")}, **kwargs,
    )


class InstallWindowSerializer(serializers.Serializer):
    """A daily install window, local times of the receiver's time zone; start > end crosses
    midnight (22:00-05:00). Receivers have one, a rollout may have its own."""

    start = serializers.TimeField(format="%H:%M", input_formats=["%H:%M"])
    end = serializers.TimeField(format="%H:%M", input_formats=["%H:%M"])

    def validate(self, data):
        if data["start"] == data["end"]:
            raise serializers.ValidationError(gettext("An install window needs different start and end times."))
        return data


def install_window_data(start: time | None, end: time | None) -> dict | None:
    """A stored window as the API shows it, {"start": "HH:MM", "end": "HH:MM"}, or None."""
    return None if start is None else InstallWindowSerializer({"start": start, "end": end}).data


def install_window_value(data: dict | None) -> tuple[time, time] | None:
    """A validated `install_window` as the services take it: (start, end) or None."""
    return (data["start"], data["end"]) if data else None


class ReceiverInputSerializer(serializers.Serializer):
    code = serializers.CharField(
        max_length=64, validators=[code_validator], help_text="Short code; the DDI tenant in device URLs."
    )
    name = serializers.CharField(max_length=200)
    wakeup_url = serializers.URLField(
        required=False, allow_blank=True, default="",
        help_text="POSTed {receiver, command: poll-now, serials} to wake panels at once.",
    )
    poll_sleep = serializers.DurationField(
        required=False, help_text='How long idle panels sleep between polls, e.g. "00:05:00".'
    )
    time_zone = serializers.CharField(
        required=False, max_length=64, validators=[time_zone_validator],
        help_text='IANA time zone of the install window, e.g. "Europe/Berlin"; default: the server\'s.',
    )
    install_window = InstallWindowSerializer(
        required=False, allow_null=True, default=None,
        help_text="Daily window in the receiver's time zone; outside it panels download but do not "
                  "install. Null: they install as soon as they are ready.",
    )


class ReceiverSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    wakeup_url = serializers.CharField(help_text="Empty: panels are not woken, they find work on their next poll.")
    poll_sleep = serializers.DurationField()
    time_zone = serializers.CharField()
    install_window = serializers.SerializerMethodField()
    created_at = DateTimeField()

    @extend_schema_field(InstallWindowSerializer(allow_null=True))
    def get_install_window(self, receiver):
        return install_window_data(receiver.install_window_start, receiver.install_window_end)


class ReceiverCreatedSerializer(ReceiverSerializer):
    gateway_token = serializers.CharField(
        help_text="Shown only in this answer: `Authorization: GatewayToken <token>`."
    )


class GatewayTokenSerializer(serializers.Serializer):
    gateway_token = serializers.CharField(help_text="The new token; the old one no longer works.")


@extend_schema_view(
    list=extend_schema(summary="Receivers"),
    retrieve=extend_schema(summary="One receiver"),
    create=extend_schema(
        summary="Register a receiver",
        request=ReceiverInputSerializer,
        responses={201: ReceiverCreatedSerializer, 400: ErrorSerializer},
    ),
)
class ReceiverViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Receiver.objects.order_by("code")
    serializer_class = ReceiverSerializer
    lookup_field = "code"
    lookup_value_regex = "[a-z0-9][a-z0-9_-]*"
    permission_classes = [ActionPermission]
    action_permissions = {
        "list": (VIEW_RECEIVER,),
        "retrieve": (VIEW_RECEIVER,),
        "create": (ADD_RECEIVER,),
        "gateway_token": (CHANGE_RECEIVER,),
    }

    def get_serializer_class(self):
        # The browsable API's form and OPTIONS show what a POST takes, not what it answers.
        return ReceiverInputSerializer if self.action == "create" else super().get_serializer_class()

    def create(self, request):
        data = ReceiverInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        window = install_window_value(values.pop("install_window"))
        receiver, token = services.receiver_create(**values, install_window=window, actor=request.user)
        receiver.gateway_token = token
        return Response(ReceiverCreatedSerializer(receiver).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Rotate the receiver's gateway token",
        request=None,
        responses={200: GatewayTokenSerializer, 404: ErrorSerializer},
    )
    @action(detail=True, methods=["post"], url_path="gateway-token")
    def gateway_token(self, request, code=None):
        token = services.receiver_gateway_token_rotate(receiver=self.get_object(), actor=request.user)
        return Response({"gateway_token": token})
