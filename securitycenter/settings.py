"""Settings, read from the environment (see `.env.example`).

With no environment at all the project runs embedded: SQLite in WAL mode under `var/`, a
Celery broker that is a folder on disk, artifacts under `var/media`. Production sets
`DATABASE_URL` (PostgreSQL), `CELERY_BROKER_URL` (Redis) and `SECRET_KEY`.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
EMBEDDED = "DATABASE_URL" not in env


def _secret_key() -> str:
    if key := env("SECRET_KEY", default=""):
        return key
    if not EMBEDDED:
        raise ImproperlyConfigured("SECRET_KEY must be set when DATABASE_URL is (production mode).")
    # Embedded mode: a random key kept beside the database, never in the repository.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"] if EMBEDDED else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "core",
    "receivers",
    "sites",
    "firmware_updates",
]

MIDDLEWARE = [
    # Device protocol requests go straight to their views, through SecurityMiddleware's HTTPS
    # redirect and HSTS only (firmware_updates/ddi/middleware.py); the rest is for browsers.
    "firmware_updates.ddi.middleware.DeviceProtocolMiddleware",
    # A database out of reach answers 503 with Retry-After (core/outages.py; device requests
    # get the same from their own short way, above).
    "core.outages.DatabaseOutageMiddleware",
    # An address holding a NUL character (%00) is a 400 before any view (core/http_errors.py;
    # the device protocol's views check theirs).
    "core.http_errors.NulInAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the operator's choice (core/preferences.py, below), else the cookie the
    # header's switcher sets, else the browser's Accept-Language (the API's `detail` too).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The signed-in operator's language and time zone (core/preferences.py).
    "core.preferences.PreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "securitycenter.urls"
WSGI_APPLICATION = "securitycenter.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Django's form templates, but the plain <input> widgets said in Python (core/form_renderer.py).
FORM_RENDERER = "core.form_renderer.PanelFormRenderer"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets the device API read while a rollout writes; IMMEDIATE takes the write
            # lock at BEGIN so concurrent writers queue on `timeout` instead of failing.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
    # Tests use a file (one per run) so a real Celery worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
    # Persistent connections, as on PostgreSQL: a new SQLite connection reads the whole schema,
    # ~2 ms of CPU, more than a device poll itself costs (bench ddi_poll).
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # A database host that does not answer at all fails a request after this many seconds.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5))
    # The device protocol's hot reads (firmware_updates/ddi/lookup.py) run as prepared
    # statements, through a second alias of the same database: Django's documented psycopg
    # options bind parameters on the server (`server_side_binding`) and psycopg prepares each
    # statement on the connection's first use (`prepare_threshold` 0). Only those reads use
    # it; every other query keeps `default`, Django's client-side binding, never prepared.
    # Each web thread may hold one connection of each. Tests: the alias is the default's
    # test database (MIRROR); a lookup inside a transaction of `default` reads through that
    # (lookup.py). DATABASE_PREPARED_STATEMENTS=0 (a pooler in transaction mode that cannot
    # keep prepared statements, PgBouncer < 1.21): no alias, the reads use `default`.
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        DATABASES["prepared"] = {
            **DATABASES["default"],
            "OPTIONS": {
                "prepare_threshold": 0,
                **DATABASES["default"].get("OPTIONS", {}),
                "server_side_binding": True,
            },
            "TEST": {"MIRROR": "default"},
        }

# Seconds a client is told to wait (Retry-After) while the database is unreachable (503).
DATABASE_OUTAGE_RETRY_AFTER = env.int("DATABASE_OUTAGE_RETRY_AFTER", default=30)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
# Each language named in itself: that is how the header's switcher offers them.
LANGUAGES = [("en", "English"), ("ru", "Русский")]
# One catalogue for the whole project (locale/ru/LC_MESSAGES/django.po); the .mo files are
# compiled by `make install` (manage.py compiletranslations), never committed (DEVELOPERS.md).
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates and times: one format per language, the panel's and the admin's, with the zone
# (securitycenter/formats/).
FORMAT_MODULE_PATH = ["securitycenter.formats"]
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it even before collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # the embedded mode serves static files without collectstatic
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"

if not DEBUG and not EMBEDDED:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    # Behind nginx (deploy/nginx/firmware.conf sets X-Forwarded-Proto to its own $scheme,
    # replacing any the client sent): a request is secure when it reached nginx over TLS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTPS redirect and HSTS, for browsers and devices alike (firmware_updates/ddi/middleware.py).
# Off by default: panels that speak plain HTTP would be redirected to an https they cannot use.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = env.list("SECURE_REDIRECT_EXEMPT", default=[])
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)

CACHES = {
    "default": env.cache("CACHE_URL", default="locmem://")
    if "CACHE_URL" in env
    else (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("CELERY_BROKER_URL")}
        if env("CELERY_BROKER_URL", default="").startswith("redis")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # Django's Redis cache, answering as an empty cache while Redis is out of reach instead of
    # failing the request (core/cache.py); a Redis that does not answer (down, or frozen: it
    # accepts and never replies) costs at most a second to connect and a second to read.
    CACHES["default"]["BACKEND"] = "core.cache.RedisCache"
    for _option in ("socket_connect_timeout", "socket_timeout"):
        CACHES["default"].setdefault("OPTIONS", {}).setdefault(_option, 1)

# --- Quotas (DEVELOPERS.md "Quotas"; Eclipse hawkBit's tenant quotas) ----------------------
# Each bounds what a panel or an upload can make the server store. Passing one is refused,
# nothing stored, with 429 (a count) or 413 (a size) naming the setting; but a device's
# oldest finished jobs are pruned rather than its next update refused.


def _quota(name: str, default: int) -> int:
    value = env.int(name, default=default)
    if value < 1:
        raise ImproperlyConfigured(f"{name} is a quota: a whole number of at least 1, not {value}.")
    return value


FIRMWARE_MAX_ARCHIVE_SIZE = _quota("FIRMWARE_MAX_ARCHIVE_SIZE", 64 * 1024 * 1024)  # one archive, bytes
FIRMWARE_MAX_ARCHIVE_STORAGE = _quota("FIRMWARE_MAX_ARCHIVE_STORAGE", 20 * 1024**3)  # all archives, bytes
JOB_MAX_STATUS_ENTRIES = _quota("JOB_MAX_STATUS_ENTRIES", 1000)  # a job's timeline entries
DEVICE_MAX_ATTRIBUTES = _quota("DEVICE_MAX_ATTRIBUTES", 100)  # configData attributes kept per device
DEVICE_MAX_JOBS = _quota("DEVICE_MAX_JOBS", 100)  # update jobs kept per device (oldest finished pruned)

# --- Firmware ---------------------------------------------------------------------------
FIRMWARE_TRUSTED_CERTS = env("FIRMWARE_TRUSTED_CERTS", default="") or None
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# What one panel receives per second on GPRS, for the expected times the rollout preview and the
# device type page show (fleetsim's GPRS link model: 5,000 bytes/s).
FIRMWARE_GPRS_BYTES_PER_SECOND = env.int("FIRMWARE_GPRS_BYTES_PER_SECOND", default=5000)

# --- Hostile input -------------------------------------------------------------------------
# Every JSON request body (management API and device protocol, core/json.py): larger is a
# 413, nested deeper is a 400. Real bodies are a few hundred bytes, nested 4 levels.
JSON_MAX_BYTES = env.int("JSON_MAX_BYTES", default=1024 * 1024)
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=32)
# How many proxies in front of Django append to X-Forwarded-For (the shipped nginx: 1). Client
# addresses (throttles, the sign-in audit) are read that many entries from its end; with 0 the
# header is ignored, as anyone can send it. DRF's NUM_PROXIES below is this same setting.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Sign-ins (the panel's and the admin's login pages, the API token endpoint; core/signin.py):
# after this many failures within SIGNIN_COOL_OFF seconds from one address, or for one user
# name, they answer 429 until the window ends. The API token endpoint is also held to 20
# tries a minute per address.
SIGNIN_FAILURES_PER_ADDRESS = env.int("SIGNIN_FAILURES_PER_ADDRESS", default=10)
SIGNIN_FAILURES_PER_NAME = env.int("SIGNIN_FAILURES_PER_NAME", default=5)
SIGNIN_COOL_OFF = env.int("SIGNIN_COOL_OFF", default=900)
# Failed sign-ins (the admin's "Failed sign-ins") are kept this many days; beat deletes older
# ones, and expired sessions, every HOUSEKEEPING_INTERVAL seconds.
SIGNIN_FAILURE_RETENTION_DAYS = env.int("SIGNIN_FAILURE_RETENTION_DAYS", default=90)
HOUSEKEEPING_INTERVAL = env.int("HOUSEKEEPING_INTERVAL", default=3600)

# --- Device protocol (hawkBit DDI) ---------------------------------------------------------
DDI_POLL_SLEEP = env("DDI_POLL_SLEEP", default="00:05:00")  # idle default for new receivers
DDI_ACTIVE_POLL_SLEEP = env("DDI_ACTIVE_POLL_SLEEP", default="00:00:10")  # while a job is active
# The poll offers configData (asks the panel what it runs) when its description is older than
# this (hours), and when it polls after being silent longer than this (minutes); see
# firmware_updates/ddi/payloads._needs_attributes.
DDI_ATTRIBUTES_MAX_AGE = timedelta(hours=env.int("DDI_ATTRIBUTES_MAX_AGE_HOURS", default=24))
DDI_ATTRIBUTES_AFTER_OFFLINE = timedelta(minutes=env.int("DDI_ATTRIBUTES_AFTER_OFFLINE_MINUTES", default=60))
# A succeeded job the panel's version has not confirmed: ask again this often (a panel that
# described itself before its reboot, as rauc-hawkbit-updater without post_update_reboot does).
DDI_ATTRIBUTES_UNCONFIRMED_EVERY = timedelta(minutes=env.int("DDI_ATTRIBUTES_UNCONFIRMED_MINUTES", default=5))
USE_X_ACCEL_REDIRECT = env.bool("USE_X_ACCEL_REDIRECT", default=False)
X_ACCEL_REDIRECT_PREFIX = env("X_ACCEL_REDIRECT_PREFIX", default="/protected-artifacts/")
# A device counts as offline once it missed this many polls of its receiver's interval.
DEVICE_OFFLINE_AFTER_POLLS = env.int("DEVICE_OFFLINE_AFTER_POLLS", default=3)
# last_seen is written at most this often per device, so idle polls stay read-only.
DEVICE_LAST_SEEN_RESOLUTION = timedelta(seconds=env.int("DEVICE_LAST_SEEN_RESOLUTION", default=30))
# Seconds: polls gather last_seen in memory, written in bulk this often per process (0: each poll writes).
DEVICE_SEEN_FLUSH_INTERVAL = env.float("DEVICE_SEEN_FLUSH_INTERVAL", default=10.0)
# Download progress is written to the job at most this often (seconds) per job.
DOWNLOAD_PROGRESS_WRITE_INTERVAL = env.float("DOWNLOAD_PROGRESS_WRITE_INTERVAL", default=2.0)
# Retry storms: a job may ask for this many times its archive's size per clock hour; past
# it the panel's downloads are 429 with Retry-After until the hour ends (docs/ddi.md). 0: no limit.
DDI_DOWNLOAD_BUDGET_ARCHIVES = env.int("DDI_DOWNLOAD_BUDGET_ARCHIVES", default=5)
# Behind nginx: seconds nginx may reuse Django's go-ahead for one device's artifact request
# (X-Accel-Expires, deploy/nginx/firmware.conf), then renews it in the background; 0 asks
# Django every time. Defaults to the progress resolution; a cancel bites new requests once it
# has passed and one request has renewed it (docs/nginx.md).
X_ACCEL_EXPIRES = env.int("X_ACCEL_EXPIRES", default=max(1, -int(-DOWNLOAD_PROGRESS_WRITE_INTERVAL // 1)))

# --- Reconciliation timeouts (beat) --------------------------------------------------------
UPDATE_WAKEUP_RETRY_AFTER = timedelta(seconds=env.int("UPDATE_WAKEUP_RETRY_AFTER", default=300))
UPDATE_STALLED_DOWNLOAD_AFTER = timedelta(seconds=env.int("UPDATE_STALLED_DOWNLOAD_AFTER", default=6 * 3600))
UPDATE_INSTALL_TIMEOUT = timedelta(seconds=env.int("UPDATE_INSTALL_TIMEOUT", default=900))
UPDATE_VERSION_CONFIRM_TIMEOUT = timedelta(seconds=env.int("UPDATE_VERSION_CONFIRM_TIMEOUT", default=900))
UPDATE_CANCEL_ACK_TIMEOUT = timedelta(seconds=env.int("UPDATE_CANCEL_ACK_TIMEOUT", default=3600))
RECONCILE_INTERVAL = env.int("RECONCILE_INTERVAL", default=60)
# Seconds between checks that Device.active_job says what the jobs say (repairing any drift).
ACTIVE_JOB_REPAIR_INTERVAL = env.int("ACTIVE_JOB_REPAIR_INTERVAL", default=900)
# /healthz fails once beat's last reconciliation pass is older than this (seconds).
HEALTH_RECONCILE_MAX_AGE = env.int("HEALTH_RECONCILE_MAX_AGE", default=3 * RECONCILE_INTERVAL + 60)
ROLLOUT_BATCH_SIZE = env.int("ROLLOUT_BATCH_SIZE", default=10000)
WEBHOOK_TIMEOUT = env.int("WEBHOOK_TIMEOUT", default=10)
# The alarm centre's events (feed and webhooks, docs/security-center.md) are kept this many days.
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=90)
# Seconds between beat's deletions of events past their retention.
EVENT_PRUNE_INTERVAL = env.int("EVENT_PRUNE_INTERVAL", default=3600)
# Tries of one event to one webhook before it is given up (back-off 5 s doubling to 15 min).
WEBHOOK_MAX_TRIES = env.int("WEBHOOK_MAX_TRIES", default=13)
ROLLOUT_STALE_AFTER = timedelta(seconds=env.int("ROLLOUT_STALE_AFTER", default=120))
WAKEUP_BATCH_SIZE = env.int("WAKEUP_BATCH_SIZE", default=500)
WAKEUP_TIMEOUT = env.float("WAKEUP_TIMEOUT", default=5.0)

# --- Celery --------------------------------------------------------------------------------
_broker_dir = Path(env("CELERY_BROKER_DIR", default=str(VAR_DIR / "celery-broker")))
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem"):
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
    # Messages renamed into the queue whole, never read half-written (securitycenter/broker.py).
    CELERY_BROKER_TRANSPORT = "securitycenter.broker:FilesystemTransport"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker (and beat) outlives a broker outage: it reconnects for as long as it takes
# (celery's default gives up after 100 attempts and stops the worker).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A task under way when the connection is lost runs to its end (every task is safe to run
# twice, and a rollout's fan-out would only have to start its batch again).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Sending a task from a request gives up after about a second when the broker is down; what
# was not sent is sent again by reconciliation (core/outages.py: enqueue_after_commit).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2,
                                    "interval_max": 0.5}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu's Redis transport with the fix that keeps a worker alive across an outage
    # (securitycenter/broker.py).
    CELERY_BROKER_TRANSPORT = "securitycenter.broker:Transport"
    # A Redis that does not answer, down or frozen, costs a request at most 2 s to connect
    # and 2 s to read per try (securitycenter/broker.py).
    from securitycenter.broker import REDIS_TRANSPORT_OPTIONS

    CELERY_BROKER_TRANSPORT_OPTIONS = dict(REDIS_TRANSPORT_OPTIONS)

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "core.parsers.FormParser",
        "core.parsers.MultiPartParser",
    ],
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Security Center firmware update API",
    "DESCRIPTION": "Receivers, sites, releases, update jobs and rollouts of alarm-panel firmware, and the "
                   "alarm centre's event feed (docs/security-center.md).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from our own static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # 3.1: a nullable object (a site's active job) is `oneOf: [ref, null]`, which strict
    # validators accept; 3.0's `nullable` beside `allOf` they do not.
    "OAS_VERSION": "3.1.0",
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",  # tags and operation ids per resource, not "v1"
    # Jobs and rollouts both have a `state`; name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "JobStateEnum": "firmware_updates.models.JobState",
        "RolloutStateEnum": "firmware_updates.models.Rollout.State",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}
