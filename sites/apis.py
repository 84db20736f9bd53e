"""`device-types/`, and the shapes of a site's panel in the management API (DESIGN.md 5).

The `sites/` endpoint shows badges and update jobs, so it is the update app's
(firmware_updates/apis/sites.py); it reads and writes panels with the serializers here."""

from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from core.api_support import DateTimeField, ErrorSerializer, query_object
from core.permissions import (
    ADD_DEVICE_TYPE,
    CHANGE_DEVICE_TYPE,
    VIEW_DEVICE,
    VIEW_DEVICE_TYPE,
    ActionPermission,
)
from receivers.apis import receiver_field
from receivers.models import Receiver

from . import services
from .models import (
    EXPECTED_OFFLINE_MAX,
    EXPECTED_OFFLINE_MIN,
    EXPECTED_OFFLINE_SECONDS,
    Channel,
    Device,
    DeviceType,
    RemoteUpdate,
    code_validator,
)
from .serials import serial_validate
from .versions import version_validate


def device_type_field(**kwargs) -> serializers.SlugRelatedField:
    """A device type named by its code in a request body, e.g. nord-gsm."""
    return serializers.SlugRelatedField(
        slug_field="code", queryset=DeviceType.objects.all(), help_text="Device type code, e.g. nord-gsm.",
        error_messages={"does_not_exist": gettext_lazy("No device type has the code {value}.")}, **kwargs,
    )



def refuse_unknown_fields(serializer: serializers.Serializer) -> None:
    """A PATCH naming a field it does not take is refused by name rather than ignored: a
    misspelt or unsupported one (a site's address, before it was taken) answered 200 and
    changed nothing."""
    data = serializer.initial_data
    unknown = sorted(set(data) - set(serializer.fields) - {"csrfmiddlewaretoken"}) if isinstance(data, dict) else []
    if unknown:
        raise serializers.ValidationError(
            _("Only %(fields)s may be changed, not %(unknown)s.")
            % {"fields": ", ".join(serializer.fields), "unknown": ", ".join(unknown)})

class DeviceTypeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, validators=[code_validator],
                                 help_text="SWUpdate board name, e.g. nord-gsm.")
    name = serializers.CharField(max_length=200)
    expected_offline_seconds = serializers.IntegerField(
        min_value=EXPECTED_OFFLINE_MIN, max_value=EXPECTED_OFFLINE_MAX, default=EXPECTED_OFFLINE_SECONDS,
        help_text="Seconds a panel of this type stays off the line to install an update (announced with "
                  "job.install_started; a panel not back by then is reported as device.not_returned).")


class DeviceTypeChangeSerializer(serializers.Serializer):
    """What PATCH device-types/{code}/ may change: the code stays (the archives' board name)."""

    name = serializers.CharField(max_length=200, required=False)
    expected_offline_seconds = serializers.IntegerField(
        min_value=EXPECTED_OFFLINE_MIN, max_value=EXPECTED_OFFLINE_MAX, required=False,
        help_text="Seconds a panel of this type stays off the line to install an update.")

    def validate(self, data):
        refuse_unknown_fields(self)
        if not data:
            raise serializers.ValidationError(_("Give name or expected_offline_seconds to change."))
        return data


@extend_schema_view(
    list=extend_schema(summary="Device types"),
    retrieve=extend_schema(summary="One device type"),
    create=extend_schema(summary="Register a device type", responses={201: DeviceTypeSerializer, 400: ErrorSerializer}),
    partial_update=extend_schema(summary="Rename a device type or change its expected offline window",
                                 request=DeviceTypeChangeSerializer,
                                 responses={200: DeviceTypeSerializer, 400: ErrorSerializer}),
)
class DeviceTypeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = DeviceType.objects.order_by("name", "code")
    serializer_class = DeviceTypeSerializer
    lookup_field = "code"
    lookup_value_regex = "[a-z0-9][a-z0-9_-]*"
    permission_classes = [ActionPermission]
    action_permissions = {"list": (VIEW_DEVICE_TYPE,), "retrieve": (VIEW_DEVICE_TYPE,), "create": (ADD_DEVICE_TYPE,),
                          "partial_update": (CHANGE_DEVICE_TYPE,)}
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self):
        # The browsable API's form shows what a PATCH takes.
        return DeviceTypeChangeSerializer if self.action == "partial_update" else super().get_serializer_class()

    def create(self, request):
        data = DeviceTypeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        device_type = services.device_type_create(**data.validated_data, actor=request.user)
        return Response(DeviceTypeSerializer(device_type).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, code=None):
        device_type = self.get_object()
        data = DeviceTypeChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.device_type_update(device_type=device_type, actor=request.user, **data.validated_data)
        return Response(DeviceTypeSerializer(device_type).data)


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
    last_seen = DateTimeField(allow_null=True)
    online = serializers.SerializerMethodField()

    def get_online(self, device) -> bool:
        # The site's receiver is already loaded; device.receiver would cost a query per row.
        receiver = device.site.receiver if device.site_id else device.receiver
        return services.device_is_online(device=device, receiver=receiver)


class DeviceListSerializer(DeviceSerializer):
    receiver = serializers.CharField(source="receiver.code")
    site = serializers.IntegerField(source="site.number", allow_null=True, default=None,
                                    help_text="The site's number; null: not attached to a site yet.")
    attributes_at = DateTimeField(allow_null=True, help_text="When the panel last reported its attributes.")


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
            raise ValidationError({"unassigned": gettext("Give 1 for panels on no site, 0 for all.")})
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


REMOTE_UPDATE_HELP = ("The site's consent to remote updates: allowed; approval (each update waits for an "
                      "operator allowed to approve); forbidden (never queued).")


class SiteInputSerializer(serializers.Serializer):
    receiver = receiver_field()
    number = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    remote_update = serializers.ChoiceField(choices=RemoteUpdate.choices, required=False, default=RemoteUpdate.ALLOWED,
                                            help_text=REMOTE_UPDATE_HELP)
    device = DeviceInputSerializer()


class SiteChangeSerializer(serializers.Serializer):
    """PATCH sites/{id}/: what operators may change of a site (sites.services.site_update)."""

    receiver = receiver_field(required=False)  # the site moves there with its panel
    number = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    address = serializers.CharField(max_length=300, required=False, allow_blank=True,
                                    help_text="Where the site is; the search (`?q=`) finds sites by it.")
    remote_update = serializers.ChoiceField(choices=RemoteUpdate.choices, required=False, help_text=REMOTE_UPDATE_HELP)

    def validate(self, data):
        refuse_unknown_fields(self)
        return data


class TargetTokenSerializer(serializers.Serializer):
    target_token = serializers.CharField(help_text="The panel's new token; the old one no longer works.")


