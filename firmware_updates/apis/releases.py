"""`releases/`: upload a firmware archive, read what it says, mark it current (DESIGN.md 5)."""

from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from core.api_support import DateTimeField, ErrorSerializer, QuotaSerializer, RejectionSerializer
from core.parsers import FormParser, JSONParser, MultiPartParser
from core.permissions import (
    MARK_RELEASE_CURRENT,
    UPLOAD_RELEASE,
    VIEW_RELEASE,
    ActionPermission,
)

from .. import services
from ..models import Release


class HashesSerializer(serializers.Serializer):
    sha256 = serializers.CharField()
    sha1 = serializers.CharField()
    md5 = serializers.CharField()


class DeltaSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    base_version = serializers.CharField(help_text="Panels reporting this version are sent the delta.")
    base_sha256 = serializers.CharField(help_text="sha256 of the base image the delta patches.")
    filename = serializers.CharField()
    size = serializers.IntegerField()
    hashes = HashesSerializer(source="*")
    signer = serializers.CharField()
    created_at = DateTimeField()


class ReleaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    device_type = serializers.CharField(source="device_type.code")
    device_type_name = serializers.CharField(source="device_type.name")
    version = serializers.CharField()
    hardware_revisions = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    filename = serializers.CharField()
    size = serializers.IntegerField()
    hashes = HashesSerializer(source="*")
    signer = serializers.CharField(help_text="Subject of the signing certificate; empty if unsigned.")
    is_current = serializers.BooleanField()
    deltas = DeltaSerializer(many=True, source="deltas.all",
                             help_text="Delta archives: each sent instead of the archive to panels on its base version.")
    notes = serializers.CharField(help_text="The operators' notes on the release.")
    archived = serializers.BooleanField(source="is_archived",
                                        help_text="Archived: no longer offered, kept for the history of its jobs.")
    archived_at = DateTimeField(allow_null=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = DateTimeField()


class ReleaseUploadSerializer(serializers.Serializer):
    archive = serializers.FileField(
        help_text="SWUpdate .swu archive; device type, version, hardware revisions and hashes are read from it.",
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=500)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    deltas = serializers.ListField(
        child=serializers.FileField(), required=False,
        help_text="Delta archives of this release (repeat the field), each from one base version "
                  "(`python -m firmware_updates.swu build --delta-from`).")


class DeltaUploadSerializer(serializers.Serializer):
    archive = serializers.FileField(help_text="A delta archive of this release, from one base version.")


class ReleaseChangeSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True, max_length=500)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class MarkCurrentSerializer(serializers.Serializer):
    confirm_downgrade = serializers.BooleanField(
        required=False, default=False,
        help_text="Needed to mark a release older than the current one: without it the answer is 409 "
                  "(code downgrade_not_confirmed) saying how many sites on which receivers turn outdated.")


