"""Root URLs: the panel (/), Django admin (/admin/), the management API (/api/), the
device protocol (/{tenant}/controller/v1/...) and the health check (/healthz)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("securitycenter.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("", include("securitycenter.health")),  # /healthz
    path("", include("firmware_updates.ddi.urls")),
    path("", include("securitycenter.panel_urls")),
]
