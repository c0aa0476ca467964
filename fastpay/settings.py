"""FastPay settings, read from environment variables and validated at start-up.

Embedded defaults need no service: SQLite, local-memory cache, in-memory channel layer and
Celery in eager mode. Production sets DATABASE_URL (PostgreSQL), REDIS_URL (cache, channel
layer, shared rate limits) and CELERY_BROKER_URL. Every variable is listed in the README's
configuration table; a wrong value stops start-up with a message naming the variable.
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

from fastpay.config import Config, redis_url_shifted

BASE_DIR = Path(__file__).resolve().parent.parent
config = Config()

DEBUG = config.bool("DEBUG", default=False)
SECRET_KEY = config.secret_key("SECRET_KEY", debug=DEBUG)
ALLOWED_HOSTS = config.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = config.list("CSRF_TRUSTED_ORIGINS", default=[])
VAR_DIR = Path(config.str("FASTPAY_VAR_DIR", default=str(BASE_DIR / "var")))

DATABASES = {"default": config.database("DATABASE_URL", default=f"sqlite:///{VAR_DIR}/db.sqlite3")}
REDIS_URL = config.redis_url("REDIS_URL", default="")
# The test suite in parallel (pytest-xdist): each worker has its own test database, and
# gets its own Redis database too, counting down from REDIS_URL's (the suite clears the
# cache before every test, and channel groups and rate-limit buckets are named by user id,
# which the workers' databases share). Processes a test starts inherit the worker's name.
if REDIS_URL and os.environ.get("PYTEST_XDIST_WORKER", "").startswith("gw"):
    REDIS_URL = redis_url_shifted(REDIS_URL, int(os.environ["PYTEST_XDIST_WORKER"][2:]))
CELERY_BROKER_URL = config.broker_url("CELERY_BROKER_URL", default="")

# Payments and API knobs.
FASTPAY_BATCH_MAX_ITEMS = config.positive_int("FASTPAY_BATCH_MAX_ITEMS", default=500)
FASTPAY_IDEMPOTENCY_TTL_HOURS = config.positive_int("FASTPAY_IDEMPOTENCY_TTL_HOURS", default=72)
# How long a keyed request holds its key in flight before a retry may take it over (it
# crashed): above the longest request (committee calls: FASTPAY_COMMITTEE_TIMEOUT_S each).
FASTPAY_IDEMPOTENCY_LEASE_S = config.positive_int("FASTPAY_IDEMPOTENCY_LEASE_S", default=120)
FASTPAY_LEDGER_CHECK_MINUTES = config.positive_int("FASTPAY_LEDGER_CHECK_MINUTES", default=5)
FASTPAY_THROTTLE_USER = config.rate("FASTPAY_THROTTLE_USER", default="6000/min")
FASTPAY_THROTTLE_ANON = config.rate("FASTPAY_THROTTLE_ANON", default="60/min")
FASTPAY_THROTTLE_SIGNUP = config.rate("FASTPAY_THROTTLE_SIGNUP", default="20/hour")
FASTPAY_THROTTLE_LOGIN = config.rate("FASTPAY_THROTTLE_LOGIN", default="20/min")
# Proxies whose X-Forwarded-For / -Proto we believe (CIDRs); none by default: the TCP peer
# is the client (fastpay/client_ip.py). /metrics: allow-listed networks or a bearer token.
FASTPAY_TRUSTED_PROXIES = config.cidr_list("FASTPAY_TRUSTED_PROXIES", default=[])
FASTPAY_METRICS_ALLOW = config.cidr_list("FASTPAY_METRICS_ALLOW", default=["127.0.0.1", "::1"])
FASTPAY_METRICS_TOKEN = config.str("FASTPAY_METRICS_TOKEN", default="")
FASTPAY_REVIEW_ABOVE_TOKENS = config.positive_int("FASTPAY_REVIEW_ABOVE_TOKENS", default=10_000)
FASTPAY_RISK_ASSESSOR = config.dotted_path(
    "FASTPAY_RISK_ASSESSOR", default="fraud.hooks.payment_assess"
)
# The batch form of the assessor (empty: the assessor's own `assess_many`, else one by one).
FASTPAY_RISK_BATCH_ASSESSOR = config.dotted_path("FASTPAY_RISK_BATCH_ASSESSOR", default="")
FASTPAY_RISK_RECORDER = config.str("FASTPAY_RISK_RECORDER", default="fraud.hooks.payments_record")
# Shared token buckets (fraud rate limit) live under this key prefix in REDIS_URL's database.
FASTPAY_RATE_LIMIT_PREFIX = config.str("FASTPAY_RATE_LIMIT_PREFIX", default="fastpay:rl")
# The authority committee and the chain. Paths are files the operator provisions;
# keys in them are sealed (fastpay/keyvault.py) under FASTPAY_KEK.
FASTPAY_KEK = config.kek("FASTPAY_KEK")
FASTPAY_COMMITTEE_FILE = config.str(
    "FASTPAY_COMMITTEE_FILE", default=str(VAR_DIR / "committee.json")
)
FASTPAY_PLATFORM_KEY_FILE = config.str(
    "FASTPAY_PLATFORM_KEY_FILE", default=str(VAR_DIR / "platform-key.json")
)
FASTPAY_CHAIN_SENDER_KEY_FILE = config.str(
    "FASTPAY_CHAIN_SENDER_KEY_FILE", default=str(VAR_DIR / "chain-sender-key.json")
)
# The platform's BIP-39 seed (deposit addresses, hot wallet), sealed: wallet_init writes it.
FASTPAY_HD_SEED_FILE = config.str("FASTPAY_HD_SEED_FILE", default=str(VAR_DIR / "hd-seed.json"))
# withdrawals to an address listed here (one per line, # comments) are refused; "" = no list
FASTPAY_SANCTIONS_FILE = config.str("FASTPAY_SANCTIONS_FILE", default="")
FASTPAY_CHAIN_RPC_URL = config.http_url("FASTPAY_CHAIN_RPC_URL", default="http://127.0.0.1:8545")
# an outgoing transaction not mined this long (seconds) is replaced with fees +12.5%
# (wallets/chain/sender.py; at the chain's fee cap: an alert and a wait)
FASTPAY_CHAIN_TX_STUCK_S = config.positive_int("FASTPAY_CHAIN_TX_STUCK_S", default=120)
FASTPAY_DEPLOYMENT_JSON = config.str(
    "FASTPAY_DEPLOYMENT_JSON", default=str(VAR_DIR / "deployment.json")
)
FASTPAY_COMMITTEE_TIMEOUT_S = config.positive_int("FASTPAY_COMMITTEE_TIMEOUT_S", default=5)
# The epoch schedule (authorities/gateway.py): from CommitteeConsensus/AuthorityManager when
# on (default: both FASTPAY_DEPLOYMENT_JSON and FASTPAY_CHAIN_RPC_URL set in the
# environment), else from FASTPAY_COMMITTEE_FILE; read again every POLL_S seconds (the
# file: when its mtime changed).
FASTPAY_COMMITTEE_FROM_CHAIN = config.bool(
    "FASTPAY_COMMITTEE_FROM_CHAIN",
    default=bool(config._raw("FASTPAY_DEPLOYMENT_JSON") and config._raw("FASTPAY_CHAIN_RPC_URL")),
)
FASTPAY_COMMITTEE_POLL_S = config.positive_int("FASTPAY_COMMITTEE_POLL_S", default=5)
# FUND (offline/services/transfers.py): the platform's FastPay accounts that FUNDs are
# spread over (derived from the platform key: docs/offline.md), how many failed attempts or
# how old (seconds) a FUND gets before it is STUCK (alert, offline.fund_stuck; an operator
# retries or voids it), and how often an account's sequence is compared with the committee's.
FASTPAY_PLATFORM_ACCOUNTS = config.positive_int("FASTPAY_PLATFORM_ACCOUNTS", default=4)
FASTPAY_FUND_MAX_ATTEMPTS = config.positive_int("FASTPAY_FUND_MAX_ATTEMPTS", default=20)
FASTPAY_FUND_MAX_AGE_S = config.positive_int("FASTPAY_FUND_MAX_AGE_S", default=6 * 3600)
FASTPAY_SEQUENCE_CHECK_S = config.positive_int("FASTPAY_SEQUENCE_CHECK_S", default=300)
# Offline vouchers (docs/offline.md), read through offline.conf. Amounts in ledger units
# (6 decimals: 1 token = 1_000_000); durations in seconds.
FASTPAY_OFFLINE_GRACE_S = config.non_negative_int("FASTPAY_OFFLINE_GRACE_S", default=3 * 86400)
# Collateral held from the payer's online balance per voucher, in percent of its value, for
# verification tiers 0, 1, 2 ("100,100,50"); how long after window + grace it is released,
# and how long after window + grace wallets sweep (docs/offline.md "Limits").
_collateral = config.list("FASTPAY_OFFLINE_COLLATERAL_PCT_BY_TIER", default=["100", "100", "50"])
if len(_collateral) != 3 or not all(
    p.isascii() and p.isdigit() and int(p) <= 100 for p in _collateral
):
    config.problems.append(
        f"FASTPAY_OFFLINE_COLLATERAL_PCT_BY_TIER={','.join(_collateral)!r}: expected three "
        "whole percentages 0..100 (tiers 0, 1, 2), e.g. 100,100,50"
    )
    _collateral = ["100", "100", "50"]
FASTPAY_OFFLINE_COLLATERAL_PCT_BY_TIER = {tier: int(p) for tier, p in enumerate(_collateral)}
FASTPAY_OFFLINE_COLLATERAL_RELEASE_MARGIN_S = config.non_negative_int(
    "FASTPAY_OFFLINE_COLLATERAL_RELEASE_MARGIN_S", default=3600
)
FASTPAY_OFFLINE_SWEEP_MARGIN_S = config.non_negative_int(
    "FASTPAY_OFFLINE_SWEEP_MARGIN_S", default=3600
)
FASTPAY_OFFLINE_MAX_VALIDITY_S = config.positive_int(
    "FASTPAY_OFFLINE_MAX_VALIDITY_S", default=7 * 86400
)
FASTPAY_OFFLINE_MAX_OUTSTANDING_UNITS = config.positive_int(
    "FASTPAY_OFFLINE_MAX_OUTSTANDING_UNITS", default=500_000_000
)
FASTPAY_OFFLINE_MAX_PER_VOUCHER_UNITS = config.positive_int(
    "FASTPAY_OFFLINE_MAX_PER_VOUCHER_UNITS", default=100_000_000
)
if FASTPAY_OFFLINE_MAX_PER_VOUCHER_UNITS > FASTPAY_OFFLINE_MAX_OUTSTANDING_UNITS:
    config.problems.append(
        "FASTPAY_OFFLINE_MAX_PER_VOUCHER_UNITS: must not exceed "
        "FASTPAY_OFFLINE_MAX_OUTSTANDING_UNITS (one voucher above the total limit)"
    )
FASTPAY_OFFLINE_MAX_VOUCHERS_PER_DAY = config.positive_int(
    "FASTPAY_OFFLINE_MAX_VOUCHERS_PER_DAY", default=20
)
FASTPAY_OFFLINE_RISK_ASSESSOR = config.dotted_path(
    "FASTPAY_OFFLINE_RISK_ASSESSOR", default="offline.risk.fraud_assess"
)
FASTPAY_OFFLINE_SETTLE_BATCH = config.positive_int("FASTPAY_OFFLINE_SETTLE_BATCH", default=1000)
FASTPAY_OFFLINE_SETTLE_CHUNK = config.positive_int("FASTPAY_OFFLINE_SETTLE_CHUNK", default=1000)
# PENDING redemptions the committee could not settle: exponential backoff with jitter from
# BASE_S up to MAX_S; after MAX_ATTEMPTS FLAGGED settlement_failed for an admin.
FASTPAY_OFFLINE_SETTLE_RETRY_BASE_S = config.positive_int(
    "FASTPAY_OFFLINE_SETTLE_RETRY_BASE_S", default=30
)
FASTPAY_OFFLINE_SETTLE_RETRY_MAX_S = config.positive_int(
    "FASTPAY_OFFLINE_SETTLE_RETRY_MAX_S", default=3600
)
FASTPAY_OFFLINE_SETTLE_MAX_ATTEMPTS = config.positive_int(
    "FASTPAY_OFFLINE_SETTLE_MAX_ATTEMPTS", default=100
)
FASTPAY_OFFLINE_AUTO_COVER_MAX_UNITS = config.non_negative_int(
    "FASTPAY_OFFLINE_AUTO_COVER_MAX_UNITS", default=100_000_000
)
# Equivocation evidence goes to AuthorityManager by itself (off: an operator submits it
# from admin) and lagging authorities are caught up every N minutes (docs/authorities.md).
FASTPAY_SLASHING_AUTO = config.bool("FASTPAY_SLASHING_AUTO", default=True)
FASTPAY_CATCH_UP_MINUTES = config.positive_int("FASTPAY_CATCH_UP_MINUTES", default=5)
# Events out (docs/events.md, docs/webhooks.md): outbox rows numbered per dispatch
# transaction; webhook timeouts (seconds), parallel POSTs per worker, how long an
# attempt holds its delivery (a killed worker's is retried after it), how long a rotated
# secret keeps signing, how long an endpoint may fail before it is disabled. Private
# and loopback destinations are refused unless ALLOW_PRIVATE (development, tests).
FASTPAY_EVENTS_DISPATCH_BATCH = config.positive_int("FASTPAY_EVENTS_DISPATCH_BATCH", default=500)
FASTPAY_WEBHOOKS_ALLOW_PRIVATE = config.bool("FASTPAY_WEBHOOKS_ALLOW_PRIVATE", default=False)
FASTPAY_WEBHOOKS_CONNECT_TIMEOUT_S = config.positive_int(
    "FASTPAY_WEBHOOKS_CONNECT_TIMEOUT_S", default=5
)
FASTPAY_WEBHOOKS_READ_TIMEOUT_S = config.positive_int("FASTPAY_WEBHOOKS_READ_TIMEOUT_S", default=15)
FASTPAY_WEBHOOKS_CONCURRENCY = config.positive_int("FASTPAY_WEBHOOKS_CONCURRENCY", default=32)
FASTPAY_WEBHOOKS_LEASE_S = config.positive_int("FASTPAY_WEBHOOKS_LEASE_S", default=60)
FASTPAY_WEBHOOKS_ROTATION_GRACE_S = config.non_negative_int(
    "FASTPAY_WEBHOOKS_ROTATION_GRACE_S", default=86400
)
FASTPAY_WEBHOOKS_DISABLE_AFTER_S = config.positive_int(
    "FASTPAY_WEBHOOKS_DISABLE_AFTER_S", default=3 * 86400
)
# Live streams (docs/streams.md): ticket lifetime; the Origins a browser may open a stream
# from (default: ALLOWED_HOSTS); per connection, a ping every HEARTBEAT_S seconds answered
# within PONG_TIMEOUT_S, at most WINDOW_BYTES sent and not acknowledged, QUEUE live
# messages waiting (beyond: read back from the database); the staff status re-read every
# STAFF_POLL_S; LAYER_CAPACITY messages per channel in the channel layer.
FASTPAY_STREAM_TICKET_TTL_S = config.positive_int("FASTPAY_STREAM_TICKET_TTL_S", default=60)
FASTPAY_STREAM_ORIGINS = config.list("FASTPAY_STREAM_ORIGINS", default=[])
FASTPAY_STREAM_HEARTBEAT_S = config.positive_int("FASTPAY_STREAM_HEARTBEAT_S", default=15)
FASTPAY_STREAM_PONG_TIMEOUT_S = config.positive_int("FASTPAY_STREAM_PONG_TIMEOUT_S", default=30)
FASTPAY_STREAM_WINDOW_BYTES = config.positive_int("FASTPAY_STREAM_WINDOW_BYTES", default=1 << 20)
FASTPAY_STREAM_QUEUE = config.positive_int("FASTPAY_STREAM_QUEUE", default=1000)
FASTPAY_STREAM_STAFF_POLL_S = config.positive_int("FASTPAY_STREAM_STAFF_POLL_S", default=10)
FASTPAY_STREAM_LAYER_CAPACITY = config.positive_int("FASTPAY_STREAM_LAYER_CAPACITY", default=1000)
# Exchange rates (docs/rates.md): providers asked in this order (coingecko, kraken,
# coinbase, binance), FASTPAY_RATE_URLS "name=url,..." points one elsewhere (a proxy, the
# tests' local servers); SOURCES quotes wanted, MIN_SOURCES needed after outliers beyond
# MAX_DEVIATION_BPS of the median are dropped; a quote older than MAX_AGE_S is never used;
# a rate is served from the cache for CACHE_S; PAIRS are kept warm by beat. The peg monitor
# pauses fiat pricing with a PEGGED token beyond PEG_PAUSE_BPS off 1 USD, resumes within
# PEG_RESUME_BPS.
FASTPAY_RATE_PROVIDERS = config.list(
    "FASTPAY_RATE_PROVIDERS", default=["coingecko", "kraken", "coinbase", "binance"]
)
FASTPAY_RATE_URLS = dict(
    item.partition("=")[::2] for item in config.list("FASTPAY_RATE_URLS", default=[])
)
for _name in [*FASTPAY_RATE_PROVIDERS, *FASTPAY_RATE_URLS]:
    if _name not in {"coingecko", "kraken", "coinbase", "binance"}:
        config.problems.append(
            f"FASTPAY_RATE_PROVIDERS/URLS: unknown provider {_name!r} "
            "(coingecko, kraken, coinbase, binance)"
        )
FASTPAY_RATE_TIMEOUT_MS = config.positive_int("FASTPAY_RATE_TIMEOUT_MS", default=2000)
FASTPAY_RATE_SOURCES = config.positive_int("FASTPAY_RATE_SOURCES", default=3)
FASTPAY_RATE_MIN_SOURCES = config.positive_int("FASTPAY_RATE_MIN_SOURCES", default=2)
FASTPAY_RATE_MAX_DEVIATION_BPS = config.positive_int("FASTPAY_RATE_MAX_DEVIATION_BPS", default=100)
FASTPAY_RATE_MAX_AGE_S = config.positive_int("FASTPAY_RATE_MAX_AGE_S", default=300)
FASTPAY_RATE_CACHE_S = config.positive_int("FASTPAY_RATE_CACHE_S", default=30)
FASTPAY_RATE_BASES = [
    b.upper() for b in config.list("FASTPAY_RATE_BASES", default=["USDT", "USDC"])
]
FASTPAY_RATE_QUOTES = [
    q.upper()
    for q in config.list("FASTPAY_RATE_QUOTES", default=["USD", "EUR", "GBP", "USDT", "USDC"])
]
FASTPAY_RATE_PAIRS = config.list(
    "FASTPAY_RATE_PAIRS", default=["USDT/USD", "USDC/USD", "USDT/EUR", "USDC/EUR"]
)
FASTPAY_PEGGED = [t.upper() for t in config.list("FASTPAY_PEGGED", default=["USDT", "USDC"])]
FASTPAY_PEG_PAUSE_BPS = config.positive_int("FASTPAY_PEG_PAUSE_BPS", default=200)
FASTPAY_PEG_RESUME_BPS = config.positive_int("FASTPAY_PEG_RESUME_BPS", default=100)
# Notifications (docs/notifications.md): email through Django's mail framework, SMTP when
# EMAIL_HOST is set, else the console (the embedded default); SMS through a pluggable
# backend (notifications/sms.py), the console by default.
EMAIL_HOST = config.str("EMAIL_HOST", default="")
EMAIL_BACKEND = config.dotted_path(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = config.positive_int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = config.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = config.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = config.bool("EMAIL_USE_TLS", default=bool(EMAIL_HOST))
EMAIL_USE_SSL = config.bool("EMAIL_USE_SSL", default=False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    config.problems.append("EMAIL_USE_TLS, EMAIL_USE_SSL: set one of them, not both")
EMAIL_TIMEOUT = config.positive_int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = config.str("DEFAULT_FROM_EMAIL", default="FastPay <noreply@localhost>")
FASTPAY_SMS_BACKEND = config.dotted_path(
    "FASTPAY_SMS_BACKEND", default="notifications.sms.ConsoleSmsBackend"
)
LOG_LEVEL = config.choice(
    "LOG_LEVEL", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
)

# Transport security, on whenever DEBUG is off (docs/operations.md). TLS ends at the proxy,
# which says so in X-Forwarded-Proto; fastpay.security drops that header unless the peer
# is a trusted proxy. Probes and scrapes may stay plain HTTP inside the cluster.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = config.bool("FASTPAY_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = (
    0 if DEBUG else config.positive_int("FASTPAY_HSTS_SECONDS", default=31_536_000)
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# One policy for every page; what the admin and Swagger UI (assets served locally by
# whitenoise, no CDN) need: no inline or foreign script, inline styles for the admin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

config.raise_if_invalid()

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_prometheus",
    "channels",
    "fastpay",
    "wallets",
    "fraud",
    "authorities",
    "offline",
    "settlement",
    "merchants",
    "notifications",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "fastpay.security.UntrustedProxyHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "fastpay.security.ApiNoStoreMiddleware",
    # Admin and API-docs assets straight from the app servers (no separate file server).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # /api/: 413 for big bodies, 400 for NUL in query/headers, routed without the trailing
    # slash; before CommonMiddleware so APPEND_SLASH never redirects an API POST.
    "fastpay.api_middleware.ApiRequestMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # a malformed /admin/<app>/<model>/<id>/ is a 404 for every ModelAdmin (fastpay/admin_urls.py)
    "fastpay.admin_urls.AdminObjectIdMiddleware",
    # the request's client address for the audit log (fastpay/client_ip.py)
    "fastpay.client_ip.ClientIpMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "fastpay.urls"
# Django's default, stated: a 500-item batch with full metadata fits; more answers 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
ASGI_APPLICATION = "fastpay.asgi.application"
WSGI_APPLICATION = "fastpay.wsgi.application"
AUTH_USER_MODEL = "wallets.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(config.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# In DEBUG, serve straight from the apps' static folders (no collectstatic needed).
WHITENOISE_USE_FINDERS = DEBUG

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": FASTPAY_STREAM_LAYER_CAPACITY},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": FASTPAY_STREAM_LAYER_CAPACITY},
        }
    }

# Celery: eager (in-process) unless a broker is configured.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
# Without a broker there is no `celery beat` either: the web process runs the schedule
# below itself (fastpay/beat.py); off under pytest, where tests call the tasks.
FASTPAY_EMBEDDED_BEAT = config.bool(
    "FASTPAY_EMBEDDED_BEAT", default=CELERY_TASK_ALWAYS_EAGER and "pytest" not in sys.modules
)
CELERY_BEAT_SCHEDULE = {
    # escrow holds past their deadline (docs/escrow.md)
    "holds-expire": {"task": "wallets.tasks.holds_expire_task", "schedule": timedelta(minutes=1)},
    # exchange rates kept warm, and the stablecoin peg monitor (docs/rates.md)
    "rates-refresh": {
        "task": "merchants.tasks.rates_refresh_task",
        "schedule": timedelta(seconds=FASTPAY_RATE_CACHE_S),
    },
    "peg-check": {"task": "merchants.tasks.peg_check_task", "schedule": timedelta(minutes=1)},
    # invoices past their expiry (docs/invoices.md)
    "invoices-expire": {
        "task": "merchants.tasks.invoices_expire_task",
        "schedule": timedelta(seconds=30),
    },
    # outbox rows an on-commit dispatch missed, webhook retries and expired leases
    "events-sweep": {
        "task": "notifications.tasks.events_sweep_task",
        "schedule": timedelta(seconds=15),
    },
    "ledger-check": {
        "task": "wallets.tasks.ledger_check_task",
        "schedule": timedelta(minutes=FASTPAY_LEDGER_CHECK_MINUTES),
    },
    # CUSTODY against the chain per token at the watcher's block (docs/deposits.md
    # "Reconciliation"); drift: the custody.drift event, an ERROR log and the metric
    "custody-reconcile": {
        "task": "wallets.tasks.custody_reconcile_task",
        "schedule": timedelta(days=1),
    },
    "committee-health": {
        "task": "authorities.tasks.committee_health_task",
        "schedule": timedelta(minutes=1),
    },
    # lagging authorities brought to the committee's state on every account it knows, and
    # equivocation evidence not submitted yet (chain down, or a lost task) submitted
    "committee-catch-up": {
        "task": "authorities.tasks.committee_catch_up_task",
        "schedule": timedelta(minutes=FASTPAY_CATCH_UP_MINUTES),
    },
    # the epoch schedule (chain or committee file) followed without a restart
    "committee-schedule": {
        "task": "authorities.tasks.committee_schedule_task",
        "schedule": timedelta(seconds=FASTPAY_COMMITTEE_POLL_S),
    },
    "evidence-submit": {
        "task": "authorities.tasks.evidence_submit_pending_task",
        "schedule": timedelta(minutes=1),
    },
    # the block watcher (docs/deposits.md "The watcher"): deposits seen and credited;
    # `manage.py chain_watch` follows faster, and this then finds its lease taken
    "chain-watch": {
        "task": "wallets.tasks.chain_watch_task",
        "schedule": timedelta(seconds=5),
    },
    # claims on users (offline covers): take what their balances allow since the last run
    "claims-recover": {
        "task": "wallets.tasks.claims_recover_task",
        "schedule": timedelta(hours=1),
    },
    "idempotency-purge": {
        "task": "fastpay.tasks.idempotency_purge_task",
        "schedule": timedelta(hours=1),
    },
    # redemptions to the chain in committee batches (docs/settlement.md)
    "settlement-batches": {
        "task": "settlement.batches.tasks.settlement_batches_task",
        "schedule": timedelta(minutes=1),
    },
    # merchant payouts (docs/withdrawals.md "Merchant payouts"): schedules due, then batches
    "payouts-schedules": {
        "task": "settlement.payouts.tasks.payouts_schedules_task",
        "schedule": timedelta(minutes=5),
    },
    "payouts-pay": {"task": "settlement.payouts.tasks.payouts_pay_task", "schedule": 60.0},
    # offline vouchers (docs/offline.md): settle what is pending (retries when the
    # committee was down), expire vouchers past window + grace and remind their payers
    "offline-settle": {
        "task": "offline.tasks.redemptions_settle_task",
        "schedule": timedelta(minutes=1),
    },
    "offline-expire": {
        "task": "offline.tasks.vouchers_expire_task",
        "schedule": timedelta(hours=1),
    },
    # approved, unlocked withdrawals paid from the hot wallet (docs/withdrawals.md)
    "settlement-pay": {
        "task": "settlement.tasks.withdrawals_pay_task",
        "schedule": timedelta(seconds=15),
    },
    "offline-transfers-retry": {
        # FUND transfers left PENDING by a committee outage, each when its backoff is over
        "task": "offline.tasks.offline_transfers_retry_task",
        "schedule": timedelta(minutes=1),
    },
    # outgoing chain transactions (docs/deposits.md "Sending"): broadcast what was never
    # sent, receipts to depth, stuck ones replaced; then deposit addresses swept
    "chain-sender-follow": {
        "task": "wallets.tasks.chain_sender_follow_task",
        "schedule": timedelta(seconds=10),
    },
    "chain-sweeps": {
        "task": "wallets.tasks.chain_sweeps_task",
        "schedule": timedelta(minutes=1),
    },
    # hot wallet levels: refills proposed to the cold Safe, excess sent to it, signed Safe
    # transactions executed (docs/treasury.md)
    "settlement-treasury": {
        "task": "settlement.treasury.tasks.treasury_tick_task",
        "schedule": timedelta(minutes=1),
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "fastpay.api_auth.ApiKeyAuthentication",
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["fastpay.api_auth.IsApprovedUser"],
    "DEFAULT_THROTTLE_CLASSES": [
        "fraud.throttling.PaymentRateThrottle",
        "fastpay.throttling.UserRateThrottle",
        "fastpay.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": FASTPAY_THROTTLE_USER,
        "anon": FASTPAY_THROTTLE_ANON,
        "signup": FASTPAY_THROTTLE_SIGNUP,
        "login": FASTPAY_THROTTLE_LOGIN,
    },
    "DEFAULT_SCHEMA_CLASS": "fastpay.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "fastpay.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "fastpay.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["fastpay.parsers.SafeJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "SIGNING_KEY": SECRET_KEY,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "FastPay API",
    "DESCRIPTION": (
        "Online USDT/USDC payments on the FastPay ledger. Amounts are decimal strings in "
        'token units (e.g. "12.50"); every money-moving POST accepts an Idempotency-Key '
        'header. Errors are {"error": {"code", "message", "param"}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets ship in drf-spectacular-sidecar: the docs work with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # fastpay/schema.py: error responses, tags, the plain endpoints; operation ids
    # without the common /api/v1 ("payments_create").
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "fastpay.schema.postprocess",
    ],
    "TAGS": [
        {"name": "auth", "description": "Sign up, log in (JWT), who am I."},
        {"name": "tokens", "description": "The tokens the platform moves (USDT, USDC)."},
        {"name": "balances", "description": "Available and held balances per token."},
        {"name": "payments", "description": "Pay a user, in one request or a batch; refund."},
        {"name": "ledger", "description": "The statement: every posting on your accounts."},
        {"name": "api-keys", "description": "Scoped, revocable merchant keys (login only)."},
        {"name": "deposits", "description": "Your deposit addresses (docs/deposits.md)."},
        {"name": "offline", "description": "Link a FastPay address; fund and defund it."},
        {"name": "vouchers", "description": "Register offline vouchers (payers)."},
        {"name": "terminals", "description": "Vendors' terminals: configuration, redemptions."},
        {"name": "events", "description": "The events addressed to you (docs/events.md)."},
        {"name": "webhooks", "description": "Signed webhook endpoints (docs/webhooks.md)."},
        {"name": "streams", "description": "Tickets for the live streams (docs/streams.md)."},
        {"name": "notifications", "description": "Email/SMS preferences (docs/notifications.md)."},
        {"name": "withdrawals", "description": "Money out to an address (docs/withdrawals.md)."},
        {"name": "payouts", "description": "Merchant payouts and their statements."},
        {"name": "settlement", "description": "Redemptions settled on-chain (docs/settlement.md)."},
        {"name": "escrow", "description": "Authorize and capture, marketplace holds (escrow.md)."},
        {"name": "rates", "description": "Exchange rates from several providers (docs/rates.md)."},
        {"name": "invoices", "description": "Invoices payable three ways (docs/invoices.md)."},
        {"name": "health", "description": "Ping and the load balancer's probes."},
    ],
    "ENUM_NAME_OVERRIDES": {
        "InvoiceExceptionPolicyEnum": "merchants.models.ExceptionPolicy",
        "PaymentStateEnum": "wallets.models.PaymentState",
        "AccountKindEnum": "wallets.models.AccountKind",
        "UserRoleEnum": "wallets.models.UserRole",
        "UserStatusEnum": "wallets.models.UserStatus",
        "DeliveryStateEnum": "notifications.models.DeliveryState",
        "WithdrawalStateEnum": "settlement.models.WithdrawalState",
    },
}

PROMETHEUS_EXPORT_MIGRATIONS = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Settings read after the check above (STATIC_ROOT, FASTPAY_EMBEDDED_BEAT, ...) are
# validated too: nothing read from the environment is ever silently ignored.
config.raise_if_invalid()
