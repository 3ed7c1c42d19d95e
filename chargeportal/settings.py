"""Settings for chargeportal, read from the environment (see README, "Configuration").

One settings module for every deployment: the demo, the tests and production differ
only in environment variables. Bad values stop start-up naming the variable.
"""

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from core.env import (
    env_bool,
    env_choice,
    env_currency,
    env_decimal,
    env_int,
    env_ip_networks,
    env_list,
    env_str,
    env_time_zone,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", required=not DEBUG) or "insecure-debug-only-key"
if not DEBUG and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters when DEBUG is off.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.headless",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core.apps.CoreConfig",
    "chargeportal.apps.ChargeportalConfig",
    "accounts.apps.AccountsConfig",
    "sessions_app.apps.SessionsAppConfig",
    "billing.apps.BillingConfig",
    "reporting.apps.ReportingConfig",
    "roaming.apps.RoamingConfig",
    "demo.apps.DemoConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "core.json_limits.JSONDepthMiddleware",
]

ROOT_URLCONF = "chargeportal.urls"
ASGI_APPLICATION = "chargeportal.asgi.application"
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
                "django.template.context_processors.i18n",
            ],
        },
    },
]


def _database(url: str) -> dj_database_url.DBConfig:
    conn_max_age = env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0)
    pool_size = env_int("DATABASE_POOL_SIZE", 10, minimum=0)  # PostgreSQL only
    try:
        config = dj_database_url.parse(url, conn_max_age=conn_max_age)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
    engine = config.get("ENGINE", "")
    if engine not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
        raise ImproperlyConfigured("DATABASE_URL must point to PostgreSQL or SQLite.")
    if engine == "django.db.backends.sqlite3":
        # WAL and immediate transactions let the server and a worker share the demo file.
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
        return config
    # Under ASGI a request or a charger's message may run on any thread, and a persistent connection
    # stays with its thread: connections pile up. A pool per process bounds them at DATABASE_POOL_SIZE;
    # 0 turns it off (then DATABASE_CONN_MAX_AGE may keep connections, e.g. for batch scripts).
    if pool_size and conn_max_age:
        raise ImproperlyConfigured(
            "DATABASE_CONN_MAX_AGE must be 0 while DATABASE_POOL_SIZE is set: the pool keeps the connections "
            "(DATABASE_POOL_SIZE=0 turns the pool off)."
        )
    if pool_size:
        config["OPTIONS"] = {
            **config.get("OPTIONS", {}),
            "pool": {"min_size": min(2, pool_size), "max_size": pool_size},
        }
        # Django then has the pool check each connection it hands out: one PostgreSQL dropped (a restart)
        # is replaced instead of failing a request.
        config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASES = {"default": _database(env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))}
# Covering indexes (INCLUDE) speed the reports up on PostgreSQL; SQLite builds them without the extra columns.
SILENCED_SYSTEM_CHECKS = ["models.W040"] if DATABASES["default"]["ENGINE"].endswith("sqlite3") else []
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"REDIS_URL must start with redis://, rediss:// or unix://, got {REDIS_URL!r}.")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # A database cache is shared by every process, so login rate limits still hold.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "django_cache"}}

# The channel layer carries commands to the process holding a charger's socket; in-memory
# works only when one process serves everything (the demo).
if REDIS_URL:
    # redis-py 8 times reads out after 5 s by default, exactly as long as channels_redis blocks
    # waiting for messages: give the socket more, or idle consumers die of "Timeout reading".
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# A charger's largest OCPP frame (bytes); a larger one closes its connection with 1009 (message too big).
# Give uvicorn the same as --ws-max-size (make serve does), so it stops reading one that large at once.
OCPP_MAX_FRAME_BYTES = env_int("OCPP_MAX_FRAME_BYTES", 1_048_576, minimum=4096)
# Where the admin's live board opens its websocket when websockets are served apart from the pages (another
# host or port, e.g. ws://127.0.0.1:8001/ws/board/); empty: /ws/board/ on the page's own host.
BOARD_WEBSOCKET_URL = env_str("BOARD_WEBSOCKET_URL", "")
if BOARD_WEBSOCKET_URL and not BOARD_WEBSOCKET_URL.startswith(("ws://", "wss://")):
    raise ImproperlyConfigured(f"BOARD_WEBSOCKET_URL must start with ws:// or wss://, got {BOARD_WEBSOCKET_URL!r}.")
