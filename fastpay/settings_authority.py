"""Settings of an authority node: this project started as one member of the committee.

    DJANGO_SETTINGS_MODULE=fastpay.settings_authority manage.py run_authority --port 9101

A node has its own database (a SQLite file per node by default, PostgreSQL works too), its
own sealed secp256k1 key, a committee file and, optionally, a chain to follow deposits on.
Only the node's own app is installed: no admin, no platform apps. Every variable is listed
in docs/authorities.md; a wrong value stops start-up with a message naming the variable.
Name, key and committee are checked when the node starts (authorities.node.runtime), so
the operator commands (authority_keygen, authority_local_committee) run without them.
"""

from pathlib import Path

from fastpay.config import Config

BASE_DIR = Path(__file__).resolve().parent.parent
config = Config()

DEBUG = config.bool("DEBUG", default=False)
SECRET_KEY = config.secret_key("SECRET_KEY", debug=DEBUG)
ALLOWED_HOSTS = config.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
VAR_DIR = Path(config.str("FASTPAY_VAR_DIR", default=str(BASE_DIR / "var")))

AUTHORITY_NAME = config.str("AUTHORITY_NAME", default="")
if AUTHORITY_NAME and not AUTHORITY_NAME.replace("-", "").replace("_", "").isalnum():
    config.problems.append(f"AUTHORITY_NAME={AUTHORITY_NAME!r}: letters, digits, '-' and '_' only")

DATABASES = {
    "default": config.database(
        "DATABASE_URL",
        default=f"sqlite:///{VAR_DIR}/authority-{AUTHORITY_NAME or 'node'}.sqlite3",
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL: one fsync per commit instead of the rollback journal's several; synchronous=FULL
    # keeps every vote durable once answered (a vote forgotten in a power cut could be
    # followed by a conflicting one: equivocation).
    DATABASES["default"]["OPTIONS"]["init_command"] = (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
    )

# The node's key: a keyvault envelope (authority_keygen writes it) opened with the KEK.
AUTHORITY_KEY_FILE = config.str("AUTHORITY_KEY_FILE", default="")
AUTHORITY_KEK = config.str("AUTHORITY_KEK", default="")
# The committee: epoch, chain id, verifying contract, redemption address, members, tokens.
AUTHORITY_COMMITTEE_FILE = config.str("AUTHORITY_COMMITTEE_FILE", default="")

# Deposits are followed when CHAIN_RPC_URL and DEPLOYMENT_JSON (FastPayRegistry) are set.
CHAIN_RPC_URL = config.str("CHAIN_RPC_URL", default="")
DEPLOYMENT_JSON = config.str("DEPLOYMENT_JSON", default="")
AUTHORITY_CONFIRMATIONS = config.positive_int("AUTHORITY_CONFIRMATIONS", default=12)
AUTHORITY_POLL_MS = config.positive_int("AUTHORITY_POLL_MS", default=1000)
AUTHORITY_MAX_BATCH = config.positive_int("AUTHORITY_MAX_BATCH", default=1000)
# The epoch schedule: from CommitteeConsensus (with CHAIN_RPC_URL and DEPLOYMENT_JSON) when
# set, else the committee file; polled (file: its mtime) so announced epochs need no restart.
AUTHORITY_CHAIN_SCHEDULE = config.bool("AUTHORITY_CHAIN_SCHEDULE", default=False)
AUTHORITY_SCHEDULE_POLL_MS = config.positive_int("AUTHORITY_SCHEDULE_POLL_MS", default=2000)
# The handover client (a member of an epoch reads its predecessor's frozen state first).
AUTHORITY_HANDOVER_POLL_MS = config.positive_int("AUTHORITY_HANDOVER_POLL_MS", default=1000)
# gunicorn: one process is the throughput sweet spot on SQLite (group commit is per
# process); more workers need PostgreSQL to pay off.
AUTHORITY_WORKERS = config.positive_int("AUTHORITY_WORKERS", default=1)
AUTHORITY_THREADS = config.positive_int("AUTHORITY_THREADS", default=16)

# DEBUG only: initial balances credited once at start (tests, bench, demos).
AUTHORITY_GENESIS_FILE = config.str("AUTHORITY_GENESIS_FILE", default="")
if AUTHORITY_GENESIS_FILE and not DEBUG:
    config.problems.append("AUTHORITY_GENESIS_FILE: refused unless DEBUG=1 (tests and demos)")

# TEST ONLY: sign conflicting orders for a locked sequence (equivocation evidence).
AUTHORITY_BYZANTINE = config.bool("AUTHORITY_BYZANTINE", default=False)
if AUTHORITY_BYZANTINE and not DEBUG:
    config.problems.append("AUTHORITY_BYZANTINE: a test-only setting, refused unless DEBUG=1")

LOG_LEVEL = config.choice(
    "LOG_LEVEL", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
)

config.raise_if_invalid()

INSTALLED_APPS = ["authorities.node"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "authorities.node.urls"
WSGI_APPLICATION = "authorities.node.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False
# A batch of 1,000 signed orders is about 0.5 MB of JSON.
DATA_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # every refused order is a 4xx: the protocol's answer, not an operator's concern
    "loggers": {"django.request": {"level": "ERROR"}},
}
