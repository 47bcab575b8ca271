"""Qodex settings: everything that differs between machines comes from the environment (SPEC §1)."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-insecure-secret-key-for-local-use-only"  # noqa: S105 - DEBUG only

if DEBUG:
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
else:
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "ninja",  # serves the API docs' assets from our own static files, not a CDN
    "accounts",
    "projects",
    "environments",
    "byok",
    "usage",
    "qa",
    "django_tasks",
    "django_tasks_db",  # the task queue's table; qa.worker runs what is queued there
]

MIDDLEWARE = [
    "qodex.middleware.RequestIdMiddleware",
    "qodex.api_errors.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "qodex.middleware.RequestBodyLimitMiddleware",  # before anything reads the body (CSRF does)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "qodex.middleware.SecurityHeadersMiddleware",
    "accounts.middleware.VerifiedEmailRequiredMiddleware",
    "qodex.doors.PageRefusals",
    "projects.middleware.RememberLastProject",
]

ROOT_URLCONF = "qodex.urls"
WSGI_APPLICATION = "qodex.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["qodex.templatetags.qodex_time", "qodex.templatetags.qodex_pages"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "projects.context_processors.switcher",
                "environments.context_processors.environment_switcher",
            ],
        },
    },
]

# SQLite in ./db.sqlite3 is the embedded default; DATABASE_URL points anywhere else (PostgreSQL in CI).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# A connection that died with a database restart is replaced instead of failing the next request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves requests and the test-run worker at once (`make run`): write-ahead
    # logging lets readers go on while one writes, IMMEDIATE transactions take the write lock up front
    # instead of failing halfway with "database is locked", and a writer waits up to 20 s for its turn.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        transaction_mode="IMMEDIATE",
        timeout=20,
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # Server-side parameter binding lets psycopg prepare a statement the fifth time a connection runs
    # it, so PostgreSQL stops re-planning the queries every request makes (the API key lookup's
    # plan costs more than running it). Turn off behind a pooler without prepared-statement support
    # (PgBouncer before 1.21 in transaction mode): DATABASE_PREPARED_STATEMENTS=0.
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        DATABASES["default"]["OPTIONS"].update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://qodex")}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Hashed, compressed names once `collectstatic` has written its manifest (production); plain names before.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if (STATIC_ROOT / "staticfiles.json").exists()
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Qodex <no-reply@qodex.local>")

# Security: secure cookies and HSTS whenever DEBUG is off (SPEC §1, §11).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = False
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    if env.bool("USE_X_FORWARDED_PROTO", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Qodex
QODEX_SITE_NAME = "Qodex"
# Where links in emails sent outside a request (cap alerts) point.
QODEX_SITE_URL = env.str("QODEX_SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
QODEX_VERIFICATION_MAX_AGE_HOURS = 48
QODEX_INVITATION_MAX_AGE_DAYS = 7
QODEX_SUDO_MAX_AGE_SECONDS = 30 * 60
# Outbound requests (qodex/outbound.py, SPEC §11) may reach loopback and private networks only when on:
# teams testing apps on their own network turn it on. Cloud metadata addresses stay refused regardless.
QODEX_ALLOW_PRIVATE_TARGETS = env.bool("QODEX_ALLOW_PRIVATE_TARGETS", default=DEBUG)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # httpx logs every request's URL at INFO, and an environment's URL may carry a secret (SPEC §6);
    # httpx2 is the fork the openai SDK sends through since 3.5x, and logs the same.
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
    },
}

# --- Secrets encryption (qodex/crypto.py; SPEC §1, §6) -----------------------------------------------
# Fernet keys, newest first: new secrets use the first key, every listed key still decrypts.
QODEX_ENCRYPTION_KEYS = [key.strip() for key in env.list("QODEX_ENCRYPTION_KEYS", default=[]) if key.strip()]
if not QODEX_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "QODEX_ENCRYPTION_KEYS must be set when DEBUG is off. Generate a key with: python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
    # Development only: a stable key derived from SECRET_KEY (qodex.crypto.derive_key), so secrets
    # saved locally survive restarts.
    import base64  # noqa: E402
    import hashlib  # noqa: E402

    QODEX_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]
else:
    from cryptography.fernet import Fernet  # noqa: E402

    # A mistyped key refuses to start rather than failing on the first secret read.
    for _position, _key in enumerate(QODEX_ENCRYPTION_KEYS, start=1):
        try:
            Fernet(_key)
        except ValueError:
            raise ImproperlyConfigured(
                f"QODEX_ENCRYPTION_KEYS: key #{_position} is not a Fernet key (32 url-safe base64 bytes)."
            ) from None
# How long a token from an environment's API login is reused before logging in again.
QODEX_LOGIN_TOKEN_TTL_SECONDS = 30 * 60

# Test runs execute on a database-backed task queue (no broker): `manage.py run_worker` (qa.worker), which
# `make run` starts next to the web server.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
QODEX_RUN_STEP_TIMEOUT_SECONDS = env.float("QODEX_RUN_STEP_TIMEOUT_SECONDS", default=30.0)
QODEX_RUN_TIMEOUT_SECONDS = env.float("QODEX_RUN_TIMEOUT_SECONDS", default=15 * 60.0)
# A running run whose worker has not shown a sign of life for this long was left by a killed worker.
QODEX_RUN_STALE_SECONDS = env.float("QODEX_RUN_STALE_SECONDS", default=60.0)
# Seconds before each retry of a webhook callback that failed (qa.webhooks): 6 attempts over ~40 minutes.
QODEX_WEBHOOK_RETRY_DELAYS = [10, 30, 120, 600, 1800]

# LLM providers and the platform's own funding (SPEC §7). Every provider is reached through its
# OpenAI-compatible endpoint; the *_BASE_URL settings point them elsewhere (the stand-in server offline).
QODEX_PROVIDER_BASE_URLS = {
    "openai": env.str("QODEX_OPENAI_BASE_URL", default="https://api.openai.com/v1"),
    "anthropic": env.str("QODEX_ANTHROPIC_BASE_URL", default="https://api.anthropic.com/v1/"),
    "google": env.str(
        "QODEX_GOOGLE_BASE_URL", default="https://generativelanguage.googleapis.com/v1beta/openai/"
    ),
}
QODEX_PLATFORM_PROVIDER = env.str("QODEX_PLATFORM_PROVIDER", default="openai")
QODEX_PLATFORM_API_KEY = env.str("QODEX_PLATFORM_API_KEY", default="")
QODEX_PLATFORM_BASE_URL = env.str("QODEX_PLATFORM_BASE_URL", default="")
QODEX_CODEX_POOL_KEYS = [key.strip() for key in env.list("QODEX_CODEX_POOL_KEYS", default=[]) if key.strip()]
QODEX_CAP_5H_USD = env.str("QODEX_CAP_5H_USD", default="5.00")
QODEX_CAP_WEEKLY_USD = env.str("QODEX_CAP_WEEKLY_USD", default="25.00")
QODEX_LLM_TIMEOUT_SECONDS = env.float("QODEX_LLM_TIMEOUT_SECONDS", default=60.0)
QODEX_LLM_MAX_RETRIES = env.int("QODEX_LLM_MAX_RETRIES", default=2)  # the SDK's, with backoff
# PostgreSQL: a usage row (and its rollups and cap release) commits without waiting for the WAL flush,
# so a crash of the database server can lose the last fraction of a second of usage rows, never half of
# one; every other write keeps waiting. 0 makes usage rows wait too (docs/PERFORMANCE.md, usage.rollups).
QODEX_USAGE_ASYNC_COMMIT = env.bool("QODEX_USAGE_ASYNC_COMMIT", default=True)
# --- end of secrets encryption -----------------------------------------------------------------------
