"""Studio settings: every value comes from the environment, with embedded defaults for one machine.

With nothing configured, Studio runs on SQLite (WAL), Celery over kombu's filesystem transport and local
media, all under ``var/``. Set ``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``STUDIO_STORAGE=s3`` for real
services; set ``STUDIO_PRODUCTION=1`` and the secrets it asks for before exposing Studio to anyone.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from studio.env import env_bool, env_int, env_list, env_rate, env_seconds, env_str
from studio.local_secret import local_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("STUDIO_VAR_DIR", str(BASE_DIR / "var"))).resolve()

# --- Core / security -------------------------------------------------------------------------------------
PRODUCTION = env_bool("STUDIO_PRODUCTION", False)
# Off unless asked for (DJANGO_DEBUG=1): a debug 404 lists every URL pattern to whoever asks.
DEBUG = env_bool("DJANGO_DEBUG", False)

if PRODUCTION:
    # No defaults here: a production deployment without these must not start.
    SECRET_KEY = env_str("DJANGO_SECRET_KEY")
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("Set DJANGO_ALLOWED_HOSTS (comma-separated) when STUDIO_PRODUCTION=1.")
    if len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 32 characters long.")
else:
    # A random key made on the first start and kept in var/secret_key (0600), never a public default: the
    # delivery signing key is derived from it, and a known key would let anyone sign any transformation.
    SECRET_KEY = env_str("DJANGO_SECRET_KEY", "") or local_secret_key(VAR_DIR / "secret_key")
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])

CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# HTTPS: in production browsers are told to use it for a year and plain HTTP is redirected. Behind a proxy
# that terminates TLS, set STUDIO_TLS_PROXY=1 so its X-Forwarded-Proto says whether the request was HTTPS
# (only then: a client could send the header itself), or the redirect would loop.
SECURE_HSTS_SECONDS = env_int("STUDIO_HSTS_SECONDS", 365 * 24 * 3600 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("STUDIO_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_SSL_REDIRECT = env_bool("STUDIO_SSL_REDIRECT", PRODUCTION)
# Preloading commits the whole registered domain to HTTPS in every browser, for months: the domain's owner
# decides that, not Studio, so the deploy check's reminder about it (W021) is silenced.
SECURE_HSTS_PRELOAD = env_bool("STUDIO_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("STUDIO_TLS_PROXY", False) else None
# How many proxies in front of Studio append to X-Forwarded-For; 0 (the default) ignores the header, which
# anyone can send. Login throttling (below) counts failures per client address.
STUDIO_TRUSTED_PROXY_COUNT = env_int("STUDIO_TRUSTED_PROXY_COUNT", 0)

# --- Applications ----------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "django_htmx",
    "template_partials",
    "studio",
    "generation",
    "review",
    "delivery",
    "studio.webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "studio.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "studio.urls"
WSGI_APPLICATION = "studio.wsgi.application"
ASGI_APPLICATION = "studio.asgi.application"

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
                "studio.context_processors.attention",
            ],
            # {% partialdef %} everywhere without {% load %}, as in Django 6's built-in partials.
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

# --- Database --------------------------------------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "studio.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{SQLITE_PATH}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        # A kept connection is checked before a request reuses it, so one broken by a database restart is
        # replaced instead of failing that request.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes progress; IMMEDIATE transactions take the
    # write lock up front, so two writers wait (busy timeout) instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not :memory:, so a Celery worker process started by a test sees the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-studio.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache -----------------------------------------------------------------------------------------------
# Per-process memory by default; several web processes need a shared cache for their limits (the delivery
# render rate) to add up: STUDIO_CACHE_URL=redis://127.0.0.1:6379/1.
_cache_url = env_str("STUDIO_CACHE_URL", "")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
    if _cache_url
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# --- Auth ------------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out login before the password is even checked; ModelBackend does the checking.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Login throttling (django-axes, on /login/ and /admin/login/) -----------------------------------------
# Failures are counted per username *and* client address together: an attacker gets a few guesses per
# account from each address, but cannot lock a colleague out from everywhere by typing their name wrong on
# purpose, and one office behind a shared address is not locked out by one person's typos. Guessing one
# account from many addresses is what the password validators above are for.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("STUDIO_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("STUDIO_LOGIN_COOLOFF_MINUTES", 15))
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "studio.views.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "studio.views.client_ip_address"
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_TIME.total_seconds() <= 0:
    raise ImproperlyConfigured(
        "STUDIO_LOGIN_FAILURE_LIMIT and STUDIO_LOGIN_COOLOFF_MINUTES must be 1 or more."
    )

# --- Content Security Policy (django-csp) ----------------------------------------------------------------
# The app's own pages load scripts and styles from Studio only. Responses that set their own policy (the
# delivery images: default-src 'none') keep it; django-csp leaves an existing header alone.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # Style *attributes* only: the refine and compare views size their frame with
        # style="--ratio: W / H" from the asset's dimensions. <style> elements stay blocked (style-src).
        "style-src-attr": ["'unsafe-inline'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- i18n ------------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("STUDIO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Files -----------------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STUDIO_STATIC_ROOT", str(VAR_DIR / "static")))
# WhiteNoise serves static files whatever DEBUG says. Outside production it finds them where they are, so
# `make run` needs no collectstatic; production serves what `manage.py collectstatic` put in STATIC_ROOT.
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing one.
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("STUDIO_MEDIA_ROOT", str(VAR_DIR / "media")))

STUDIO_STORAGE = env_str("STUDIO_STORAGE", "local")
if STUDIO_STORAGE == "s3":
    # Credentials come from the usual AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or an
    # instance role; boto3 reads them itself.
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("AWS_S3_REGION_NAME", "") or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
elif STUDIO_STORAGE == "local":
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
else:
    raise ImproperlyConfigured(f"STUDIO_STORAGE must be 'local' or 's3', not {STUDIO_STORAGE!r}.")
STORAGES = {
    "default": _default_storage,
    # Production: hashed names (browsers cache them for a year) and compressed copies, from collectstatic.
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Uploads and imports are bounded; anything bigger is refused before it is read into memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Each uploaded or imported image (generation.asset_imports): its bytes, checked before it is read into
# memory, and width x height x frames, checked from the header before a pixel is decoded.
STUDIO_UPLOAD_MAX_BYTES = env_int("STUDIO_UPLOAD_MAX_BYTES", 30 * 1024 * 1024)
STUDIO_UPLOAD_MAX_PIXELS = env_int("STUDIO_UPLOAD_MAX_PIXELS", 50_000_000)

# --- Celery ----------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
        # How often a worker looks for a message. kombu's default, a second, was most of a short job's wait;
        # a look is one directory listing, so ten a second cost an idle worker next to nothing.
        "polling_interval": env_seconds("STUDIO_QUEUE_POLL_SECONDS", 0.1),
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Fail fast when Redis is down, so a request made then goes to the outbox (generation/jobs.py) at once.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 3}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A message is acknowledged when its job ends, and given back to the broker when the process running it dies,
# so another process runs it (the lease in generation/jobs.py makes the second delivery safe).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# How long the pool waits for a result from a process that died before it calls the job lost and hands the
# message back. Studio keeps no task results (jobs report through the database), so waiting only delays the
# retry; the default is 10 s.
CELERY_WORKER_LOST_WAIT = 1.0
# A job goes on when the worker's broker connection drops: it reports through the database, and a second
# delivery of its message after the broker returns is skipped by the lease.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_ALWAYS_EAGER = env_bool("STUDIO_CELERY_EAGER", False)
# A worker whose broker goes away keeps reconnecting, however long the outage; sending gives up after about
# a second, and the request waits in the outbox instead.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}

# --- Jobs (generation/jobs.py) ---------------------------------------------------------------------------
# A running job's worker refreshes its heartbeat every STUDIO_JOB_HEARTBEAT_SECONDS; a lease whose heartbeat
# is older than STUDIO_JOB_LEASE_SECONDS is dead and its request goes back to the queue, up to
# STUDIO_JOB_MAX_ATTEMPTS attempts. Each worker's sweeper looks for dead leases and unsent requests every
# STUDIO_JOB_SWEEP_SECONDS, and sends again a request still queued STUDIO_JOB_REDISPATCH_SECONDS after its
# message was sent (a broker that lost it).
STUDIO_JOB_HEARTBEAT_SECONDS = env_seconds("STUDIO_JOB_HEARTBEAT_SECONDS", 5.0)
STUDIO_JOB_LEASE_SECONDS = env_seconds("STUDIO_JOB_LEASE_SECONDS", 30.0)
STUDIO_JOB_MAX_ATTEMPTS = env_int("STUDIO_JOB_MAX_ATTEMPTS", 3)
STUDIO_JOB_SWEEP_SECONDS = env_seconds("STUDIO_JOB_SWEEP_SECONDS", 10.0)
STUDIO_JOB_OUTBOX_GRACE_SECONDS = env_seconds("STUDIO_JOB_OUTBOX_GRACE_SECONDS", 5.0)
STUDIO_JOB_REDISPATCH_SECONDS = env_seconds("STUDIO_JOB_REDISPATCH_SECONDS", 15 * 60)
# Time limits, enforced by the worker's own watchdog whatever the pool: past the soft limit a job stops at
# its next step and fails with the reason; past the hard limit (a job stuck inside a library call) it is
# failed and its process killed, and the prefork pool starts a fresh one. Celery's own hard limit stays as
# a backstop behind them.
STUDIO_JOB_SOFT_TIME_LIMIT = env_seconds("STUDIO_TASK_SOFT_TIME_LIMIT", 30 * 60)
STUDIO_JOB_TIME_LIMIT = env_seconds("STUDIO_TASK_TIME_LIMIT", 35 * 60)
CELERY_TASK_TIME_LIMIT = int(STUDIO_JOB_TIME_LIMIT) + 120

# --- Generation ------------------------------------------------------------------------------------------
# Model registry: key -> where the weights are (a hub id, a local diffusers folder or a single
# .safetensors file) and the tasks it supports. Add models here or through STUDIO_MODELS_JSON.
STUDIO_MODEL_DIR = Path(env_str("STUDIO_MODEL_DIR", str(VAR_DIR / "models")))
STUDIO_MODELS = {
    # Trained by Studio itself (manage.py train_default_model) and shipped in models/default: it renders
    # 128 x 128 px on a CPU, and Real-ESRGAN brings that to 512 x 512.
    "default": {
        "label": "Studio default (small, CPU)",
        "source": str(BASE_DIR / "models" / "default"),
        "tasks": ["text2img", "img2img", "inpaint"],
        "notice": "A small model Studio trained itself. It draws one or two everyday objects from its list "
        "(name them in the prompt) as a product shot on a surface or backdrop such as a studio sweep, a "
        "wooden desk, marble, concrete, fabric, grass, sand, a brick wall, a shelf, the sky or a colour, "
        "at 512 x 512 px, in three looks: 3D render (the default), flat illustration and emoji. Its objects "
        "come out soft and simplified. Try “a coffee mug on a wooden desk”. For any other subject, ask an "
        "admin to add a larger model.",
        "default_steps": 25,
        "default_guidance": 5.0,
        "native_size": 128,
        "upscaler": "realesrgan-x4",
        "max_side": 512,
        # The three looks it learned, one per art set: its style menu offers those only.
        "styles": ["none", "3d-render", "flat-illustration", "emoji"],
    },
    # Random weights, built by `manage.py build_tiny_model`: lets the test suite run every part of Studio
    # in seconds. Test-only: it runs when asked for by key, but users are offered it only with
    # STUDIO_TEST_MODELS=1 (the test suite sets it).
    "tiny": {
        "label": "Tiny test pipeline (random weights)",
        "source": str(STUDIO_MODEL_DIR / "tiny"),
        "tasks": ["text2img", "img2img", "inpaint"],
        "notice": "This model has random weights: it makes noise-like images. It exists so every part of "
        "Studio can run without a GPU; configure a real model for real pictures.",
        "default_steps": 8,
        "max_side": 512,
        "test_only": True,
    },
}
_extra_models = env_str("STUDIO_MODELS_JSON", "")
if _extra_models:
    import json

    try:
        STUDIO_MODELS.update(json.loads(_extra_models))
    except (ValueError, TypeError) as error:
        raise ImproperlyConfigured(f"STUDIO_MODELS_JSON is not a JSON object: {error}") from error
STUDIO_TEST_MODELS = env_bool("STUDIO_TEST_MODELS", False)
STUDIO_DEFAULT_MODEL = env_str("STUDIO_DEFAULT_MODEL", "default")
if STUDIO_DEFAULT_MODEL not in STUDIO_MODELS:
    raise ImproperlyConfigured(f"STUDIO_DEFAULT_MODEL {STUDIO_DEFAULT_MODEL!r} is not in the model registry.")
if STUDIO_MODELS[STUDIO_DEFAULT_MODEL].get("test_only") and not STUDIO_TEST_MODELS:
    raise ImproperlyConfigured(
        f"STUDIO_DEFAULT_MODEL {STUDIO_DEFAULT_MODEL!r} is a test-only model; "
        "set STUDIO_TEST_MODELS=1 to offer it."
    )
# Phrases that block a prompt, comma-separated, on top of the prompt rules admins keep in the admin.
STUDIO_PROMPT_BLOCKLIST = env_list("STUDIO_PROMPT_BLOCKLIST", [])
# The largest image a refine operation (outpaint, upscale) may produce.
STUDIO_REFINE_MAX_PIXELS = env_int("STUDIO_REFINE_MAX_PIXELS", 16_777_216)
STUDIO_TORCH_THREADS = env_int("STUDIO_TORCH_THREADS", 0)  # 0: torch's own default
# A generation worker loads the default model as it starts, so the first request does not wait for it.
STUDIO_WORKER_PRELOAD_MODEL = env_bool("STUDIO_WORKER_PRELOAD_MODEL", True)
STUDIO_DEVICE = env_str("STUDIO_DEVICE", "cpu")

# --- Review ----------------------------------------------------------------------------------------------
STUDIO_ALLOW_SELF_APPROVAL = env_bool("STUDIO_ALLOW_SELF_APPROVAL", False)

# --- Usage rights and exports (review/rights.py, delivery/rights.py, delivery/exports.py) -----------------
# Each worker's sweeper looks this often for approved assets whose usage window closed (purging their
# variants and the CDN, and sending asset.rights_expired) or opened again; `manage.py rights_sweep` does one
# round by hand or from cron.
STUDIO_RIGHTS_SWEEP_SECONDS = env_seconds("STUDIO_RIGHTS_SWEEP_SECONDS", 60.0)
# The daily reminder lists approved assets expiring within this many days; the sweeper sends it once a day
# after this local hour (0-23; -1: never, send it from cron with `manage.py rights_reminder` instead).
STUDIO_RIGHTS_REMIND_DAYS = env_int("STUDIO_RIGHTS_REMIND_DAYS", 14)
STUDIO_RIGHTS_REMIND_HOUR = env_int("STUDIO_RIGHTS_REMIND_HOUR", 8)
if not -1 <= STUDIO_RIGHTS_REMIND_HOUR <= 23:
    raise ImproperlyConfigured("STUDIO_RIGHTS_REMIND_HOUR must be an hour from 0 to 23, or -1 (never).")
# A campaign's ZIP export (every approved asset's channel variants) is refused past these: assets, and the
# bytes of their originals (a bound on the work and the file, not an exact size).
STUDIO_EXPORT_MAX_ASSETS = env_int("STUDIO_EXPORT_MAX_ASSETS", 100)
STUDIO_EXPORT_MAX_SOURCE_BYTES = env_int("STUDIO_EXPORT_MAX_SOURCE_BYTES", 1024**3)

# --- Email -----------------------------------------------------------------------------------------------
# Reminders and notifications (studio/notifications.py: decisions, @mentions; each user can turn them off
# on the Settings page) go through Django's email backend: printed on the console unless an SMTP server is
# configured. Notifications are sent by the webhooks worker (studio/tasks.py), with retries.
EMAIL_BACKEND = env_str("STUDIO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("STUDIO_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("STUDIO_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("STUDIO_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_str("STUDIO_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("STUDIO_EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("STUDIO_EMAIL_FROM", "studio@localhost")
# Seconds an SMTP connection may take: bounds each attempt in the worker's thread pool.
EMAIL_TIMEOUT = env_int("STUDIO_EMAIL_TIMEOUT", 10)

# --- Delivery --------------------------------------------------------------------------------------------
# Strict mode: unsigned URLs may only use named presets (t_<name>) or the allow-list below.
STUDIO_DELIVERY_STRICT = env_bool("STUDIO_DELIVERY_STRICT", True)
# Whitespace-separated, since a transformation has commas of its own: "c_limit,w_800 c_fill,w_400,h_300".
STUDIO_DELIVERY_ALLOWED_TRANSFORMATIONS = env_str("STUDIO_DELIVERY_ALLOWED_TRANSFORMATIONS", "").split()
# Signing keys, newest first: the first signs, all verify (rotate by prepending). Derived from the secret key
# when unset, which is fine until you need to rotate one without the other.
STUDIO_DELIVERY_KEYS = env_list("STUDIO_DELIVERY_KEYS", []) or [f"delivery:{SECRET_KEY}"]
# Unversioned URLs are cached briefly (a revoked asset leaves caches without a purge within this); versioned
# ones (v<n>) for a year, as a version never changes.
STUDIO_DELIVERY_MAX_AGE = env_int("STUDIO_DELIVERY_MAX_AGE", 300)
STUDIO_DELIVERY_MAX_WIDTH = env_int("STUDIO_DELIVERY_MAX_WIDTH", 4096)
STUDIO_DELIVERY_MAX_HEIGHT = env_int("STUDIO_DELIVERY_MAX_HEIGHT", 4096)
STUDIO_DELIVERY_MAX_PIXELS = env_int("STUDIO_DELIVERY_MAX_PIXELS", 16_777_216)
STUDIO_DELIVERY_MAX_SOURCE_PIXELS = env_int("STUDIO_DELIVERY_MAX_SOURCE_PIXELS", 100_000_000)
# Renders in flight per process; a request over it gets 503 with Retry-After instead of queueing up.
STUDIO_DELIVERY_MAX_RENDERS = env_int("STUDIO_DELIVERY_MAX_RENDERS", 4)
# Seconds a request may wait for a free render slot before that 503.
STUDIO_DELIVERY_RENDER_WAIT = env_int("STUDIO_DELIVERY_RENDER_WAIT", 3)
# Renders of new variants (cache misses) per client address, as "<count>/<second|minute|hour|day>"; over it
# the client gets 429 with Retry-After. Cached variants are never limited. 0 or empty turns it off. Counted
# in CACHES (below): several web processes need a shared one. Behind a proxy or CDN, set
# STUDIO_TRUSTED_PROXY_COUNT so the client, not the proxy, is counted.
STUDIO_DELIVERY_RENDER_RATE = env_rate("STUDIO_DELIVERY_RENDER_RATE", "60/minute")
# Caps on the variant store: variants kept per asset, and bytes kept in all. Past either, the least recently
# used variants are deleted (they render again when next asked for). 0 turns a cap off.
STUDIO_DELIVERY_MAX_VARIANTS_PER_ASSET = env_int("STUDIO_DELIVERY_MAX_VARIANTS_PER_ASSET", 50)
STUDIO_DELIVERY_MAX_STORE_BYTES = env_int("STUDIO_DELIVERY_MAX_STORE_BYTES", 5 * 1024**3)
if STUDIO_DELIVERY_MAX_VARIANTS_PER_ASSET < 0 or STUDIO_DELIVERY_MAX_STORE_BYTES < 0:
    raise ImproperlyConfigured(
        "STUDIO_DELIVERY_MAX_VARIANTS_PER_ASSET and STUDIO_DELIVERY_MAX_STORE_BYTES must be 0 (no cap) "
        "or more."
    )
STUDIO_DELIVERY_IMMUTABLE_MAX_AGE = 365 * 24 * 3600
# Seconds each web process remembers what a delivery path resolved to, so a cached hit skips the lookups
# (delivery/services.py HitCache); 0 turns it off. Revocation stays immediate whatever it is.
STUDIO_DELIVERY_HIT_CACHE_SECONDS = env_int("STUDIO_DELIVERY_HIT_CACHE_SECONDS", 5)
# Unversioned URLs may be served stale this long while a cache revalidates them in the background.
STUDIO_DELIVERY_STALE_WHILE_REVALIDATE = env_int("STUDIO_DELIVERY_STALE_WHILE_REVALIDATE", 60)
# Purging revoked assets from the caches in front (delivery/purge.py): "" (none), "http" (PURGE to nginx or
# Varnish at STUDIO_CDN_PURGE_URL), "cloudflare" (zone id and API token), "fastly" (service id and API
# token), "cloudfront" (distribution id; AWS credentials as for S3). STUDIO_CDN_PURGE_API overrides the
# provider's API address (for tests, or a proxy).
STUDIO_CDN_PURGE = env_str("STUDIO_CDN_PURGE", "")
STUDIO_CDN_PURGE_URL = env_str("STUDIO_CDN_PURGE_URL", "")
STUDIO_CDN_PURGE_ZONE = env_str("STUDIO_CDN_PURGE_ZONE", "")
STUDIO_CDN_PURGE_TOKEN = env_str("STUDIO_CDN_PURGE_TOKEN", "")
STUDIO_CDN_PURGE_API = env_str("STUDIO_CDN_PURGE_API", "")
STUDIO_CDN_PURGE_SOFT = env_bool("STUDIO_CDN_PURGE_SOFT", False)

# --- JSON API (studio/api.py and each app's api.py) --------------------------------------------------------
# django-ninja's app: its docs page (/api/v1/docs) then uses the Swagger UI files ninja ships, served by
# Studio itself, instead of a CDN (which the CSP would block, and a self-hosted Studio may not reach).
INSTALLED_APPS += ["ninja"]
# Requests per token (per user for the login session) as "<count>/<second|minute|hour|day>"; over it the
# API answers 429 with Retry-After. 0 or empty turns it off. Counted in CACHES, like the render rate.
STUDIO_API_RATE = env_rate("STUDIO_API_RATE", "120/minute")
# How long the first response to a POST with an Idempotency-Key is kept and replayed to retries.
STUDIO_API_IDEMPOTENCY_SECONDS = env_int("STUDIO_API_IDEMPOTENCY_SECONDS", 24 * 3600)

# --- Webhooks (studio/webhooks/) ----------------------------------------------------------------------------
# Where people and sites reach Studio: the links in webhook payloads (asset pages, delivery URLs) start here.
# In production it defaults to https:// and the first of DJANGO_ALLOWED_HOSTS.
STUDIO_SITE_URL = env_str(
    "STUDIO_SITE_URL", f"https://{ALLOWED_HOSTS[0].lstrip('.')}" if PRODUCTION else "http://127.0.0.1:8000"
).rstrip("/")
# Receivers on private, loopback, link-local, multicast or reserved addresses are refused (at registration and
# at every attempt, after resolving the name) unless this is on: for local development and the tests only.
STUDIO_WEBHOOKS_ALLOW_PRIVATE = env_bool("STUDIO_WEBHOOKS_ALLOW_PRIVATE", False)
# One deadline for a whole attempt (connect, send, answer), after which it counts as failed.
STUDIO_WEBHOOKS_TIMEOUT = env_seconds("STUDIO_WEBHOOKS_TIMEOUT", 5.0)
# Seconds between a failed attempt and the next, comma-separated; the last one repeats until
# STUDIO_WEBHOOKS_RETRY_FOR seconds after the event, when the message fails and its endpoint is marked
# failing. The default: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, then every 8 h, for a day.
_retry_default = ["5", "30", "120", "600", "1800", "3600", "7200", "14400", "28800"]
try:
    STUDIO_WEBHOOKS_RETRY_SCHEDULE = [
        float(step) for step in env_list("STUDIO_WEBHOOKS_RETRY_SCHEDULE", _retry_default)
    ] or [5.0]
except ValueError as error:
    raise ImproperlyConfigured(f"STUDIO_WEBHOOKS_RETRY_SCHEDULE: seconds, comma-separated: {error}") from None
if min(STUDIO_WEBHOOKS_RETRY_SCHEDULE) < 0:
    raise ImproperlyConfigured("STUDIO_WEBHOOKS_RETRY_SCHEDULE: delays are 0 seconds or more.")
STUDIO_WEBHOOKS_RETRY_FOR = env_seconds("STUDIO_WEBHOOKS_RETRY_FOR", 24 * 3600)
# The webhooks worker's sweeper queues due retries this often, and queues again a due message that no worker
# took within STUDIO_WEBHOOKS_REQUEUE_SECONDS (a broker that lost it, a worker that died mid-attempt).
STUDIO_WEBHOOKS_SWEEP_SECONDS = env_seconds("STUDIO_WEBHOOKS_SWEEP_SECONDS", 2.0)
STUDIO_WEBHOOKS_REQUEUE_SECONDS = env_seconds("STUDIO_WEBHOOKS_REQUEUE_SECONDS", 60.0)
# Threads of the webhooks worker that `manage.py run_studio` starts (each holds one attempt at a time).
STUDIO_WEBHOOKS_CONCURRENCY = env_int("STUDIO_WEBHOOKS_CONCURRENCY", 4)

# --- Content credentials (C2PA) -----------------------------------------------------------------------------
# Every image Studio makes, every upload that arrives with credentials and every delivered variant carries a
# signed C2PA manifest (generation/credentials.py). 0 turns it off (nothing is signed; existing files keep
# theirs, and cached variants stay as they were rendered until they are purged).
STUDIO_C2PA = env_bool("STUDIO_C2PA", True)
# The signer: a certificate chain (signer first) and its private key, each a PEM file path or the PEM itself.
# With neither, Studio makes a development chain once under STUDIO_C2PA_DIR and the asset page says its
# credentials are not from a trusted signer.
STUDIO_C2PA_CERT = env_str("STUDIO_C2PA_CERT", "")
STUDIO_C2PA_KEY = env_str("STUDIO_C2PA_KEY", "")
if bool(STUDIO_C2PA_CERT) != bool(STUDIO_C2PA_KEY):
    raise ImproperlyConfigured("Set both STUDIO_C2PA_CERT and STUDIO_C2PA_KEY, or neither.")
STUDIO_C2PA_DIR = VAR_DIR / "c2pa"
# An RFC 3161 timestamp authority; empty (the default) signs without the network.
STUDIO_C2PA_TSA_URL = env_str("STUDIO_C2PA_TSA_URL", "")
# Root certificates (a PEM file path or PEM) whose signers the asset page calls trusted (e.g. the C2PA trust
# list); without them every signer, Studio's own included, reads as not trusted.
STUDIO_C2PA_TRUST_ANCHORS = env_str("STUDIO_C2PA_TRUST_ANCHORS", "")
for _name, _value in (
    ("STUDIO_C2PA_CERT", STUDIO_C2PA_CERT),
    ("STUDIO_C2PA_KEY", STUDIO_C2PA_KEY),
    ("STUDIO_C2PA_TRUST_ANCHORS", STUDIO_C2PA_TRUST_ANCHORS),
):
    if _value and not _value.lstrip().startswith("-----BEGIN") and not Path(_value).is_file():
        raise ImproperlyConfigured(f"{_name} is neither PEM nor the path of a readable file.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("STUDIO_LOG_LEVEL", "INFO")},
    # axes.apps announces itself on every start; failed logins (axes.handlers) still log as warnings.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes.apps": {"level": "WARNING"}},
}
