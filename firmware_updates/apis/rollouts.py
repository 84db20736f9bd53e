"""`rollouts/`: "Update software at all sites" of a device type on a receiver (DESIGN.md 5)."""

from functools import cached_property

from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from core.api_support import DateTimeField, ErrorSerializer, RefusalSerializer
from core.permissions import START_ROLLOUT, VIEW_ROLLOUT, ActionPermission
from receivers.apis import (
    InstallWindowSerializer,
    install_window_data,
    install_window_value,
    receiver_field,
)
from sites.apis import device_type_field

from .. import services
from ..eligibility import RULES
from ..models import Rollout, RolloutWave
from ..selectors import history_of, progress_and_waves
from ..services.rollouts import WAVES_MAX, WAVES_NOT_CUMULATIVE, waves_cumulative
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


class WaveSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    size = serializers.IntegerField(help_text="Sites planned for the wave when the rollout started.")
    queued = serializers.IntegerField()
    succeeded = serializers.IntegerField(help_text="Updated, the new version confirmed by the panel.")
    failed = serializers.IntegerField(help_text="Failed or timed out.")
    state = serializers.ChoiceField(choices=RolloutWave.State.choices)
    started_at = DateTimeField(allow_null=True)
    finished_at = DateTimeField(allow_null=True)


class RolloutEventSerializer(serializers.Serializer):
    at = DateTimeField()
    kind = serializers.CharField(help_text="started, wave_started, advanced, paused, halted, awaiting_approval, "
                                           "resumed, stopped, completed.")
    actor = serializers.CharField(source="actor_label", help_text='An operator\'s name, or "system".')
    details = serializers.DictField()


class RolloutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    receiver = serializers.CharField(source="receiver.code")
    device_type = serializers.CharField(source="device_type.code")
    release = ReleaseRefSerializer()
    state = serializers.ChoiceField(
        choices=Rollout.State.choices,
        help_text="pending (first wave not started yet), running, paused (see paused_reason), stopped, "
                  "completed (every job of it finished).")
    paused_reason = serializers.CharField(help_text="Why it is paused: an operator, a failed wave, an approval.")
    total = serializers.IntegerField(help_text="Devices of the type on the receiver when it started.")
    eligible = serializers.IntegerField(help_text="Sites it could queue when it started.")
    processed = serializers.IntegerField(help_text="Devices examined so far.")
    queued = serializers.IntegerField(help_text="Update jobs created.")
    joined_late = serializers.IntegerField(help_text="Of the queued: sites that became eligible while it ran.")
    skipped = CountsField()
    current_wave = serializers.IntegerField()
    waves = serializers.SerializerMethodField()
    success_threshold_percent = serializers.IntegerField()
    error_threshold_percent = serializers.IntegerField(allow_null=True)
    error_threshold_count = serializers.IntegerField(allow_null=True)
    error_threshold_min = serializers.IntegerField()
    approve_each_wave = serializers.BooleanField()
    install_window = serializers.SerializerMethodField()
    retry_of = serializers.IntegerField(source="retry_of_id", allow_null=True)
    progress = serializers.SerializerMethodField(help_text="The rollout's jobs by state.")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = DateTimeField()
    started_at = DateTimeField(allow_null=True)
    finished_at = DateTimeField(allow_null=True)
    duration_seconds = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"},
                          "example": {"queued": 12, "downloading": 3, "succeeded": 40}})
    def get_progress(self, rollout) -> dict:
        counts = self.context.get("progress")
        if counts is not None:
            return counts.get(rollout.pk, {})
        return services.rollout_progress(rollout=rollout)

    @extend_schema_field(WaveSerializer(many=True))
    def get_waves(self, rollout):
        waves = self.context.get("waves")
        return self._nested["waves"].to_representation(
            waves.get(rollout.pk, []) if waves is not None else progress_and_waves([rollout])[1][rollout.pk])

    @cached_property
    def _nested(self) -> dict[str, serializers.ListSerializer]:
        # One instance of each for the whole page: a serializer built per rollout copies its
        # fields each time, which was most of the list's Python time (bench `rollouts`).
        return {"waves": WaveSerializer(many=True), "history": RolloutEventSerializer(many=True)}

    @extend_schema_field(InstallWindowSerializer(allow_null=True))
    def get_install_window(self, rollout):
        return install_window_data(rollout.install_window_start, rollout.install_window_end)

    def get_duration_seconds(self, rollout) -> int | None:
        if rollout.started_at is None:
            return None
        return int(((rollout.finished_at or timezone.now()) - rollout.started_at).total_seconds())

    @extend_schema_field(RolloutEventSerializer(many=True))
    def get_history(self, rollout):
        events = self.context.get("history")
        if events is None:
            events = rollout.events.all()
        else:
            events = events.get(rollout.pk, [])
        return self._nested["history"].to_representation(events)