# A tile server under the live board's site map ({z}/{x}/{y} template, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png)
# and the attribution its terms ask for; empty: the map draws country outlines only, from the repository.
BOARD_MAP_TILES_URL = env_str("BOARD_MAP_TILES_URL", "")
BOARD_MAP_ATTRIBUTION = env_str("BOARD_MAP_ATTRIBUTION", "")
if BOARD_MAP_TILES_URL:
    _tiles = urlsplit(BOARD_MAP_TILES_URL)
    if _tiles.scheme not in ("http", "https") or not _tiles.netloc or "{" in _tiles.netloc:
        raise ImproperlyConfigured(f"BOARD_MAP_TILES_URL must be an http(s) URL, got {BOARD_MAP_TILES_URL!r}.")
    if any(part not in BOARD_MAP_TILES_URL for part in ("{z}", "{x}", "{y}")):
        raise ImproperlyConfigured(
            f"BOARD_MAP_TILES_URL must contain {{z}}, {{x}} and {{y}}, got {BOARD_MAP_TILES_URL!r}."
        )
    try:
        BOARD_MAP_TILES_URL.format(z=0, x=0, y=0)
    except (KeyError, IndexError, ValueError) as error:
        raise ImproperlyConfigured(
            f"BOARD_MAP_TILES_URL may hold no braces but {{z}}, {{x}} and {{y}}, got {BOARD_MAP_TILES_URL!r}."
        ) from error
    if not BOARD_MAP_ATTRIBUTION:
        raise ImproperlyConfigured("BOARD_MAP_ATTRIBUTION must be set with BOARD_MAP_TILES_URL (the tiles' terms).")

# Celery: Redis is the broker; without it tasks run inline, in the process that enqueues them.
CELERY_BROKER_URL = REDIS_URL or "memory://"
# CELERY_EAGER=1 runs tasks inline even with Redis (a test server without a worker).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers keep the LOGGING below (its filter masks card UIDs) instead of replacing the root logger's handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = "UTC"
# A queue of its own lets several installs (or test runs) share one Redis.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
# A statement email that failed is retried after this many seconds, then twice as long each time.
STATEMENT_EMAIL_RETRY_BASE_SECONDS = env_int("STATEMENT_EMAIL_RETRY_BASE_SECONDS", 60, minimum=1)
# A stopped session's post-stop work (price, charge, rollups) that failed is retried after this many seconds,
# then twice as long each time (at most an hour); the sweeper looks this many days back for sessions a crash
# left unpriced or uncharged; work still pending this many minutes after the stop shows in "Needs attention".
POST_STOP_RETRY_BASE_SECONDS = env_int("POST_STOP_RETRY_BASE_SECONDS", 30, minimum=1)
POST_STOP_SWEEP_DAYS = env_int("POST_STOP_SWEEP_DAYS", 7, minimum=1)
# Without a broker (eager tasks, no beat) each ASGI server sweeps post-stop work itself this often.
POST_STOP_SWEEP_SECONDS = env_int("POST_STOP_SWEEP_SECONDS", 60, minimum=1)
POST_STOP_ATTENTION_MINUTES = env_int("POST_STOP_ATTENTION_MINUTES", 15, minimum=1)
# Reservations (sessions_app.reservations): a driver's lasts RESERVATION_MINUTES unless they choose otherwise;
# none, a driver's or an operator's, may last longer than RESERVATION_MAX_MINUTES.
RESERVATION_MINUTES = env_int("RESERVATION_MINUTES", 15, minimum=1)
RESERVATION_MAX_MINUTES = env_int("RESERVATION_MAX_MINUTES", 60, minimum=1)
# Local authorization lists (sessions_app.local_list): a list the charger refused (Failed, no answer) is sent again
# after this many seconds, doubled per failed attempt (at most 6 hours).
LOCAL_LIST_RETRY_BASE_SECONDS = env_int("LOCAL_LIST_RETRY_BASE_SECONDS", 60, minimum=1)
if RESERVATION_MINUTES > RESERVATION_MAX_MINUTES:
    raise ImproperlyConfigured(
        f"RESERVATION_MINUTES ({RESERVATION_MINUTES}) must not exceed "
        f"RESERVATION_MAX_MINUTES ({RESERVATION_MAX_MINUTES})."
    )
