"""Root URLs: the panel (/), Django admin (/admin/), the management API (/api/), the
device protocol (/{tenant}/controller/v1/...) and the health check (/healthz)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from core.admin_support import ForwardRelationAutocomplete
from core.signin import signin_guarded

urlpatterns = [
    # The admin's own login page, ahead of the admin's URLs: paused after too many failures
    # as the panel's is (core/signin.py).
    path("admin/login/", signin_guarded(admin.site.login)),
    # The admin's autocomplete, refusing what Django's own fails on (core/admin_support.py).
    path("admin/autocomplete/", admin.site.admin_view(ForwardRelationAutocomplete.as_view(admin_site=admin.site))),
    path("admin/", admin.site.urls),
    path("api/v1/", include("securitycenter.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("", include("securitycenter.health")),  # /healthz
    path("", include("firmware_updates.ddi.urls")),
    path("", include("securitycenter.panel_urls")),
]

# Under /api/ Django's own errors answer JSON like the API's (core/http_errors.py).
handler400 = "core.http_errors.bad_request"
handler403 = "core.http_errors.permission_denied"
handler404 = "core.http_errors.page_not_found"
handler500 = "core.http_errors.server_error"
