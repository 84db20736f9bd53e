"""`receivers/{code}/firmware-stats/`: a receiver's firmware statistics (DESIGN.md 5).

The receiver endpoint itself is the registry's (receivers/apis.py); the update app serves
the same URLs through this subclass, which adds the statistics it alone can compute.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api_support import ErrorSerializer
from core.permissions import VIEW_DEVICE, VIEW_RECEIVER
from receivers import apis as registry

from ..selectors import receiver_firmware_stats


class FirmwareStatsSerializer(serializers.Serializer):
    device_type = serializers.CharField(source="device_type.code")
    device_type_name = serializers.CharField(source="device_type.name")
    current_version = serializers.CharField(allow_null=True)
    total = serializers.IntegerField()
    current = serializers.IntegerField(help_text="Green: run the current version.")
    outdated = serializers.IntegerField(help_text="updating + not_planned.")
    updating = serializers.IntegerField(help_text="Yellow: outdated, an update is under way.")
    not_planned = serializers.IntegerField(help_text="Red: outdated, nothing planned.")
    not_eligible = serializers.IntegerField(
        help_text="Of the red: may not be updated (no GPRS/Ethernet channel, hardware not supported, "
                  "would downgrade, no current release); `not_eligible_reasons` splits them.")
    not_eligible_reasons = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="The not eligible by reason code (no_ip_channel, hardware_not_supported, would_downgrade, "
                  "no_current_release): the reasons a rollout skips them for.")
    offline = serializers.IntegerField(
        help_text="Of the red that could be updated: not heard from lately (the update starts when they connect). "
                  "Disjoint from not_eligible: each red site is under one reason of `red_reasons`.")
    red_reasons = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="The red by reason, each site under exactly one, the first that applies in this order: "
                  "no_current_release, no_ip_channel, hardware_not_supported, would_downgrade, offline, failed "
                  "(its last update failed), cancelled (its last update was cancelled), not_queued. They add up "
                  "to not_planned.")


class ReceiverViewSet(registry.ReceiverViewSet):
    action_permissions = {**registry.ReceiverViewSet.action_permissions,
                          "firmware_stats": (VIEW_RECEIVER, VIEW_DEVICE)}

    @extend_schema(
        summary="Firmware statistics: one row per device type on the receiver",
        responses={200: FirmwareStatsSerializer(many=True), 404: ErrorSerializer},
    )
    @action(detail=True, methods=["get"], url_path="firmware-stats", pagination_class=None)
    def firmware_stats(self, request, code=None):
        rows = receiver_firmware_stats(receiver=self.get_object())
        return Response(FirmwareStatsSerializer(rows, many=True).data)