class RolloutCreateSerializer(serializers.Serializer):
    receiver = receiver_field()
    device_type = device_type_field()
    waves = serializers.ListField(
        child=serializers.FloatField(min_value=0.01, max_value=100), required=False, min_length=1, max_length=WAVES_MAX,
        help_text="Cumulative percentages of the eligible sites, e.g. [1, 10, 100] (the default, whose first "
                  "wave is at least 1 and at most 20 sites). The last wave always takes every site left.")
    wave_counts = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, min_length=1, max_length=WAVES_MAX,
        help_text="Instead of `waves`: cumulative site counts, e.g. [5, 50].")
    success_threshold_percent = serializers.IntegerField(
        min_value=0, max_value=100, default=90,
        help_text="The next wave starts once this share of the wave's jobs succeeded with the version confirmed.")
    error_threshold_percent = serializers.IntegerField(
        min_value=0, max_value=100, default=10, allow_null=True,
        help_text="Pause when more than this share of the wave's finished jobs failed or timed out.")
    error_threshold_count = serializers.IntegerField(
        min_value=0, required=False, allow_null=True, default=None,
        help_text="Pause when more than this many of the wave's jobs failed or timed out.")
    error_threshold_min = serializers.IntegerField(
        min_value=1, default=5, help_text="The error condition is applied once this many jobs have finished.")
    approve_each_wave = serializers.BooleanField(
        default=False, help_text="Pause after each successful wave until an operator resumes.")
    install_window = InstallWindowSerializer(
        required=False, allow_null=True, default=None,
        help_text="Daily window in the receiver's time zone; outside it panels download but do not install. "
                  "Default: the receiver's own window, if it has one.")

    def validate(self, data):
        if data.get("waves") and data.get("wave_counts"):
            raise serializers.ValidationError({"waves": gettext("Give waves as percentages or as counts, not both.")})
        for name in ("waves", "wave_counts"):
            values = data.get(name) or []
            if not waves_cumulative(values):
                raise serializers.ValidationError({name: gettext(WAVES_NOT_CUMULATIVE)})
        return data


class AdvanceSerializer(serializers.Serializer):
    wave = serializers.IntegerField(
        min_value=0, required=False,
        help_text="The wave you see as the current one (`current_wave`). If the rollout has moved past it "
                  "meanwhile (the next wave started by itself, or another operator advanced), 409 "
                  "`wave_already_started` instead of starting the wave after. Without it: the wave after the "
                  "current one, whichever that is now.")


CONTROL_RESPONSES = {200: RolloutSerializer, 404: ErrorSerializer, 409: RefusalSerializer}


