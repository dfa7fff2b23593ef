"""Settings, read from the environment (django-environ).

With nothing set, the portal runs on its embedded defaults: SQLite in WAL
mode, a Celery worker inside the server process on an in-memory broker and the
in-memory channel layer. ``DATABASE_URL`` and ``REDIS_URL`` switch to
PostgreSQL and Redis for production and scale-out. Any secret can also be
given as ``NAME_FILE`` pointing at a file that holds it.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)
# The keys and the database live here: nobody but the portal's own user may
# look inside (local runs execute as another user when the portal is root).
VAR_DIR.chmod(0o700)

env = environ.Env(smart_cast=False)


def _secret(name, default=None):
    """A secret from NAME, or from the file named by NAME_FILE."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text().strip()
    return env.str(name, default=default)


def _persisted_secret(name, filename, make):
    """Embedded default: a secret generated once and kept in var/ (0600)."""
    value = _secret(name)
    if value:
        return value
    path = VAR_DIR / filename
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(make())
    path.chmod(0o600)  # also for files made before this rule
    return path.read_text().strip()


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = _persisted_secret("SECRET_KEY", "secret_key", lambda: secrets.token_urlsafe(50))
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Secrets of compute targets are encrypted with keys of their own (MultiFernet:
# the first key encrypts, all decrypt), never with SECRET_KEY.
_keys = _persisted_secret(
    "PORTAL_ENCRYPTION_KEYS",
    "encryption_key",
    lambda: __import__("cryptography.fernet").fernet.Fernet.generate_key().decode(),
)
SECRET_ENCRYPTION_KEYS = [key.strip() for key in _keys.split(",") if key.strip()]

HTTPS = env.bool("PORTAL_HTTPS", default=False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "axes",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "crispy_forms",
    "crispy_bootstrap5",
    "template_partials",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "portal",
    "compute",
    "runs",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "runs.upload_limit.UploadLimitMiddleware",  # before anything reads the body
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.middleware.CurrentWorkspaceMiddleware",
    "portal.middleware.PasswordChangeRequiredMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into our lockout page.
    "axes.middleware.AxesMiddleware",
]

# Login throttling (django-axes): after PORTAL_LOGIN_FAILURE_LIMIT failed
# logins for one username from one address, that pair is locked out for
# PORTAL_LOGIN_LOCKOUT_MINUTES (the portal's login and the admin's alike).
# The address is REMOTE_ADDR: behind a reverse proxy every client shares it.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("PORTAL_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("PORTAL_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "portal.lockout.lockout_response"

# The REST API (/api/v1/): personal access tokens or the browser session (with
# CSRF); every error as JSON; PORTAL_API_RATE requests per token (or user).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["portal.api.throttling.PerTokenThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": env.str("PORTAL_API_RATE", default="1200/min")},
    "EXCEPTION_HANDLER": "portal.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Compute portal API",
    "DESCRIPTION": "Compute targets, runs, logs, metrics and outputs. Authenticate with "
    "`Authorization: Bearer <token>` (make a token on your profile page).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # vendored: the docs work offline
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"

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
                "portal.context_processors.workspace",
            ],
        },
    },
]

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the in-process worker write while pages read; IMMEDIATE
        # transactions take the write lock up front instead of failing late.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # SQLite creates its files with the umask: tighten them at every start (the folder is 0700 anyway).
    for _suffix in ("", "-wal", "-shm"):
        _db_file = Path(f"{DATABASES['default']['NAME']}{_suffix}")
        if _db_file.exists():
            _db_file.chmod(0o600)
elif env.bool("PORTAL_DB_POOL", default=True):
    # A connection pool per process (psycopg's, through Django): a request or a
    # task borrows a connection instead of opening one (~3 ms and a few round
    # trips each time under ASGI, where every request runs in a thread of its own).
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("PORTAL_DB_POOL_MAX", default=20),
        "timeout": 30,
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The portal's address as runs on targets reach it: MLflow's tracking calls from
# inside a run go to PORTAL_URL/mlflow (runs.mlflow_server).
PORTAL_URL = env.str("PORTAL_URL", default="http://127.0.0.1:8000")

REDIS_URL = _secret("REDIS_URL", default="")
EMBEDDED = not REDIS_URL

if EMBEDDED:
    CHANNEL_LAYERS = {"default": {"BACKEND": "portal.layers.EmbeddedChannelLayer"}}
    CELERY_BROKER_URL = "memory://localhost/"
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # socket_timeout None: otherwise idle websockets are closed
                # after ~5 s with redis-py 8. A large capacity so a burst of
                # pushes is not dropped (logs never depend on it anyway).
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "capacity": 10_000,
                "expiry": 60,
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL

