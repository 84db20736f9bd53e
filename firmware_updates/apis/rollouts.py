"""`rollouts/`: "Update software at all sites" of a device type on a receiver (DESIGN.md 5)."""

from collections import defaultdict

from django.db.models import Count
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from core.api_support import ErrorSerializer, RefusalSerializer
from core.permissions import START_ROLLOUT, VIEW_ROLLOUT, ActionPermission
from receivers.apis import receiver_field
from sites.apis import device_type_field

from .. import services
from ..eligibility import RULES
from ..models import Rollout, UpdateJob
from .jobs import ReleaseRefSerializer

# What a rollout may skip a device for: the eligibility rule's refusals.
SKIP_REASONS = tuple(refusal.value for refusal in RULES)


@extend_schema_field({
    "type": "object",
    "additionalProperties": {"type": "integer"},
    "description": "Devices left out, by reason: " + ", ".join(SKIP_REASONS) + ".",
    "example": {"no_ip_channel": 3, "already_current": 10},
})
class CountsField(serializers.DictField):
    child = serializers.IntegerField()


class RolloutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    receiver = serializers.CharField(source="receiver.code")
    device_type = serializers.CharField(source="device_type.code")
    release = ReleaseRefSerializer()
    state = serializers.ChoiceField(choices=Rollout.State.choices, help_text="done once every device was examined.")
    total = serializers.IntegerField(help_text="Devices of the type on the receiver when it started.")
    processed = serializers.IntegerField(help_text="Devices examined so far.")
    queued = serializers.IntegerField(help_text="Update jobs created.")
    skipped = CountsField()
    progress = serializers.SerializerMethodField(help_text="The rollout's jobs by state.")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"},
                          "example": {"queued": 12, "downloading": 3, "succeeded": 40}})
    def get_progress(self, rollout) -> dict:
        counts = self.context.get("progress")
        if counts is not None:
            return counts.get(rollout.pk, {})
        return services.rollout_progress(rollout=rollout)


class RolloutCreateSerializer(serializers.Serializer):
    receiver = receiver_field()
    device_type = device_type_field()


def progress_by_rollout(rollouts) -> dict[int, dict[str, int]]:
    """Job counts by state for a page of rollouts in one query."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (UpdateJob.objects.filter(rollout__in=[r.pk for r in rollouts]).order_by()
            .values_list("rollout_id", "state").annotate(n=Count("id")))
    for rollout_id, state, n in rows:
        counts[rollout_id][state] = n
    return counts


@extend_schema_view(
    list=extend_schema(
        summary="Rollouts, newest first",
        parameters=[
            OpenApiParameter("receiver", OpenApiTypes.STR, description="Receiver code."),
            OpenApiParameter("device_type", OpenApiTypes.STR, description="Device type code."),
        ],
    ),
    retrieve=extend_schema(summary="One rollout with its progress"),
    create=extend_schema(
        summary="Update software at all sites of a device type on a receiver",
        description="Queues every eligible device of the type on the receiver whose version is not the current "
        "release (never a downgrade); the others are counted under `skipped` by reason. Runs as a "
        "background task (in the request when CELERY_TASK_ALWAYS_EAGER is set). 201: a new rollout. "
        "202: a rollout of this type on this receiver is still open; it is returned instead of a second one.",
        request=RolloutCreateSerializer,
        responses={201: RolloutSerializer, 202: RolloutSerializer, 400: ErrorSerializer, 409: RefusalSerializer},
    ),
)
class RolloutViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = RolloutSerializer
    permission_classes = [ActionPermission]
    action_permissions = {
        "list": (VIEW_ROLLOUT,),
        "retrieve": (VIEW_ROLLOUT,),
        "create": (START_ROLLOUT,),
    }

    def get_serializer_class(self):
        # The browsable API's form and OPTIONS show what a POST takes, not what it answers.
        return RolloutCreateSerializer if self.action == "create" else super().get_serializer_class()

    def get_queryset(self):
        qs = Rollout.objects.select_related("receiver", "device_type", "release", "created_by")
        params = self.request.query_params
        if code := params.get("receiver"):
            qs = qs.filter(receiver__code=code)
        if code := params.get("device_type"):
            qs = qs.filter(device_type__code=code)
        return qs.order_by("-created_at", "-pk")

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        context = {**self.get_serializer_context(), "progress": progress_by_rollout(page)}
        return self.get_paginated_response(RolloutSerializer(page, many=True, context=context).data)

    def create(self, request):
        data = RolloutCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rollout, created = services.rollout_start(
            receiver=data.validated_data["receiver"], device_type=data.validated_data["device_type"],
            actor=request.user,
        )
        # Read it again: with an eager Celery the fan-out has already run by now.
        rollout = self.get_queryset().get(pk=rollout.pk)
        return Response(RolloutSerializer(rollout).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_202_ACCEPTED)
