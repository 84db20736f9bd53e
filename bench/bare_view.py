"""The framework floor for `ddi_poll`: Django with nothing but one view doing one indexed lookup.

This module is its own settings and URLconf (DJANGO_SETTINGS_MODULE=bench.bare_view), used only
by the bench: no apps, no middleware, the same database as the product (DATABASE_URL, same
persistent connections), and a view that finds the device by its token digest (the unique
index the real poll uses) and answers a fixed poll body. What Django costs per request, and
nothing of ours: the real poll's figure divided by this one is the share we add.

    gunicorn 'django.core.wsgi:get_wsgi_application()'  (with this settings module)
"""

import hashlib

import environ
from django.db import connection
from django.http import HttpResponse
from django.urls import re_path

env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default="bench-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.bare_view"
USE_TZ = True
DATABASES = {"default": env.db("DATABASE_URL")}
# As the product's settings: persistent connections (health-checked on PostgreSQL).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 30}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

BODY = b'{"config":{"polling":{"sleep":"00:05:00"}}}'


def poll(request, tenant: str, controller_id: str) -> HttpResponse:
    _scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    digest = hashlib.sha256(token.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, serial FROM sites_device WHERE token_hash = %s", [digest])
        row = cursor.fetchone()
    if row is None or row[1] != controller_id:
        return HttpResponse(status=401)
    return HttpResponse(BODY, content_type="application/json")


urlpatterns = [re_path(r"^(?P<tenant>[^/]+)/controller/v1/(?P<controller_id>[^/]+)/?$", poll)]
