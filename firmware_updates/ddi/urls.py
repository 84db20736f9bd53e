"""hawkBit DDI v1: the device protocol (DESIGN.md section 4), under /{tenant}/controller/v1/.

Tenant = receiver code, controllerId = device serial, module id = release id. A trailing
slash is tolerated: some DDI clients add one.
"""

from django.urls import re_path

from . import views

app_name = "ddi"

BASE = r"^(?P<tenant>[^/]+)/controller/v1/(?P<controller_id>[^/]+)"
ACTION = r"(?P<action_id>[0-9]{1,18})"

urlpatterns = [
    re_path(BASE + r"/?$", views.poll, name="poll"),
    re_path(BASE + r"/configData/?$", views.config_data, name="config-data"),
    re_path(BASE + rf"/deploymentBase/{ACTION}/?$", views.deployment_base, name="deployment-base"),
    re_path(
        BASE + rf"/deploymentBase/{ACTION}/feedback/?$",
        views.deployment_feedback,
        name="deployment-feedback",
    ),
    re_path(BASE + rf"/installedBase/{ACTION}/?$", views.installed_base, name="installed-base"),
    re_path(BASE + rf"/cancelAction/{ACTION}/?$", views.cancel_action, name="cancel-action"),
    re_path(
        BASE + rf"/cancelAction/{ACTION}/feedback/?$", views.cancel_feedback, name="cancel-feedback"
    ),
    re_path(
        BASE + r"/softwaremodules/(?P<module_id>[0-9]{1,18})/artifacts/?$",
        views.artifact_list,
        name="artifact-list",
    ),
    re_path(
        BASE + r"/softwaremodules/(?P<module_id>[0-9]{1,18})/artifacts/(?P<filename>[^/]+)$",
        views.artifact,
        name="artifact",
    ),
    re_path(BASE + r"/(?P<resource>.+)$", views.unsupported, name="unsupported"),
]
