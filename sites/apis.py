"""`device-types/`, and the shapes of a site's panel in the management API (DESIGN.md 5).

The `sites/` endpoint shows badges and update jobs, so it is the update app's
(firmware_updates/apis/sites.py); it reads and writes panels with the serializers here."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from core.api_support import ErrorSerializer, query_object
from core.permissions import ADD_DEVICE_TYPE, VIEW_DEVICE, VIEW_DEVICE_TYPE, ActionPermission
from receivers.apis import receiver_field
from receivers.models import Receiver

from . import services
from .models import Channel, Device, DeviceType, code_validator
from .serials import serial_validate
from .versions import version_validate


def device_type_field(**kwargs) -> serializers.SlugRelatedField:
    """A device type named by its code in a request body, e.g. nord-gsm."""
    return serializers.SlugRelatedField(
        slug_field="code", queryset=DeviceType.objects.all(), help_text="Device type code, e.g. nord-gsm.",
        error_messages={"does_not_exist": "No device type has the code {value}."}, **kwargs,
    )


class DeviceTypeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, validators=[code_validator],
                                 help_text="SWUpdate board name, e.g. nord-gsm.")
    name = serializers.CharField(max_length=200)


@extend_schema_view(
    list=extend_schema(summary="Device types"),
    retrieve=extend_schema(summary="One device type"),
    create=extend_schema(summary="Register a device type", responses={201: DeviceTypeSerializer, 400: ErrorSerializer}),
)
class DeviceTypeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = DeviceType.objects.order_by("name", "code")
    serializer_class = DeviceTypeSerializer
    lookup_field = "code"
    lookup_value_regex = "[a-z0-9][a-z0-9_-]*"
    permission_classes = [ActionPermission]
    action_permissions = {"list": (VIEW_DEVICE_TYPE,), "retrieve": (VIEW_DEVICE_TYPE,), "create": (ADD_DEVICE_TYPE,)}

    def create(self, request):
        data = DeviceTypeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        device_type = services.device_type_create(**data.validated_data, actor=request.user)
        return Response(DeviceTypeSerializer(device_type).data, status=status.HTTP_201_CREATED)


class PartitionSerializer(serializers.Serializer):
    number = serializers.IntegerField(min_value=1, max_value=999)
    armed = serializers.BooleanField()


class DeviceSerializer(serializers.Serializer):
    serial = serializers.CharField(max_length=64, help_text="DDI controllerId.")
    device_type = serializers.CharField(source="device_type.code", allow_null=True, default=None)
    hardware_revision = serializers.CharField()
    firmware_version = serializers.CharField()
    channels = serializers.ListField(child=serializers.ChoiceField(choices=Channel.choices))
    partitions = PartitionSerializer(many=True)
    last_seen = serializers.DateTimeField(allow_null=True)
    online = serializers.SerializerMethodField()

    def get_online(self, device) -> bool:
        # The site's receiver is already loaded; device.receiver would cost a query per row.
        receiver = device.site.receiver if device.site_id else device.receiver
        return services.device_is_online(device=device, receiver=receiver)


class DeviceListSerializer(DeviceSerializer):
    receiver = serializers.CharField(source="receiver.code")
    site = serializers.IntegerField(source="site.number", allow_null=True, default=None,
                                    help_text="The site's number; null: not attached to a site yet.")
    attributes_at = serializers.DateTimeField(allow_null=True, help_text="When the panel last reported its attributes.")


DEVICE_FILTERS = [OpenApiParameter("receiver", str, description="Receiver code."),
                  OpenApiParameter("unassigned", bool, description="1: only panels on no site (adopt one with POST sites/).")]


@extend_schema_view(list=extend_schema(
    summary="Panels, e.g. those registered through a receiver's gateway and not on a site yet", parameters=DEVICE_FILTERS))
class DeviceViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = DeviceListSerializer
    permission_classes = [ActionPermission]
    action_permissions = {"list": (VIEW_DEVICE,)}

    def get_queryset(self):
        request = self.request
        qs = Device.objects.select_related("receiver", "device_type", "site__receiver").order_by("serial")
        receiver = query_object(request, "receiver", Receiver.objects.all())
        if receiver is not None:
            qs = qs.filter(receiver=receiver)
        unassigned = request.query_params.get("unassigned")
        if unassigned not in (None, "", "0", "1", "true", "false"):
            raise ValidationError({"unassigned": "Give 1 for panels on no site, 0 for all."})
        if unassigned in ("1", "true"):
            qs = qs.filter(site__isnull=True)
        return qs


class CreatedDeviceSerializer(DeviceSerializer):
    target_token = serializers.CharField(help_text="Shown only in this answer: `Authorization: TargetToken <token>`.")


class DeviceInputSerializer(serializers.Serializer):
    # No trimming: " NG1" is refused with the reason rather than stored as another serial.
    serial = serializers.CharField(max_length=64, trim_whitespace=False, validators=[serial_validate],
                                   help_text="DDI controllerId: letters A-Z, digits and . _ : @ + -.")
    device_type = device_type_field()
    hardware_revision = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    firmware_version = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default="", validators=[version_validate]
    )
    channels = serializers.ListField(child=serializers.ChoiceField(choices=Channel.choices), required=False, default=list)
    partitions = PartitionSerializer(many=True, required=False, default=list)


class SiteInputSerializer(serializers.Serializer):
    receiver = receiver_field()
    number = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    device = DeviceInputSerializer()


class TargetTokenSerializer(serializers.Serializer):
    target_token = serializers.CharField(help_text="The panel's new token; the old one no longer works.")


