"""Engineering panel routes (DESIGN.md section 6). Every page needs a signed-in operator."""

from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from core import views as core_views
from core.signin import signin_guarded
from firmware_updates import views as firmware
from firmware_updates.views import receivers, sites

RECEIVER = "receivers/<str:code>/"
DEVICE_TYPE = RECEIVER + "software-update/<str:device_type_code>/"

urlpatterns = [
    path("", receivers.home, name="home"),
    # Browsers ask for /favicon.ico on pages that name none (the admin, raw API answers).
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
    # Sign-ins pause after too many failures from one address or for one name (core/signin.py).
    path("login/", signin_guarded(auth_views.LoginView.as_view(redirect_authenticated_user=True)), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The operator's language (the header's switcher, signed in or not) and time zone.
    path("language/", core_views.language_set, name="language-set"),
    path("preferences/", core_views.preferences, name="preferences"),
    path("receivers/", receivers.receiver_list, name="receiver-list"),
    path(RECEIVER, receivers.receiver_detail, name="receiver-detail"),
    path(RECEIVER + "software-update/", receivers.receiver_software_update, name="receiver-software-update"),
    # The page first: tools that look for "the device type page" take the first match.
    path(DEVICE_TYPE, firmware.device_type_update, name="device-type-update"),
    path(DEVICE_TYPE + "sites.csv", firmware.device_type_sites_csv, name="device-type-sites-csv"),
    path(DEVICE_TYPE + "queue/", firmware.site_queue, name="site-queue"),
    path(DEVICE_TYPE + "update-all/", firmware.rollout_start, name="rollout-start"),
    *[path(DEVICE_TYPE + f"update-all/<int:rollout_id>/{action}/", firmware.rollout_control, {"action": action},
           name=f"rollout-{action}") for action in ("pause", "resume", "advance", "stop")],
    path(DEVICE_TYPE + "update-all/<int:rollout_id>/retry-failed/", firmware.rollout_control, {"action": "retry"},
         name="rollout-retry"),
    path(DEVICE_TYPE + "rollouts/", firmware.rollout_history, name="rollout-history"),
    path(DEVICE_TYPE + "expected-offline/", firmware.device_type_expected_offline, name="device-type-expected-offline"),
    path(RECEIVER + "update-jobs/cancel/", firmware.job_cancel, name="job-cancel"),
    path(RECEIVER + "update-jobs/approve/", firmware.job_approve, name="job-approve"),
    path(RECEIVER + "sites/", receivers.receiver_sites, name="receiver-sites"),
    path(RECEIVER + "panels-without-site/", receivers.receiver_unassigned, name="receiver-unassigned"),
    path(RECEIVER + "panels-without-site/<str:serial>/give-site/", receivers.panel_give_site, name="panel-give-site"),
    path(RECEIVER + "sites/<int:number>/", sites.site_detail, name="site-detail"),
    path(RECEIVER + "sites/<int:number>/remote-update/", sites.site_remote_update, name="site-remote-update"),
    path("releases/", firmware.release_list, name="release-list"),
    path("releases/upload/", firmware.release_upload, name="release-upload"),
    path("releases/<int:pk>/mark-current/", firmware.release_mark_current, name="release-mark-current"),
    path("releases/<int:pk>/deltas/", firmware.release_delta_upload, name="release-delta-upload"),
    path("releases/<int:pk>/archive/", firmware.release_archive, name="release-archive"),
    path("releases/<int:pk>/restore/", firmware.release_restore, name="release-restore"),
    path("releases/<int:pk>/notes/", firmware.release_notes, name="release-notes"),
]
