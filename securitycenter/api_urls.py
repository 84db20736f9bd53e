"""Management API routes (DESIGN.md section 5), under /api/v1/."""

from django.urls import include, path

from core.api_support import Router, TokenObtainView
from firmware_updates.apis import (
    EventViewSet,
    ReceiverViewSet,
    ReleaseViewSet,
    RolloutViewSet,
    SiteViewSet,
    UpdateJobViewSet,
)
from sites.apis import DeviceTypeViewSet, DeviceViewSet

# /api/v1/ lists the collections (ApiRoot); no ".json" suffix routes.
router = Router()
router.include_format_suffixes = False
router.register("receivers", ReceiverViewSet, basename="receiver")
router.register("device-types", DeviceTypeViewSet, basename="device-type")
router.register("sites", SiteViewSet, basename="site")
router.register("devices", DeviceViewSet, basename="device")
router.register("releases", ReleaseViewSet, basename="release")
router.register("update-jobs", UpdateJobViewSet, basename="update-job")
router.register("rollouts", RolloutViewSet, basename="rollout")
router.register("events", EventViewSet, basename="event")

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("", include(router.urls)),
]
