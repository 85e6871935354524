"""Settings for the console: every knob is an environment variable (documented in README.md)."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from rmnconsole.env import ConfigError, envbool, envfloat, envint, envlist, envstr

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = envbool("DEBUG", False)
RMN_HTTPS = envbool("RMN_HTTPS", False)
SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    if RMN_HTTPS:
        raise ConfigError("SECRET_KEY (or SECRET_KEY_FILE) must be set when RMN_HTTPS is on (production)")
    # First-run default for a laptop on loopback; production sets SECRET_KEY.
    SECRET_KEY = "insecure-first-run-key-set-SECRET_KEY-in-production"  # noqa: S105
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

RMN_DATA_ROOT = Path(envstr("RMN_DATA_ROOT", str(BASE_DIR / "var" / "data"))).expanduser().resolve()
RMN_DATA_ROOT.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "daphne",  # first: its runserver serves the ASGI app (HTTP + the live-update WebSockets)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_rq",
    "ninja",
    "rmnconsole",
    "datasets_app",
    "training",
    "federation",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "rmnconsole.middleware.ApiJsonErrorsMiddleware",
    "rmnconsole.middleware.RejectNulBytesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "rmnconsole.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "rmnconsole.urls"
WSGI_APPLICATION = "rmnconsole.wsgi.application"
ASGI_APPLICATION = "rmnconsole.asgi.application"

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
                "rmnconsole.context_processors.console",
                "monitoring.context_processors.alert_banners",
            ],
        },
    },
]

_default_db = f"sqlite:///{RMN_DATA_ROOT / 'console.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(envstr("DATABASE_URL", _default_db), conn_max_age=0)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Workers and the web server write at once: wait for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
if os.environ.get("RMN_TEST_DB_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["RMN_TEST_DB_NAME"]}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = envstr("REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_DEFAULT_TIMEOUT = envint("RQ_DEFAULT_TIMEOUT", 60 * 60 * 24, minimum=60)
RQ_QUEUES = {
    name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": RQ_DEFAULT_TIMEOUT}
    for name in ("training", "inference", "default")
}
RQ_SHOW_ADMIN_LINK = True
# Live updates (Django Channels) ride on the same Redis: the layer reads REDIS_URL when it is built, so a test run
# that moves REDIS_URL to its own database moves the layer with it. Never the in-memory layer: workers are other
# processes. A channel holds at most RMN_LIVE_CHANNEL_CAPACITY events; more are dropped for that channel.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "rmnconsole.core.live_layer.ConsoleRedisChannelLayer",
        "CONFIG": {"capacity": envint("RMN_LIVE_CHANNEL_CAPACITY", 100, minimum=10), "expiry": 30},
    }
}
RMN_LIVE_UPDATES = envbool("RMN_LIVE_UPDATES", True)
# Plain `rqworker` processes run one job-recovery pass when they start and re-register when Redis lost them.
RQ = {"WORKER_CLASS": "rmnconsole.workers.RecoveringWorker"}
RMN_RECONCILE_SECONDS = envint("RMN_RECONCILE_SECONDS", 20, minimum=5)
# A file in a pipeline's watched folder is read once it has not changed for this long (a writer may still be busy).
RMN_PIPELINE_STABLE_SECONDS = envfloat("RMN_PIPELINE_STABLE_SECONDS", 5.0, minimum=0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS: list = [BASE_DIR / "static"]
_LOCAL_CHARTJS = BASE_DIR / "var" / "npm" / "node_modules" / "chart.js" / "dist"
if _LOCAL_CHARTJS.is_dir():
    # The npm copy of Chart.js, for air-gapped sites and the browser tests: CHARTJS_URL=/static/vendor/chartjs/chart.umd.min.js
    STATICFILES_DIRS.append(("vendor/chartjs", _LOCAL_CHARTJS))
STATIC_ROOT = RMN_DATA_ROOT / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Chart.js 4.6.1 from jsDelivr; sites without internet point CHARTJS_URL at a local copy.
CHARTJS_URL = envstr("CHARTJS_URL", "https://cdn.jsdelivr.net/npm/chart.js@4.6.1/dist/chart.umd.min.js")
CHARTJS_INTEGRITY = envstr(
    "CHARTJS_INTEGRITY",
    ""
    if os.environ.get("CHARTJS_URL")
    else "sha384-Emf5ZVIUiarAdhkgtqK+5/Z5qIvM6QoVrS+qAVtfyZVuD5lIHrac0me485+Antp0",
)

# Uploads: stream to disk; the per-request cap is enforced by the dataset upload handler.
RMN_MAX_UPLOAD_MB = envint("RMN_MAX_UPLOAD_MB", 100, minimum=1)
# A federation config is a few KB; a gated one carries its trained gate (~1–3 MB on an 8B model).
RMN_MAX_FEDERATION_CONFIG_MB = envint("RMN_MAX_FEDERATION_CONFIG_MB", 32, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Partial uploads stay inside the data root (same file system as datasets/, so registering is one rename), where
# sweep_orphan_uploads() finds what a hard-stopped process left; the system temp folder is nobody's to clean.
FILE_UPLOAD_TEMP_DIR = str(RMN_DATA_ROOT / "tmp" / "uploads")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
RMN_UPLOAD_ORPHAN_GRACE_SECONDS = envint("RMN_UPLOAD_ORPHAN_GRACE_SECONDS", 6 * 3600, minimum=0)

RMN_DUCKDB_MEMORY_LIMIT = envstr("RMN_DUCKDB_MEMORY_LIMIT", "256MB")
RMN_DUCKDB_THREADS = envint("RMN_DUCKDB_THREADS", 2, minimum=1, maximum=64)
RMN_DATASET_INLINE_MB = envfloat("RMN_DATASET_INLINE_MB", 5.0, minimum=0)
# One example (line) larger than this is flagged unread and fails the quality gate.
RMN_DATASET_MAX_LINE_MB = envfloat("RMN_DATASET_MAX_LINE_MB", 1.0, minimum=0.001)
RMN_QUALITY_GATE = envint("RMN_QUALITY_GATE", 85, minimum=0, maximum=100)
RMN_HEARTBEAT_STALE_SECONDS = envint("RMN_HEARTBEAT_STALE_SECONDS", 90, minimum=5)
RMN_TRAINING_REPORT_SECONDS = envfloat("RMN_TRAINING_REPORT_SECONDS", 2.0, minimum=0.1)
RMN_TRAINING_CANCEL_GRACE_SECONDS = envfloat("RMN_TRAINING_CANCEL_GRACE_SECONDS", 60.0, minimum=1)
RMN_MODEL_CACHE_SIZE = envint("RMN_MODEL_CACHE_SIZE", 2, minimum=1)
# After a training job completes, its adapter (and the base once per suite) is evaluated on the inference queue.
RMN_AUTO_EVALUATE = envbool("RMN_AUTO_EVALUATE", True)
# Federated learning (training.federated): the Flower SuperLink's Control API, and TLS for talking to it.
# RMN_FLOWER_RUN_ROOT is a folder both the SuperLink host and the console's workers see (the ServerApp writes
# each run's report there); it defaults to federated/runs under the data root (loopback/demo topology).
RMN_FLOWER_SUPERLINK = envstr("RMN_FLOWER_SUPERLINK", "")
RMN_FLOWER_ROOT_CERTIFICATES = envstr("RMN_FLOWER_ROOT_CERTIFICATES", "")
RMN_FLOWER_INSECURE = envbool("RMN_FLOWER_INSECURE", False)
RMN_FLOWER_RUN_ROOT = envstr("RMN_FLOWER_RUN_ROOT", "")
# Serving (/v1): per-token requests per minute (a token's own limit wins), the longest answer, how long a request
# waits for a worker, when a worker counts as gone, and the batching bounds of `manage.py serve_models`.
RMN_SERVING_REQUESTS_PER_MINUTE = envint("RMN_SERVING_REQUESTS_PER_MINUTE", 600, minimum=1)
RMN_SERVING_MAX_TOKENS = envint("RMN_SERVING_MAX_TOKENS", 2048, minimum=1)
RMN_SERVING_TIMEOUT_SECONDS = envfloat("RMN_SERVING_TIMEOUT_SECONDS", 120.0, minimum=1)
RMN_SERVING_WORKER_STALE_SECONDS = envint("RMN_SERVING_WORKER_STALE_SECONDS", 10, minimum=2)
RMN_SERVING_MAX_BATCH = envint("RMN_SERVING_MAX_BATCH", 8, minimum=1)
RMN_SERVING_BATCH_WAIT_MS = envfloat("RMN_SERVING_BATCH_WAIT_MS", 20.0, minimum=0)
RMN_SAMPLE_INTERVAL_SECONDS = envfloat("RMN_SAMPLE_INTERVAL_SECONDS", 5.0, minimum=0.5)
RMN_SAMPLE_RAW_RETENTION_HOURS = envint("RMN_SAMPLE_RAW_RETENTION_HOURS", 24, minimum=1)
RMN_SAMPLE_MINUTE_RETENTION_DAYS = envint("RMN_SAMPLE_MINUTE_RETENTION_DAYS", 2, minimum=1)
RMN_SAMPLE_5MIN_RETENTION_DAYS = envint("RMN_SAMPLE_5MIN_RETENTION_DAYS", 14, minimum=1)
RMN_SAMPLE_HOUR_RETENTION_DAYS = envint("RMN_SAMPLE_HOUR_RETENTION_DAYS", 400, minimum=1)
RMN_ALERT_GPU_UTIL_PERCENT = envfloat("RMN_ALERT_GPU_UTIL_PERCENT", 95.0, minimum=1, maximum=100)
RMN_ALERT_MEMORY_PERCENT = envfloat("RMN_ALERT_MEMORY_PERCENT", 90.0, minimum=1, maximum=100)
RMN_ALERT_PLATEAU_STEPS = envint("RMN_ALERT_PLATEAU_STEPS", 20, minimum=3)
RMN_ALERT_PLATEAU_TOLERANCE = envfloat("RMN_ALERT_PLATEAU_TOLERANCE", 0.01, minimum=0)
RMN_ALERT_WINDOW_SECONDS = envint(
    "RMN_ALERT_WINDOW_SECONDS", max(60, int(3 * RMN_SAMPLE_INTERVAL_SECONDS)), minimum=1
)
RMN_HOST_OFFLINE_SECONDS = envint(
    "RMN_HOST_OFFLINE_SECONDS", max(30, int(3 * RMN_SAMPLE_INTERVAL_SECONDS)), minimum=1
)
RMN_METRICS_TOKEN = envstr("RMN_METRICS_TOKEN", "")
RMN_METRICS_ALLOW = envlist("RMN_METRICS_ALLOW", ["127.0.0.1", "::1"])
RMN_OFFLINE = envbool("HF_HUB_OFFLINE", True)
if RMN_OFFLINE:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Production hardening behind TLS.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if RMN_HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}
