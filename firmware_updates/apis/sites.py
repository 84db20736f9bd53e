"""`sites/`: sites with their panels, badges and active update jobs (DESIGN.md 5).

The update app's, because badges and jobs are: a site's panel is read and written with the
registry's serializers (sites/apis.py) and services (sites.services.site_create).
"""

from django.utils.translation import gettext
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from core.api_support import DateTimeField, ErrorSerializer, query_object
from core.permissions import (
    ADD_DEVICE,
    ADD_SITE,
    CHANGE_DEVICE,
    CHANGE_SITE,
    VIEW_DEVICE,
    VIEW_SITE,
    ActionPermission,
)
from receivers.models import Receiver
from sites import services
from sites.apis import (
    REMOTE_UPDATE_HELP,
    CreatedDeviceSerializer,
    DeviceSerializer,
    SiteChangeSerializer,
    SiteInputSerializer,
    TargetTokenSerializer,
)
from sites.models import DeviceType, RemoteUpdate

from ..badges import Badge
from ..eligibility import RED_REASONS
from ..selectors import SORTS, SiteFilters, site_list
from ..services import job_progress_overlay
from .jobs import ActiveJobSerializer

BADGES = Badge.ALL


class SiteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    receiver = serializers.CharField(source="receiver.code")
    number = serializers.IntegerField()
    name = serializers.CharField()
    remote_update = serializers.ChoiceField(choices=RemoteUpdate.choices, help_text=REMOTE_UPDATE_HELP)
    address = serializers.CharField()
    badge = serializers.ChoiceField(
        choices=BADGES, help_text="green: current version; yellow: outdated, updating; red: outdated, nothing planned."
    )
    device = DeviceSerializer(allow_null=True)
    active_job = serializers.SerializerMethodField()
    created_at = DateTimeField()

    @extend_schema_field(ActiveJobSerializer(allow_null=True))
    def get_active_job(self, site):
        job = _active_job(site)
        return ActiveJobSerializer(job).data if job else None


class SiteCreatedSerializer(SiteSerializer):
    device = CreatedDeviceSerializer()


def _active_job(site):
    """The site's panel's active job, joined by `site_list` (None without a panel or a job)."""
    device = getattr(site, "device", None)
    return device.active_job if device is not None else None


def overlay_progress(sites) -> None:
    """Freshest download bytes for the active jobs shown (one cache read for the page)."""
    job_progress_overlay([_active_job(site) for site in sites])


@extend_schema_view(
    list=extend_schema(
        summary="Sites with their panel, badge and active update job",
        parameters=[
            OpenApiParameter("receiver", str, description="Receiver code."),
            OpenApiParameter("number", int, description="Site number."),
            OpenApiParameter("device_type", str, description="Device type code."),
            OpenApiParameter("badge", str, enum=BADGES),
            OpenApiParameter("q", str, description="Words: each must start the site number or be found in the "
                                                   "site's name or address or the panel's serial."),
            OpenApiParameter("reason", str, enum=RED_REASONS,
                             description="Red sites with this reason (each red site has exactly one, the first that "
                                         "applies, in this order); needs `receiver`."),
            OpenApiParameter("version", str, description="Firmware version the panel reports, exactly."),
            OpenApiParameter("hardware", str, description="Hardware revision of the panel, exactly."),
            OpenApiParameter("sort", str, enum=[*SORTS, *(f"-{key}" for key in SORTS)],
                             description="Order (\"-\" first: descending); default: receiver, then site number."),
        ],
    ),
    retrieve=extend_schema(summary="One site"),
    partial_update=extend_schema(
        summary="Change a site: its consent to remote updates, name, address, number or receiver",
        request=SiteChangeSerializer,
        responses={200: SiteSerializer, 400: ErrorSerializer},
    ),
    create=extend_schema(
        summary="Create a site with its panel",
        request=SiteInputSerializer,
        responses={201: SiteCreatedSerializer, 400: ErrorSerializer},
    ),
)
class SiteViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SiteSerializer
    permission_classes = [ActionPermission]
    action_permissions = {
        "list": (VIEW_SITE, VIEW_DEVICE),
        "retrieve": (VIEW_SITE, VIEW_DEVICE),
        "create": (ADD_SITE, ADD_DEVICE),
        "partial_update": (CHANGE_SITE,),
        "device_token": (CHANGE_DEVICE,),
    }

    def get_serializer_class(self):
        # The browsable API's form and OPTIONS show what a POST or PATCH takes, not what it answers.
        inputs = {"create": SiteInputSerializer, "partial_update": SiteChangeSerializer}
        return inputs.get(self.action) or super().get_serializer_class()

    def get_queryset(self):
        if self.action != "list":
            return site_list()
        request = self.request
        number = request.query_params.get("number")
        if number and not number.isdigit():
            raise ValidationError({"number": gettext("Give the site number as digits.")})
        filters = SiteFilters.from_query(request.query_params)
        if filters.errors:
            raise ValidationError(filters.errors)
        receiver = query_object(request, "receiver", Receiver.objects.all())
        if filters.reason and receiver is None:
            raise ValidationError({"reason": gettext("Give the receiver too: whether a panel is offline is its "
                                                     "receiver's rule.")})
        return site_list(
            receiver=receiver,
            device_type=query_object(request, "device_type", DeviceType.objects.all(), what="device type"),
            number=int(number) if number else None,
            filters=filters,
        )

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        overlay_progress(page or [])
        return page

    def get_object(self):
        site = super().get_object()
        overlay_progress([site])
        return site

    def create(self, request):
        data = SiteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        device = values.pop("device")
        site, token = services.site_create(**values, **device, actor=request.user)
        site = site_list().get(pk=site.pk)
        site.device.target_token = token
        return Response(SiteCreatedSerializer(site).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        site = self.get_object()
        data = SiteChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.site_update(site=site, actor=request.user, **data.validated_data)
        site = site_list().get(pk=site.pk)
        overlay_progress([site])
        return Response(SiteSerializer(site).data)

    @extend_schema(
        summary="Issue the panel a new TargetToken",
        request=None,
        responses={200: TargetTokenSerializer, 404: ErrorSerializer},
    )
    @action(detail=True, methods=["post"], url_path="device/token")
    def device_token(self, request, pk=None):
        device = getattr(self.get_object(), "device", None)
        if device is None:
            raise NotFound(gettext("This site has no panel registered."))
        return Response({"target_token": services.device_token_rotate(device=device, actor=request.user)})