@extend_schema_view(
    list=extend_schema(
        summary="Releases, newest version first per device type",
        parameters=[OpenApiParameter("device_type", str, description="Device type code."),
                    OpenApiParameter("archived", bool, description="true: archived ones only; false: offered ones "
                                                                  "only; absent: both.")],
    ),
    partial_update=extend_schema(summary="Change a release's description or notes", request=ReleaseChangeSerializer,
                                 responses={200: ReleaseSerializer, 400: ErrorSerializer}),
    retrieve=extend_schema(summary="One release"),
    create=extend_schema(
        summary="Upload a release archive",
        description="The archive is inspected before anything is stored: manifest, hashes of every image, "
        "signature (when trusted certificates are configured), device type and version. "
        "400 names the reason when it is refused; 413 names the quota an archive would pass "
        "(FIRMWARE_MAX_ARCHIVE_SIZE for one archive, FIRMWARE_MAX_ARCHIVE_STORAGE for all of them).",
        request={"multipart/form-data": ReleaseUploadSerializer},
        responses={201: ReleaseSerializer, 400: RejectionSerializer, 413: QuotaSerializer},
    ),
)
class ReleaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ReleaseSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    permission_classes = [ActionPermission]
    action_permissions = {
        "list": (VIEW_RELEASE,),
        "retrieve": (VIEW_RELEASE,),
        "create": (UPLOAD_RELEASE,),
        "mark_current": (MARK_RELEASE_CURRENT,),
        "add_delta": (UPLOAD_RELEASE,),
        "partial_update": (MARK_RELEASE_CURRENT,),
        "archive": (MARK_RELEASE_CURRENT,),
        "restore": (MARK_RELEASE_CURRENT,),
    }
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self):
        # The browsable API's form and OPTIONS show what a POST takes, not what it answers.
        if self.action == "add_delta":
            return DeltaUploadSerializer
        return ReleaseUploadSerializer if self.action == "create" else super().get_serializer_class()

    def get_queryset(self):
        qs = Release.objects.select_related("device_type", "created_by").prefetch_related("deltas")
        if code := self.request.query_params.get("device_type"):
            qs = qs.filter(device_type__code=code)
        archived = self.request.query_params.get("archived")
        if archived in ("true", "1"):
            qs = qs.filter(archived_at__isnull=False)
        elif archived in ("false", "0"):
            qs = qs.filter(archived_at__isnull=True)
        elif archived:
            raise ValidationError({"archived": gettext("Use true or false.")})
        return qs.order_by("device_type__name", "-version_key")

    def create(self, request):
        data = ReleaseUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        release = services.release_create(
            archive=data.validated_data["archive"],
            description=data.validated_data.get("description", ""),
            notes=data.validated_data.get("notes", ""),
            created_by=request.user,
            deltas=data.validated_data.get("deltas") or (),
        )
        return Response(ReleaseSerializer(release).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        data = ReleaseChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        release = services.release_update(release=self.get_object(), actor=request.user, **data.validated_data)
        return Response(ReleaseSerializer(release).data)

    @extend_schema(
        summary="Add a delta archive to this release",
        description="Checked as the release's archive is (signature, hashes, device type, hardware revisions) "
        "and against its base: the base version must be a release here whose image the delta names, and the "
        "delta applied to it must give this release's image. 400 names the reason; nothing is stored.",
        request={"multipart/form-data": DeltaUploadSerializer},
        responses={201: DeltaSerializer, 400: RejectionSerializer, 404: ErrorSerializer, 413: QuotaSerializer},
    )
    @action(detail=True, methods=["post"], url_path="deltas")
    def add_delta(self, request, pk=None):
        release = self.get_object()
        data = DeltaUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        delta = services.release_delta_create(release=release, archive=data.validated_data["archive"],
                                              created_by=request.user)
        return Response(DeltaSerializer(delta).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Make this the current release of its device type",
        description="A release older than the current one is a downgrade: refused with 409 (code "
                    "downgrade_not_confirmed, saying how many sites on which receivers turn outdated) unless "
                    "`confirm_downgrade` is true. An archived release: 409 (release_archived).",
        request=MarkCurrentSerializer,
        responses={200: ReleaseSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
    )
    @action(detail=True, methods=["post"], url_path="mark-current")
    def mark_current(self, request, pk=None):
        data = MarkCurrentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        release = services.release_mark_current(release=self.get_object(), actor=request.user,
                                                downgrade_confirmed=data.validated_data["confirm_downgrade"])
        return Response(ReleaseSerializer(release).data)

    @extend_schema(
        summary="Archive: no longer offered (never current, never chosen), kept for history",
        request=None,
        responses={200: ReleaseSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
    )
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        return Response(ReleaseSerializer(services.release_archive(release=self.get_object(),
                                                                   actor=request.user)).data)

    @extend_schema(summary="Offer an archived release again", request=None,
                   responses={200: ReleaseSerializer, 404: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        return Response(ReleaseSerializer(services.release_restore(release=self.get_object(),
                                                                   actor=request.user)).data)