CELERY_BEAT_SCHEDULE = {
    # Hourly, so each operator's statements are built once its own month has ended (its time zone),
    # and a missed run is caught up by the next.
    "statements-monthly": {"task": "billing.statements_monthly", "schedule": crontab(minute=5)},
    # Every minute: stopped sessions' post-stop work that is due (a retry, or left by a crash), and the
    # sessions a crash left unpriced or uncharged.
    "post-stop-sweep": {"task": "sessions_app.post_stop_sweep", "schedule": 60.0, "options": {"expires": 55}},
    # Every minute: chargers silent for more than two heartbeat intervals lose the connection a killed server
    # process left open (it ends at their last message).
    "connection-sweep": {"task": "sessions_app.connection_sweep", "schedule": 60.0, "options": {"expires": 55}},
    # Every 30 seconds: reservations past their expiry end (the charger ends its own at the same time).
    "reservations-expire": {"task": "sessions_app.reservations_expire", "schedule": 30.0, "options": {"expires": 25}},
    # Every 5 minutes: reservation fees a crash or a failing handler left unpriced or uncharged.
    "reservation-fees-sweep": {
        "task": "billing.reservation_fees_sweep",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    # Every minute: local authorization lists that are pending, failed and due again, or out of date (a card expired).
    "local-list-sweep": {"task": "sessions_app.local_list_sweep", "schedule": 60.0, "options": {"expires": 55}},
    # Every minute: each load group's limit shared again (windows starting and ending, turns, chargers back online).
    "load-sweep": {"task": "sessions_app.load_sweep", "schedule": 60.0, "options": {"expires": 55}},
    # Every 5 minutes: firmware that did not reach its charger (offline, no answer) goes again to those connected now.
    "firmware-resend": {"task": "sessions_app.firmware_resend", "schedule": 300.0, "options": {"expires": 290}},
    # Every minute: pushes to roaming partners that are due (retries with back-off, and those a crash left unsent).
    "roaming-push-sweep": {"task": "roaming.push_sweep", "schedule": 60.0, "options": {"expires": 55}},
    # Every minute: credit notes on roaming partners' sessions whose credit CDR was missed (a crash).
    "roaming-cdr-corrections": {"task": "roaming.cdr_corrections", "schedule": 60.0, "options": {"expires": 55}},
    # Every minute: partners' commands still without a result 5 minutes on are answered TIMEOUT (never sent late).
    "roaming-commands-overdue": {"task": "roaming.commands_overdue", "schedule": 60.0, "options": {"expires": 55}},
    # Every minute: reporting rollups of what arrived since the last run and of the hours still open.
    "rollups-refresh": {"task": "reporting.rollups_refresh", "schedule": 60.0, "options": {"expires": 55}},
    # Every 5 minutes: email operators about stations offline or faulted longer than they allow, once per incident.
    "station-alerts": {"task": "reporting.station_alerts", "schedule": 300.0, "options": {"expires": 290}},
    # Mondays, hourly through the morning (UTC): each operator's summary goes once its own week has ended
    # in its time zone; sent weeks are remembered, so the later runs only catch up.
    "weekly-summaries": {
        "task": "reporting.weekly_summaries",
        "schedule": crontab(minute=30, hour="6-11", day_of_week="mon"),
    },
}

# Our own reverse proxies (addresses or networks): only when one of them is the peer does X-Forwarded-For
# name the client, for API throttles, login rate limits and chargers' addresses (chargeportal/client_ip.py).
# `make serve` gives uvicorn the same list. Empty (the default): the peer is the client.
TRUSTED_PROXIES = env_ip_networks("TRUSTED_PROXIES")

# Charger handshakes that fail (wrong or missing password; unknown id, counted for the address only): after
# so many in the window, that charger id or address is refused before any password is hashed, for
# OCPP_AUTH_LOCKOUT seconds, doubling with each lockout in a day up to OCPP_AUTH_LOCKOUT_MAX. A charger id's
# lockout spares the address it last authenticated from (sessions_app/lockout.py).
OCPP_AUTH_FAILURES_PER_ID = env_int("OCPP_AUTH_FAILURES_PER_ID", 5, minimum=1)
OCPP_AUTH_FAILURES_PER_ADDRESS = env_int("OCPP_AUTH_FAILURES_PER_ADDRESS", 20, minimum=1)
OCPP_AUTH_FAILURE_WINDOW = env_int("OCPP_AUTH_FAILURE_WINDOW", 300, minimum=1)
OCPP_AUTH_LOCKOUT = env_int("OCPP_AUTH_LOCKOUT", 60, minimum=1)
OCPP_AUTH_LOCKOUT_MAX = env_int("OCPP_AUTH_LOCKOUT_MAX", 900, minimum=1)
# Equal security events (kind, operator, charger or address, detail) within this many seconds are one row
# with a count, so a flood of refused handshakes writes a handful of rows.
SECURITY_EVENT_WINDOW = env_int("SECURITY_EVENT_WINDOW", 300, minimum=1)

# TLS for chargers (security profiles 2 and 3; README "TLS for chargers"): uvicorn serves it itself with the
# server's certificate (PEM, its chain after it) and key; `make serve` passes them, and OCPP_CA_CERT_FILE, the
# operator's CA (PEM), as the CA client certificates must come from (profile 3: the certificate's CN is the
# charge point id). The same CA, with OCPP_CA_KEY_FILE, signs chargers' certificates (SignCertificate).
OCPP_TLS_CERT_FILE = env_str("OCPP_TLS_CERT_FILE", "")
OCPP_TLS_KEY_FILE = env_str("OCPP_TLS_KEY_FILE", "")
if bool(OCPP_TLS_CERT_FILE) != bool(OCPP_TLS_KEY_FILE):
    raise ImproperlyConfigured("OCPP_TLS_CERT_FILE and OCPP_TLS_KEY_FILE go together: set both or neither.")
OCPP_CA_CERT_FILE = env_str("OCPP_CA_CERT_FILE", "")
# The CA's private key (PEM; OCPP_CA_KEY_PASSWORD if it is encrypted, which may come from a *_FILE secret):
# chargers' certificate requests (SignCertificate) are signed with it, valid OCPP_CHARGER_CERT_DAYS days (never
# beyond the CA). Without it they are refused (system checks ocpp_ca.E001 / W001).
OCPP_CA_KEY_FILE = env_str("OCPP_CA_KEY_FILE", "")
OCPP_CA_KEY_PASSWORD = env_str("OCPP_CA_KEY_PASSWORD", "")
OCPP_CHARGER_CERT_DAYS = env_int("OCPP_CHARGER_CERT_DAYS", 365, minimum=1)
# Behind a reverse proxy that ends TLS (one of TRUSTED_PROXIES): the header in which it forwards the client
# certificate it verified, URL-encoded PEM (nginx: `proxy_set_header X-Client-Cert $ssl_client_escaped_cert;`).
# Empty (the default): no header is believed.
OCPP_TLS_PROXY_CERT_HEADER = env_str("OCPP_TLS_PROXY_CERT_HEADER", "")

# JSON from chargers, the API and the app's sign-in nested deeper than this is refused (a CALLERROR, HTTP 400)
# before it is parsed (chargeportal/json_limits.py); OCPP payloads nest about 6 levels.
JSON_MAX_DEPTH = env_int("JSON_MAX_DEPTH", 32, minimum=8)
# A charger's DataTransfer data (and other event text) is stored up to this many bytes (UTF-8), the rest cut
# off with a marker saying how much arrived; the charger's answer and any vendor handler see it whole.
OCPP_EVENT_DATA_MAX_BYTES = env_int("OCPP_EVENT_DATA_MAX_BYTES", 65_536, minimum=1024)
# A charger's clock is believed from its registration minus OCPP_TIME_BEFORE_REGISTRATION seconds to
# OCPP_TIME_AHEAD seconds past the server's; a time outside (a start dated 2000, a stop dated 9999) is stored
# as the time the server received it, the charger's own kept and flagged for review (sessions_app.services).
OCPP_TIME_BEFORE_REGISTRATION = env_int("OCPP_TIME_BEFORE_REGISTRATION", 86_400, minimum=0)
OCPP_TIME_AHEAD = env_int("OCPP_TIME_AHEAD", 300, minimum=0)
# Diagnostics and logs chargers upload (GetDiagnostics, GetLog) come to <OCPP_UPLOAD_BASE_URL>/ocpp-uploads/<token>/
# by HTTP PUT or POST (sessions_app/uploads.py): the address chargers reach this server at, e.g.
# https://cp.example.com; empty: the address the operator's request came to. Each upload address takes one file of
# at most OCPP_UPLOAD_MAX_BYTES, within OCPP_UPLOAD_WINDOW seconds of the request.
OCPP_UPLOAD_BASE_URL = env_str("OCPP_UPLOAD_BASE_URL", "").rstrip("/")
if OCPP_UPLOAD_BASE_URL and not OCPP_UPLOAD_BASE_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"OCPP_UPLOAD_BASE_URL must be an http(s) URL, got {OCPP_UPLOAD_BASE_URL!r}.")
OCPP_UPLOAD_MAX_BYTES = env_int("OCPP_UPLOAD_MAX_BYTES", 100 * 1024 * 1024, minimum=1024)
OCPP_UPLOAD_WINDOW = env_int("OCPP_UPLOAD_WINDOW", 86_400, minimum=60)

