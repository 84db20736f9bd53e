"""`update-jobs/`: queue one site (the canary), follow it, cancel it (DESIGN.md 5)."""

from django.db.models import Prefetch
from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api_support import DateTimeField, ErrorSerializer, RefusalSerializer
from core.permissions import (
    APPROVE_UPDATE,
    CANCEL_UPDATE,
    QUEUE_SITE,
    VIEW_UPDATE_JOB,
    ActionPermission,
)
from receivers.apis import receiver_field

from .. import services
from ..models import JobState, Release, UpdateJob, UpdateJobEvent


class ProgressSerializer(serializers.Serializer):
    bytes = serializers.IntegerField(source="bytes_downloaded")
    of = serializers.IntegerField(source="bytes_total")
    percent = serializers.IntegerField(source="progress_percent")


class ReleaseRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.CharField()


class ActiveJobSerializer(serializers.Serializer):
    """The job a site's panel is being updated by, as shown in lists of sites."""

    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=JobState.choices)
    release = ReleaseRefSerializer()
    progress = ProgressSerializer(source="*")


class EventSerializer(serializers.Serializer):
    at = DateTimeField()
    from_state = serializers.CharField()
    to_state = serializers.CharField()
    actor = serializers.CharField(source="actor_label", help_text='"device", "system" or a username.')
    kind = serializers.CharField(help_text="transition, report, warning or confirmed.")
    details = serializers.JSONField()


class ArtifactSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["full", "delta"], help_text="The full archive, or a delta.")
    filename = serializers.CharField()
    size = serializers.IntegerField()
    base_version = serializers.CharField(allow_null=True, help_text="A delta: the version it patches.")


def _artifact(job: UpdateJob) -> dict | None:
    """What the panel is sent, once it read its action (chosen then, `deltas.delta_for`)."""
    if job.state == JobState.QUEUED:
        return None
    if job.delta_id:
        delta = job.delta
        return {"kind": "delta", "filename": delta.filename, "size": delta.size, "base_version": delta.base_version}
    return {"kind": "full", "filename": job.release.filename, "size": job.release.size, "base_version": None}


class JobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    site = serializers.IntegerField(source="device.site.number", allow_null=True, help_text="Site number.")
    receiver = serializers.CharField(source="device.receiver.code")
    device = serializers.CharField(source="device.serial", help_text="Panel serial (DDI controllerId).")
    release = ReleaseRefSerializer()
    rollout = serializers.IntegerField(source="rollout_id", allow_null=True)
    state = serializers.ChoiceField(choices=JobState.choices)
    progress = ProgressSerializer(source="*")
    artifact = serializers.SerializerMethodField(help_text="The archive the panel is sent: null until it reads "
                                                           "its action.")
    reason = serializers.CharField()
    warnings = serializers.ListField(child=serializers.CharField())
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = DateTimeField()
    state_changed_at = DateTimeField()
    finished_at = DateTimeField(allow_null=True)
    history = EventSerializer(many=True, source="events.all")

    @extend_schema_field(ArtifactSerializer(allow_null=True))
    def get_artifact(self, job) -> dict | None:
        return _artifact(job)


class JobCreateSerializer(serializers.Serializer):
    receiver = receiver_field()
    site_number = serializers.IntegerField(min_value=1)
    release = serializers.PrimaryKeyRelatedField(
        queryset=Release.objects.select_related("device_type"), required=False, allow_null=True,
        help_text="Release id; the current release of the panel's device type when left out.",
        error_messages={"does_not_exist": gettext_lazy("No release has the id {pk_value}."),
                        "incorrect_type": gettext_lazy("Give the release as its id, a number.")},
    )


def job_queryset():
    return UpdateJob.objects.select_related("device__site", "device__receiver", "release", "delta", "created_by").prefetch_related(
        Prefetch("events", queryset=UpdateJobEvent.objects.order_by("at", "id"))
    )


@extend_schema_view(
    list=extend_schema(
        summary="Update jobs, newest first",
        parameters=[
            OpenApiParameter("receiver", str, description="Receiver code."),
            OpenApiParameter("state", str, enum=JobState.values),
            OpenApiParameter("site_number", int),
        ],
    ),
    retrieve=extend_schema(summary="One update job with its history"),
    create=extend_schema(
        summary="Queue one site for update",
        request=JobCreateSerializer,
        responses={201: JobSerializer, 400: ErrorSerializer, 409: RefusalSerializer},
    ),
)
class UpdateJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = JobSerializer
    permission_classes = [ActionPermission]
    action_permissions = {
        "list": (VIEW_UPDATE_JOB,),
        "retrieve": (VIEW_UPDATE_JOB,),
        "create": (QUEUE_SITE,),
        "cancel": (CANCEL_UPDATE,),
        "approve": (APPROVE_UPDATE,),
    }

    def get_serializer_class(self):
        # The browsable API's form and OPTIONS show what a POST takes, not what it answers.
        return JobCreateSerializer if self.action == "create" else super().get_serializer_class()

    def get_queryset(self):
        qs = job_queryset()
        params = self.request.query_params
        if code := params.get("receiver"):
            qs = qs.filter(device__receiver__code=code)
        if state := params.get("state"):
            if state not in JobState.values:
                raise serializers.ValidationError({"state": gettext("Unknown state {state}; use one of {states}.").format(
                    state=repr(state), states=", ".join(JobState.values))})
            qs = qs.filter(state=state)
        if number := params.get("site_number"):
            if not number.isdigit():
                raise serializers.ValidationError({"site_number": gettext("Give the site number as digits.")})
            qs = qs.filter(device__site__number=int(number))
        return qs.order_by("-created_at", "-pk")

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        services.job_progress_overlay(page if page is not None else [])
        return page

    def get_object(self):
        job = super().get_object()
        services.job_progress_overlay([job])
        return job

    def create(self, request):
        data = JobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.update_job_create(
            receiver=data.validated_data["receiver"],
            site_number=data.validated_data["site_number"],
            release=data.validated_data.get("release"),
            actor=request.user,
        )
        return Response(JobSerializer(job_queryset().get(pk=job.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Approve an update held at a site that asks for approval",
        description="200: approved, the job is queued and the panel woken. 409: refused (the job is not "
        "awaiting approval, or the site now forbids remote updates). Needs the approvers group's permission.",
        request=None,
        responses={200: JobSerializer, 409: RefusalSerializer},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        job = services.update_job_approve(job=self.get_object(), actor=request.user)
        return Response(JobSerializer(job_queryset().get(pk=job.pk)).data)

    @extend_schema(
        summary="Cancel an update until the panel has the whole file",
        description="200: cancelled at once (it was queued or awaiting approval). 202: cancelling, the panel has been told "
        "and acknowledges on its next poll. 409: refused (already downloaded, already finished).",
        request=None,
        responses={200: JobSerializer, 202: JobSerializer, 409: RefusalSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = services.update_job_cancel(job=self.get_object(), actor=request.user)
        code = status.HTTP_200_OK if job.state == JobState.CANCELLED else status.HTTP_202_ACCEPTED
        return Response(JobSerializer(job_queryset().get(pk=job.pk)).data, status=code)