# The API's request counts (throttling): shared by every server process when Redis is there.
if EMBEDDED:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Target checks and lifecycle actions have a queue of their own, so they never
# wait behind run preparation (uploads, image builds). A worker consumes every
# queue listed here unless given -Q.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue("celery"), Queue("targets"), Queue("runs")]
CELERY_TASK_ROUTES = {"compute.tasks.*": {"queue": "targets"}, "runs.tasks.prepare_run": {"queue": "runs"}}
TARGET_CHECK_INTERVAL = env.int("PORTAL_TARGET_CHECK_INTERVAL", default=300)
CELERY_BEAT_SCHEDULE = {
    "check-targets": {
        "task": "compute.tasks.check_all_targets",
        "schedule": TARGET_CHECK_INTERVAL,
    },
    # Attaches queued where no worker listens (another process's in-memory broker).
    "check-stuck-attaches": {"task": "compute.tasks.check_stuck_attaches", "schedule": 30},
    "stop-idle-targets": {"task": "compute.tasks.stop_idle_targets", "schedule": 60},
    "remove-expired-run-containers": {"task": "compute.tasks.remove_expired_run_containers", "schedule": 300},
    "reap-runs": {
        "task": "runs.tasks.reap_runs",
        "schedule": env.float("PORTAL_RUN_REAP_INTERVAL", default=5.0),
    },
    # Sweeps advance on events (a child ends, new metrics); this catches a lost one.
    "advance-sweeps": {"task": "runs.tasks.advance_sweeps", "schedule": 15},
    # Clusters: nodes and queue observed, created clusters' containers follow Slurm.
    "follow-clusters": {
        "task": "compute.tasks.follow_clusters",
        "schedule": env.float("PORTAL_CLUSTER_FOLLOW_INTERVAL", default=3.0),
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Local runs: when the portal runs as root they execute as this unprivileged
# user (made by `manage.py setup_local_runner`), in a folder outside VAR_DIR
# that it owns; otherwise they have the portal's own rights, in var/.
PORTAL_IS_ROOT = os.geteuid() == 0
LOCAL_RUN_USER = env.str("PORTAL_LOCAL_RUN_USER", default="portal-run")
LOCAL_WORKDIR = env.str(
    "PORTAL_LOCAL_WORKDIR",
    default="/var/lib/portal-runs" if PORTAL_IS_ROOT else str(VAR_DIR / "local-target"),
)
# Runs: snapshot limits, the monitor's lease, how long a silent target is waited for.
SNAPSHOT_MAX_BYTES = env.int("PORTAL_SNAPSHOT_MAX_MB", default=300) * 1024 * 1024
SNAPSHOT_MAX_FILES = env.int("PORTAL_SNAPSHOT_MAX_FILES", default=2000)
SNAPSHOT_MAX_RATIO = env.int("PORTAL_SNAPSHOT_MAX_RATIO", default=200)
# A run's outputs, as collected from the target: past these, what fit is kept.
PORTAL_OUTPUTS_MAX_MB = env.int("PORTAL_OUTPUTS_MAX_MB", default=2048)
PORTAL_OUTPUTS_MAX_FILES = env.int("PORTAL_OUTPUTS_MAX_FILES", default=10_000)
# A browser folder upload sends one file per field: let the snapshot limit, not Django's 100, decide.
DATA_UPLOAD_MAX_NUMBER_FILES = SNAPSHOT_MAX_FILES + 10
# The monitor service's lease on each run it follows: renewed every third of
# it; a worker killed without notice is replaced after at most this long (at
# once when it ran on the same machine).
RUN_LEASE_SECONDS = env.float("PORTAL_RUN_LEASE_SECONDS", default=9.0)
RUN_CLAIM_INTERVAL = env.float("PORTAL_RUN_CLAIM_INTERVAL", default=1.0)
RUN_MONITOR_THREADS = env.int("PORTAL_RUN_MONITOR_THREADS", default=8)
RUN_REQUEUE_AFTER = env.float("PORTAL_RUN_REQUEUE_AFTER", default=30.0)
RUN_LOG_MAX_BYTES = env.int("PORTAL_RUN_LOG_MAX_MB", default=200) * 1024 * 1024
RUN_UNREACHABLE_GRACE = env.float("PORTAL_RUN_UNREACHABLE_GRACE", default=120.0)
SSH_CONNECT_TIMEOUT = env.float("PORTAL_SSH_TIMEOUT", default=10.0)
PREFLIGHT_TIMEOUT = env.float("PORTAL_PREFLIGHT_TIMEOUT", default=30.0)
# Docker engines: the API client's timeout; how long a failed run's container is kept.
DOCKER_TIMEOUT = env.float("PORTAL_DOCKER_TIMEOUT", default=30.0)
DOCKER_KEEP_FAILED_MINUTES = env.int("PORTAL_DOCKER_KEEP_FAILED_MINUTES", default=60)
DOCKER_BUILD_TIMEOUT = env.float("PORTAL_DOCKER_BUILD_TIMEOUT", default=1800.0)
# Websockets: how often an open socket re-checks that its user may still see
# the object; per socket, a burst of backfill requests, then so many a second.
WS_RECHECK_SECONDS = env.float("PORTAL_WS_RECHECK_SECONDS", default=30.0)
WS_BACKFILL_BURST = env.int("PORTAL_WS_BACKFILL_BURST", default=5)
WS_BACKFILL_PER_SECOND = env.float("PORTAL_WS_BACKFILL_PER_SECOND", default=1.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"paramiko": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}