# The REST API (/api/v1): the app logs in through allauth's headless API (X-Session-Token),
# operators' systems with an API token (Authorization: Bearer cp_...); see chargeportal/api.py.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api_tokens.ApiTokenAuthentication",
        "allauth.headless.contrib.rest_framework.authentication.XSessionTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.Pagination",
    "DEFAULT_PARSER_CLASSES": [
        "core.json_limits.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.ClientThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_RATE_ANON", "60/min"),
        "user": env_str("API_RATE_USER", "300/min"),
        "token": env_str("API_RATE_TOKEN", "1200/min"),
    },
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "chargeportal API",
    "DESCRIPTION": "Drivers' app and operators' systems. Errors: {\"error\": {status, code, message, fields}}.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models call a choice field "status" or "type": name each set of choices once.
    "ENUM_NAME_OVERRIDES": {
        "ConnectorStatusEnum": "sessions_app.models.ConnectorStatus",
        "CardStatusEnum": "accounts.models.IdTag.Status",
        "CustomerAccountStatusEnum": "accounts.models.CustomerAccount.Status",
        "PriceComponentTypeEnum": "billing.models.PriceComponent.Type",
        "StatementStatusEnum": "billing.models.Statement.Status",
        "RegistrationStatusEnum": "sessions_app.models.ChargePoint.RegistrationStatus",
        "OcppProtocolEnum": "sessions_app.models.ChargePoint.OcppProtocol",
        "IdTagKindEnum": "accounts.uids.IdTagKind",
        "ReservationStatusEnum": "sessions_app.models.Reservation.Status",
        "ChargerUploadKindEnum": "sessions_app.models.ChargerUpload.Kind",
        "ChargerUploadStatusEnum": "sessions_app.models.ChargerUpload.Status",
    },
    # Every /api/v1 operation documents its 4xx answers as core.api's one error body.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.api.document_errors"],
}
HEADLESS_CLIENTS = ("app",)
HEADLESS_SERVE_SPECIFICATION = True
HEADLESS_SPECIFICATION_TEMPLATE_NAME = "headless/spec/redoc_local.html"  # Redoc from drf-spectacular-sidecar, no CDN
HEADLESS_ADAPTER = "accounts.adapters.HeadlessAdapter"
# Links in the emails the app's users get (verify the address, reset the password) open the app at
# APP_LINK_URL (a universal link such as https://app.example.com or a scheme such as chargeportal://),
# which sends the key to /_allauth/app/v1/...; without it they open the portal's pages, which work too.
APP_LINK_URL = env_str("APP_LINK_URL", "").rstrip("/")
if APP_LINK_URL and "://" not in APP_LINK_URL:
    raise ImproperlyConfigured(f"APP_LINK_URL must be a URL with a scheme, got {APP_LINK_URL!r}.")