@extend_schema_view(
    list=extend_schema(
        summary="Rollouts, newest first",
        parameters=[
            OpenApiParameter("receiver", OpenApiTypes.STR, description="Receiver code."),
            OpenApiParameter("device_type", OpenApiTypes.STR, description="Device type code."),
            OpenApiParameter("state", OpenApiTypes.STR, enum=Rollout.State.values),
        ],
    ),
    retrieve=extend_schema(summary="One rollout with its waves, progress and history"),
    create=extend_schema(
        summary="Update software at all sites of a device type on a receiver, in waves",
        description="Queues the eligible outdated sites of the type on the receiver in waves (never a downgrade): "
        "a canary first, the next wave once the current one reached its success condition, a pause by itself "
        "when its error condition is met. Sites it may not queue are counted under `skipped` by reason. "
        "201: a new rollout. 202: a rollout of this type on this receiver is still open; it is returned "
        "instead of a second one. 409: nothing to queue, with the reasons.",
        request=RolloutCreateSerializer,
        responses={201: RolloutSerializer, 202: RolloutSerializer, 400: ErrorSerializer, 409: RefusalSerializer},
    ),
    pause=extend_schema(summary="Pause: nothing new is queued; jobs under way go on", request=None,
                        responses=CONTROL_RESPONSES),
    resume=extend_schema(summary="Resume a paused rollout (also approves the next wave)", request=None,
                         responses=CONTROL_RESPONSES),
    stop=extend_schema(summary="Stop: cancel every job still cancellable; the others finish", request=None,
                       responses=CONTROL_RESPONSES),
    advance=extend_schema(summary="Start the next wave now", request=AdvanceSerializer, responses=CONTROL_RESPONSES),
    retry_failed=extend_schema(summary="A new rollout of only the sites whose job failed", request=None,
                               responses={201: RolloutSerializer, 404: ErrorSerializer, 409: RefusalSerializer}),
)
class RolloutViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = RolloutSerializer
    permission_classes = [ActionPermission]
    action_permissions = {
        "list": (VIEW_ROLLOUT,),
        "retrieve": (VIEW_ROLLOUT,),
        "create": (START_ROLLOUT,),
        "pause": (START_ROLLOUT,),
        "resume": (START_ROLLOUT,),
        "stop": (START_ROLLOUT,),
        "advance": (START_ROLLOUT,),
        "retry_failed": (START_ROLLOUT,),
    }

    def get_serializer_class(self):
        # The browsable API's form and OPTIONS show what a POST takes, not what it answers.
        return RolloutCreateSerializer if self.action == "create" else super().get_serializer_class()

    def get_queryset(self):
        qs = Rollout.objects.select_related("receiver", "device_type", "release", "created_by")
        if self.action != "list":
            return qs
        params = self.request.query_params
        if code := params.get("receiver"):
            qs = qs.filter(receiver__code=code)
        if code := params.get("device_type"):
            qs = qs.filter(device_type__code=code)
        if state := params.get("state"):
            if state not in Rollout.State.values:
                raise ValidationError({"state": gettext("Unknown state {state}; use {states}.").format(
                    state=repr(state), states=", ".join(Rollout.State.values))})
            qs = qs.filter(state=state)
        return qs.order_by("-created_at", "-pk")

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        progress, waves = progress_and_waves(page)
        context = {**self.get_serializer_context(), "progress": progress, "waves": waves, "history": history_of(page)}
        return self.get_paginated_response(RolloutSerializer(page, many=True, context=context).data)

    def create(self, request):
        data = RolloutCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        window = install_window_value(values.pop("install_window"))
        rollout, created = services.rollout_start(**values, actor=request.user, install_window=window)
        return self._answer(rollout, status.HTTP_201_CREATED if created else status.HTTP_202_ACCEPTED)

    def _answer(self, rollout, code=status.HTTP_200_OK):
        # Read it again: with an eager Celery the fan-out has already run by now.
        return Response(RolloutSerializer(self.get_queryset().get(pk=rollout.pk)).data, status=code)

    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._answer(services.rollout_pause(rollout=self.get_object(), actor=request.user))

    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._answer(services.rollout_resume(rollout=self.get_object(), actor=request.user))

    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        return self._answer(services.rollout_stop(rollout=self.get_object(), actor=request.user))

    @action(detail=True, methods=["post"])
    def advance(self, request, pk=None):
        data = AdvanceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._answer(services.rollout_advance(rollout=self.get_object(), actor=request.user,
                                                     wave=data.validated_data.get("wave")))

    @action(detail=True, methods=["post"], url_path="retry-failed")
    def retry_failed(self, request, pk=None):
        retry = services.rollout_retry_failed(rollout=self.get_object(), actor=request.user)
        return self._answer(retry, status.HTTP_201_CREATED)
