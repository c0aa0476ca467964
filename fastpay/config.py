"""Environment configuration, validated once at start-up.

Each accessor records a readable problem instead of raising, so one start-up reports every
wrong variable at once; `raise_if_invalid()` then stops with ImproperlyConfigured.
"""

import ipaddress
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_RATE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


class Config:
    def __init__(self, environ_map=None):
        self.environ = os.environ if environ_map is None else environ_map
        self.problems: list[str] = []

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def str(self, name: str, *, default: str) -> str:
        return self._raw(name) or default

    def bool(self, name: str, *, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        self.problems.append(f"{name}={raw!r}: expected one of 1/0, true/false, yes/no, on/off")
        return default

    def positive_int(self, name: str, *, default: int) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        if not raw.isascii() or not raw.isdigit() or int(raw) <= 0:
            self.problems.append(f"{name}={raw!r}: expected a positive whole number")
            return default
        return int(raw)

    def non_negative_int(self, name: str, *, default: int) -> int:
        """A whole number, 0 included (0 turns the feature off, e.g. no automatic cover)."""
        raw = self._raw(name)
        if raw is None:
            return default
        if not raw.isascii() or not raw.isdigit():
            self.problems.append(f"{name}={raw!r}: expected a whole number (0 or more)")
            return default
        return int(raw)

    def dotted_path(self, name: str, *, default: str) -> str:
        """A Python dotted path (module.attribute) such as a hook; imported where it is
        used, since importing apps from settings would be circular."""
        raw = self._raw(name)
        if raw is None:
            return default
        if not _DOTTED.match(raw):
            self.problems.append(f"{name}={raw!r}: expected a dotted path such as pkg.module.name")
            return default
        return raw

    def http_url(self, name: str, *, default: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        parts = urlsplit(raw)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            self.problems.append(f"{name}={_redact(raw)!r}: expected an http:// or https:// URL")
            return default
        return raw

    def kek(self, name: str) -> str:
        """A key-encryption key (32 bytes, base64 or 64 hex digits), or empty (unset)."""
        from fastpay.keyvault import KeyVaultError, kek_from_text

        raw = self._raw(name)
        if raw is None:
            return ""
        try:
            kek_from_text(raw)
        except KeyVaultError as exc:
            self.problems.append(f"{name}: {exc}")  # never echo a secret
            return ""
        return raw

    def choice(self, name: str, *, default: str, choices: list[str]) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.upper() not in choices:
            self.problems.append(f"{name}={raw!r}: expected one of {', '.join(choices)}")
            return default
        return raw.upper()

    def list(self, name: str, *, default: list[str]) -> list[str]:
        raw = self._raw(name)
        if raw is None:
            return default
        return [item.strip() for item in raw.split(",") if item.strip()]

    def cidr_list(self, name: str, *, default: "list[str]") -> "list[str]":
        """Comma-separated IP networks (10.0.0.0/8, 2001:db8::/32) or single addresses."""
        items = self.list(name, default=default)
        for item in items:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                self.problems.append(f"{name}: {item!r} is not an IP address or network (CIDR)")
                return default
        return items

    def rate(self, name: str, *, default: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        if not _RATE.match(raw):
            self.problems.append(f"{name}={raw!r}: expected a rate such as 100/min or 5/s")
            return default
        return raw

    def secret_key(self, name: str, *, debug: bool) -> str:
        raw = self._raw(name)
        if raw:
            if not debug and len(raw) < 32:
                self.problems.append(f"{name}: must be at least 32 characters when DEBUG is off")
            return raw
        if not debug:
            self.problems.append(
                f"{name}: must be set when DEBUG is off (or set DEBUG=1 for local development)"
            )
        return "insecure-development-key-only-for-debug-mode-0123456789"

    def database(self, name: str, *, default: str) -> dict:
        url = self._raw(name) or default
        scheme = urlsplit(url).scheme
        if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
            self.problems.append(
                f"{name}={_redact(url)!r}: expected sqlite:///path or postgres://user@host/db"
            )
            url = default
        try:
            db = environ.Env.db_url_config(url)
        except Exception as exc:  # django-environ raises a variety of errors on bad URLs
            self.problems.append(f"{name}={_redact(url)!r}: {exc}")
            db = environ.Env.db_url_config(default)
        if db["ENGINE"] == "django.db.backends.sqlite3":
            Path(db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
            # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of one
            # failing with "database is locked" when it upgrades a read lock.
            db["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30}
        else:
            # A psycopg connection pool per process works for WSGI threads and for ASGI,
            # where Django's persistent connections would pile up one per async context.
            db["CONN_MAX_AGE"] = 0
            db["OPTIONS"] = {
                "pool": {
                    "min_size": 1,
                    "max_size": self.positive_int("DB_POOL_MAX_SIZE", default=8),
                    "timeout": 10,
                }
            }
        return db

    def redis_url(self, name: str, *, default: str) -> str:
        url = self._raw(name) or default
        if url and urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
            self.problems.append(f"{name}={_redact(url)!r}: expected redis://host:port/db")
            return default
        return url

    def broker_url(self, name: str, *, default: str) -> str:
        url = self._raw(name) or default
        if url and urlsplit(url).scheme not in {"redis", "rediss", "amqp", "amqps", "memory"}:
            self.problems.append(f"{name}={_redact(url)!r}: expected redis:// or amqp:// URL")
            return default
        return url

    def raise_if_invalid(self) -> None:
        if self.problems:
            lines = "\n  - ".join(self.problems)
            raise ImproperlyConfigured(f"invalid configuration:\n  - {lines}")


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def redis_url_shifted(url: str, by: int) -> str:
    """``url`` with its database number ``by`` lower (wrapping within Redis' 16):
    redis://h:6379/15 shifted by 2 is redis://h:6379/13."""
    parts = urlsplit(url)
    current = int(parts.path.strip("/") or 0) if parts.path.strip("/").isdigit() else 0
    return parts._replace(path=f"/{(current - by) % 16}").geturl()