HEADLESS_FRONTEND_URLS = (
    {
        "account_confirm_email": f"{APP_LINK_URL}/account/verify-email/{{key}}",
        "account_reset_password": f"{APP_LINK_URL}/account/password/reset",
        "account_reset_password_from_key": f"{APP_LINK_URL}/account/password/reset/key/{{key}}",
        "account_signup": f"{APP_LINK_URL}/account/signup",
    }
    if APP_LINK_URL
    else {}
)

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
# Name and operator, on the portal's sign-up page and in the app's (headless) sign-up alike.
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.DriverSignupFields"
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "chargeportal"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("sv", _("Swedish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["chargeportal.formats"]
TIME_ZONE = env_time_zone("TIME_ZONE", "Europe/Stockholm")
USE_I18N = True
USE_TZ = True

DEFAULT_CURRENCY = env_currency("DEFAULT_CURRENCY", "SEK")
DEFAULT_VAT_PERCENT = env_decimal("DEFAULT_VAT_PERCENT", "25", minimum="0", maximum="100")

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "static")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed names need `collectstatic` first; `make serve` runs it.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", EMAIL_PORT == 465)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on.")
# Where mail goes: SMTP to EMAIL_HOST; the console (the log) by default only with DEBUG, because sign-up
# and password-reset links would be readable there; locmem keeps it in memory (tests), dummy drops it.
_email_backend = env_choice(
    "EMAIL_BACKEND", ("smtp", "console", "locmem", "dummy"), "smtp" if EMAIL_HOST or not DEBUG else "console"
)
if _email_backend == "smtp" and not EMAIL_HOST:
    raise ImproperlyConfigured(
        "EMAIL_HOST must be set when DEBUG is off (or EMAIL_BACKEND is smtp): mail is not written to the log "
        "there, as sign-up and password-reset links would be readable in it. For a trial without a mail server "
        "set EMAIL_BACKEND=console (mail and its links in the log) or EMAIL_BACKEND=dummy (no mail is sent)."
    )
