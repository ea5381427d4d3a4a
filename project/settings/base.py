"""All of Lookout's settings, read from the environment with embedded defaults (see README: Configuration)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet

from agent_core.egress import EgressPolicy
from project.settings.env import ConfigError, env, fernet_key, persistent_secret

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env.str("LOOKOUT_VAR_DIR", default=str(BASE_DIR / "var")))

# Off unless DEBUG=1: Django's technical error pages show settings and routes to whoever hits an error.
DEBUG = env.bool("DEBUG", default=False)
# A production deployment is one on PostgreSQL (its processes may run on several machines), or one that
# says LOOKOUT_PRODUCTION=1. There SECRET_KEY must come from the environment (a key generated under one
# machine's var/ would not be shared) and cookies are Secure; the embedded mode generates its key under var/.
LOOKOUT_PRODUCTION = env.bool(
    "LOOKOUT_PRODUCTION", default=env.str("DATABASE_URL", default="").split(":", 1)[0] in ("postgres", "postgresql", "pgsql")
)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if LOOKOUT_PRODUCTION:
        raise ConfigError(
            "SECRET_KEY must be set in production (DATABASE_URL is PostgreSQL, or LOOKOUT_PRODUCTION=1); "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = persistent_secret(VAR_DIR / "secret_key")

# Encrypts credentials and saved logins at rest (MultiFernet): comma-separated Fernet keys, the first
# encrypts, all decrypt; rotate with `manage.py rotate_encryption_key` (see README: Credentials).
LOOKOUT_ENCRYPTION_KEY = env.str("LOOKOUT_ENCRYPTION_KEY", default="")
# Required in production for the same reason as SECRET_KEY: every process must decrypt with the same keys.
if not LOOKOUT_ENCRYPTION_KEY:
    if LOOKOUT_PRODUCTION:
        raise ConfigError(
            "LOOKOUT_ENCRYPTION_KEY must be set in production (DATABASE_URL is PostgreSQL, or LOOKOUT_PRODUCTION=1); "
            "generate one with: python -c "
            "'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
        )
    LOOKOUT_ENCRYPTION_KEY = persistent_secret(VAR_DIR / "encryption_key", make=fernet_key)
LOOKOUT_ENCRYPTION_KEYS = [key.strip() for key in LOOKOUT_ENCRYPTION_KEY.split(",") if key.strip()]
if not LOOKOUT_ENCRYPTION_KEYS:
    raise ConfigError("LOOKOUT_ENCRYPTION_KEY holds no key (comma-separated Fernet keys, the first encrypts)")
for _position, _key in enumerate(LOOKOUT_ENCRYPTION_KEYS, start=1):
    try:
        Fernet(_key)
    except ValueError:
        raise ConfigError(
            f"LOOKOUT_ENCRYPTION_KEY: key {_position} is not a Fernet key (32 random bytes, URL-safe base64)"
        ) from None

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
for origin in CSRF_TRUSTED_ORIGINS:
    if not origin.startswith(("http://", "https://")):
        raise ConfigError(f"CSRF_TRUSTED_ORIGINS entries need a scheme, e.g. https://{origin} (got {origin!r})")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "axes",
    "tasks_app",
]

MIDDLEWARE = [
    "tasks_app.api.errors.ApiErrorMiddleware",  # JSON, never HTML, for errors under /api/ and /v1/
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "tasks_app.security.ContentSecurityPolicyMiddleware",  # before XFrameOptions: it reads that header
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # login throttling (see the security block below)
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"
WSGI_APPLICATION = None

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
                "tasks_app.context_processors.lookout",
            ],
        },
    },
]

# ---- database: SQLite under var/ unless DATABASE_URL is set --------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = env.str("DATABASE_URL", default="")
if DATABASE_URL and DATABASE_URL.split(":", 1)[0] not in ("postgres", "postgresql", "pgsql", "sqlite"):
    raise ConfigError(f"DATABASE_URL is not a database URL Lookout understands (postgres://... or sqlite:///...): {DATABASE_URL.split(':', 1)[0]}://")
try:
    DATABASES = {"default": env.db_url_config(DATABASE_URL or f"sqlite:///{VAR_DIR / 'lookout.sqlite3'}")}
except Exception as exc:  # django-environ raises several types for a bad URL
    raise ConfigError(f"DATABASE_URL is not a database URL Lookout understands: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the in-process runner write while pages read.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 0)
    # Each process keeps a few connections open (Django's psycopg pool) instead of opening one per database
    # trip: the websockets' trips all queue on daphne's one sync thread, and under load a fresh connection
    # costs 40-200 ms there (a handshake pays two or three trips, daphne drops it after 5 s). 0 turns it off.
    DB_POOL_SIZE = env.int("LOOKOUT_DB_POOL_SIZE", default=8)
    if DB_POOL_SIZE < 0:
        raise ConfigError(f"LOOKOUT_DB_POOL_SIZE must be 0 (no pool) or more: {DB_POOL_SIZE}")
    if DB_POOL_SIZE and importlib.util.find_spec("psycopg_pool") is None:
        raise ConfigError("the database pool needs psycopg_pool: run `make install` (pip install 'psycopg[pool]'), "
                          "or set LOOKOUT_DB_POOL_SIZE=0")
    if DB_POOL_SIZE and DATABASES["default"]["CONN_MAX_AGE"] == 0:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": DB_POOL_SIZE, "timeout": 30}
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # a connection PostgreSQL dropped is replaced, not used
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---- Redis: channel layer, Celery broker and cache when REDIS_URL is set -------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ConfigError(f"REDIS_URL must start with redis://, rediss:// or unix:// (got {REDIS_URL!r})")
if REDIS_URL:
    # Redis Pub/Sub: one PUBLISH per event, fanned out inside each ASGI process to its local sockets
    # (the list-based layer pays a Redis round trip per socket; see bench/event_latency.py). Nothing is
    # lost by its fire-and-forget delivery: events are stored first and clients fill gaps by seq.
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# "inprocess": runs execute on the ASGI server's own event loop (embedded default).
# "celery": runs are queued to Celery workers (`make worker`); needs REDIS_URL.
LOOKOUT_RUNNER = env.str("LOOKOUT_RUNNER", default="celery" if REDIS_URL else "inprocess")
if LOOKOUT_RUNNER not in ("inprocess", "celery"):
    raise ConfigError(f"LOOKOUT_RUNNER must be 'inprocess' or 'celery' (got {LOOKOUT_RUNNER!r})")
if LOOKOUT_RUNNER == "celery" and not REDIS_URL:
    raise ConfigError("LOOKOUT_RUNNER=celery needs REDIS_URL (the Celery broker and channel layer)")
# In-process runner only (Celery's limit is the worker's --concurrency): runs beyond it wait, in order.
LOOKOUT_MAX_CONCURRENT_RUNS = env.int("LOOKOUT_MAX_CONCURRENT_RUNS", default=os.cpu_count() or 2)
if LOOKOUT_MAX_CONCURRENT_RUNS < 1:
    raise ConfigError(f"LOOKOUT_MAX_CONCURRENT_RUNS must be at least 1 (got {LOOKOUT_MAX_CONCURRENT_RUNS})")

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("LOOKOUT_VISIBILITY_TIMEOUT", default=3600)}

# ---- auth, i18n, static, artifacts ---------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
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
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_ROOT = Path(env.str("LOOKOUT_ARTIFACTS_DIR", default=str(VAR_DIR / "artifacts")))
MEDIA_URL = "/artifacts/"  # never served directly: artifacts go through an org-checked view
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files straight from the app folders in every mode: no collectstatic step to forget.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=LOOKOUT_PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=LOOKOUT_PRODUCTION)

# ---- REST API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["tasks_app.api.auth.ApiKeyAuthentication", "rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tasks_app.api.auth.IsOrgCaller"],
    "DEFAULT_THROTTLE_CLASSES": ["tasks_app.api.throttling.ApiRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["tasks_app.api.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "tasks_app.api.errors.exception_handler",
}
# Requests per API key (or per dashboard user) per period, counted in the cache (Redis when REDIS_URL is set).
LOOKOUT_API_RATE = env.str("LOOKOUT_API_RATE", default="120/min") or None  # empty: no limit
if LOOKOUT_API_RATE and not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", LOOKOUT_API_RATE):
    raise ConfigError(f"LOOKOUT_API_RATE must look like 120/min (requests per s, min, hour or day); got {LOOKOUT_API_RATE!r}")
SPECTACULAR_SETTINGS = {
    "TITLE": "Lookout API",
    "DESCRIPTION": "Create, watch and control LLM browser-agent runs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/(api/)?v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "tasks_app.api.schema.postprocess"],
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "tasks_app.models.Task.Status", "StepStatusEnum": "tasks_app.models.Step.Status",
        "EngineEnum": "tasks_app.models.Task.Engine", "RunStatusEnum": "tasks_app.api.skyvern.RUN_STATUSES",
        "RunEngineEnum": "tasks_app.api.skyvern.RUN_ENGINES", "RunTypeEnum": "tasks_app.api.skyvern.RUN_TYPES",
    },
    # The docs page loads Swagger UI from static/vendor/swagger-ui (npm swagger-ui-dist), never from a CDN.
    "SWAGGER_UI_DIST": "/static/vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": "/static/vendor/swagger-ui/favicon-32x32.png",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# ---- the agent -----------------------------------------------------------------------------
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="") or None
LOOKOUT_MODEL = env.str("LOOKOUT_MODEL", default="gpt-4o")
LOOKOUT_EXTRACTION_MODEL = env.str("LOOKOUT_EXTRACTION_MODEL", default="") or None
LOOKOUT_CUA_MODEL = env.str("LOOKOUT_CUA_MODEL", default="computer-use-preview")
# The models a task may name (the new-task form offers them as a list): comma-separated; by default the
# dom and cua engines' defaults. Anything else is refused at task creation.
LOOKOUT_MODELS = [m.strip() for m in env.list("LOOKOUT_MODELS", default=[]) if m.strip()] or list(
    dict.fromkeys([LOOKOUT_MODEL, LOOKOUT_CUA_MODEL])
)
LOOKOUT_LLM_TIMEOUT = env.float("LOOKOUT_LLM_TIMEOUT", default=60.0)
LOOKOUT_CHROMIUM = env.str("LOOKOUT_CHROMIUM", default="") or shutil.which("chromium") or None
LOOKOUT_HEADLESS = env.bool("LOOKOUT_HEADLESS", default=True)
# Local folders the agent may upload files from (http(s) URLs are always allowed).
LOOKOUT_UPLOAD_DIRS = env.list("LOOKOUT_UPLOAD_DIRS", default=[])
LOOKOUT_DEFAULT_MAX_STEPS = env.int("LOOKOUT_DEFAULT_MAX_STEPS", default=10)
LOOKOUT_HEARTBEAT_SECONDS = env.float("LOOKOUT_HEARTBEAT_SECONDS", default=5.0)
LOOKOUT_STALE_AFTER_SECONDS = env.float("LOOKOUT_STALE_AFTER_SECONDS", default=30.0)
LOOKOUT_REQUEUE_LOST_RUNS = env.bool("LOOKOUT_REQUEUE_LOST_RUNS", default=False)
# ---- egress: what the browser, uploads and webhooks may reach -------------------------------
# Link-local and cloud metadata addresses are always refused; loopback, private, shared and reserved ones
# unless listed here (comma-separated CIDRs, addresses or host names), e.g. "127.0.0.0/8" to try Lookout
# on local sites. Built into a policy by tasks_app.egress.policy().
LOOKOUT_ALLOWED_NETWORKS = env.str("LOOKOUT_ALLOWED_NETWORKS", default="")
try:
    EgressPolicy.from_setting(LOOKOUT_ALLOWED_NETWORKS)
except ValueError as exc:
    raise ConfigError(f"LOOKOUT_ALLOWED_NETWORKS: {exc}") from None
# A browser download past this many megabytes is stopped and reported.
LOOKOUT_MAX_DOWNLOAD_MB = env.float("LOOKOUT_MAX_DOWNLOAD_MB", default=100.0)
if not LOOKOUT_MAX_DOWNLOAD_MB > 0:
    raise ConfigError(f"LOOKOUT_MAX_DOWNLOAD_MB must be a positive number of megabytes (got {LOOKOUT_MAX_DOWNLOAD_MB:g})")
# Video (needs ffmpeg), Playwright trace and HAR of every run, as artifacts; each organization can opt out
# (Organization.record_runs). Prune old ones with `manage.py prune_recordings --days N`.
LOOKOUT_RECORD_RUNS = env.bool("LOOKOUT_RECORD_RUNS", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # The secrets of every run in progress are masked out of log lines (agent_core.secrets).
    "filters": {"secrets": {"()": "agent_core.secrets.MaskingLogFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["secrets"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}, "axes": {"level": "WARNING"}},  # axes: lockouts only
}

# ---- webhooks ------------------------------------------------------------------------------
LOOKOUT_WEBHOOK_MAX_ATTEMPTS = env.int("LOOKOUT_WEBHOOK_MAX_ATTEMPTS", default=6)
LOOKOUT_WEBHOOK_BACKOFF_SECONDS = env.float("LOOKOUT_WEBHOOK_BACKOFF_SECONDS", default=2.0)
LOOKOUT_WEBHOOK_BACKOFF_CAP = env.float("LOOKOUT_WEBHOOK_BACKOFF_CAP", default=300.0)
LOOKOUT_WEBHOOK_TIMEOUT = env.float("LOOKOUT_WEBHOOK_TIMEOUT", default=10.0)
LOOKOUT_STEP_TIME_BUDGET = env.int("LOOKOUT_STEP_TIME_BUDGET", default=180)  # seconds per step for a run's time limit
LOOKOUT_SWEEP_SECONDS = env.float("LOOKOUT_SWEEP_SECONDS", default=15.0)
# Take control / ask a person: a held control with no input for this long is released; a question of the
# agent unanswered for this long fails the run.
LOOKOUT_CONTROL_IDLE_SECONDS = env.float("LOOKOUT_CONTROL_IDLE_SECONDS", default=600.0)
LOOKOUT_INPUT_TIMEOUT = env.float("LOOKOUT_INPUT_TIMEOUT", default=1800.0)
CELERY_TASK_DEFAULT_QUEUE = env.str("LOOKOUT_CELERY_QUEUE", default="lookout")
LOOKOUT_SWEEP_QUEUE = env.str("LOOKOUT_SWEEP_QUEUE", default="") or CELERY_TASK_DEFAULT_QUEUE
CELERY_TASK_ROUTES = {
    "tasks_app.sweep_stale_runs": {"queue": LOOKOUT_SWEEP_QUEUE},
    "tasks_app.apply_retention": {"queue": LOOKOUT_SWEEP_QUEUE},
}
# How often each organization's retention settings (events, artifacts, recordings older than N days) apply.
LOOKOUT_RETENTION_SECONDS = env.float("LOOKOUT_RETENTION_SECONDS", default=3600.0)
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-runs": {"task": "tasks_app.sweep_stale_runs", "schedule": LOOKOUT_SWEEP_SECONDS},
    "apply-retention": {"task": "tasks_app.apply_retention", "schedule": LOOKOUT_RETENTION_SECONDS},
}

# ---- security: headers, TLS, login throttling, websockets (see README: Security) ---------------
# X-Frame-Options, X-Content-Type-Options, Referrer-Policy and Cross-Origin-Opener-Policy come from Django's
# middleware; the Content-Security-Policy from tasks_app.security.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Behind TLS (all off by default, since `make run` serves plain http on loopback):
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# A TLS-terminating proxy's header saying the request came over https, e.g. X-Forwarded-Proto. Only set
# it when the proxy always sets (or strips) that header; the websocket origin check honours it too.
_proxy_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="")
if _proxy_ssl_header:
    if not re.fullmatch(r"[A-Za-z0-9-]+", _proxy_ssl_header):
        raise ConfigError(f"SECURE_PROXY_SSL_HEADER must be a header name such as X-Forwarded-Proto (got {_proxy_ssl_header!r})")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")

# Login throttling (django-axes), on the dashboard's and the admin's login forms (API keys are untouched):
# after LOOKOUT_LOGIN_FAILURE_LIMIT failures an account, and separately an address, is refused for
# LOOKOUT_LOGIN_COOLOFF_MINUTES, even with the right password; a successful login clears the count.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOOKOUT_LOGIN_FAILURE_LIMIT = env.int("LOOKOUT_LOGIN_FAILURE_LIMIT", default=5)
LOOKOUT_LOGIN_COOLOFF_MINUTES = env.float("LOOKOUT_LOGIN_COOLOFF_MINUTES", default=15.0)
if LOOKOUT_LOGIN_FAILURE_LIMIT < 1 or LOOKOUT_LOGIN_COOLOFF_MINUTES <= 0:
    raise ConfigError("LOOKOUT_LOGIN_FAILURE_LIMIT must be at least 1 and LOOKOUT_LOGIN_COOLOFF_MINUTES above 0")
# The attempt that makes the 5th failure already answers with the lockout page; the 6th is refused unchecked.
AXES_FAILURE_LIMIT = LOOKOUT_LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # per account, and per address
AXES_COOLOFF_TIME = timedelta(minutes=LOOKOUT_LOGIN_COOLOFF_MINUTES)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# Behind a reverse proxy every login comes from the proxy's address: name how many proxies append to
# X-Forwarded-For so the address counted is the client's.
LOOKOUT_PROXY_COUNT = env.int("LOOKOUT_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "tasks_app.security.client_ip"

# Websockets re-check that their user may still read the task this often (seconds).
LOOKOUT_WS_RECHECK_SECONDS = env.float("LOOKOUT_WS_RECHECK_SECONDS", default=5.0)