EMAIL_BACKEND = f"django.core.mail.backends.{_email_backend}.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "chargeportal <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Online card payment (Stripe Checkout) is offered only when STRIPE_SECRET_KEY is set; the webhook
# secret must come with it (system check billing.E001). STRIPE_API_BASE is for tests' fake server.
STRIPE_SECRET_KEY = (env_str("STRIPE_SECRET_KEY") or "").strip()
STRIPE_WEBHOOK_SECRET = (env_str("STRIPE_WEBHOOK_SECRET") or "").strip()
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com").rstrip("/")
if not STRIPE_API_BASE.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"STRIPE_API_BASE must be an http(s) URL, got {STRIPE_API_BASE!r}.")

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
# The Content-Security-Policy of every response (chargeportal/csp.py; Django 6's SECURE_CSP shape).
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],  # allauth, Swagger UI and Redoc set style attributes
    "img-src": ["'self'", "data:"],  # the two-factor QR code, icons in the API docs' stylesheets
    "worker-src": ["'self'", "blob:"],  # Redoc's search worker
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    # Production defaults pass `manage.py check --deploy`; HTTPS_ONLY=0 is for a
    # plain-HTTP local run only.
    _https = env_bool("HTTPS_ONLY", True)
    SECURE_SSL_REDIRECT = _https
    SESSION_COOKIE_SECURE = _https
    CSRF_COOKIE_SECURE = _https
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if _https else 0, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # Card UIDs never reach a log: the ocpp package logs failing CALLs whole (sessions_app/ocpp/log_redaction.py).
    "filters": {"redact_id_tags": {"()": "sessions_app.ocpp.log_redaction.IdTagRedactingFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_id_tags"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # The ocpp package logs every frame at INFO: far too much for a fleet.
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "ocpp": {"level": "WARNING", "filters": ["redact_id_tags"]},
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
