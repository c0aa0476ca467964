"""Configuration from the environment: wrong values are named, all at once."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from fastpay.config import Config


def test_defaults_need_no_environment():
    config = Config({})
    db = config.database("DATABASE_URL", default="sqlite:////tmp/fastpay-test/db.sqlite3")
    config.raise_if_invalid()
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_a_postgres_url_becomes_a_postgres_database():
    config = Config({"DATABASE_URL": "postgres://fp:secret@db.internal:5432/fastpay"})
    db = config.database("DATABASE_URL", default="sqlite:////tmp/x.sqlite3")
    assert (db["ENGINE"], db["HOST"], db["NAME"]) == (
        "django.db.backends.postgresql",
        "db.internal",
        "fastpay",
    )
    assert db["OPTIONS"]["pool"]["max_size"] == 8


def test_every_wrong_variable_is_reported_by_name():
    config = Config(
        {
            "DEBUG": "maybe",
            "DATABASE_URL": "mysql://u:hunter2@h/db",
            "REDIS_URL": "http://cache",
            "FASTPAY_BATCH_MAX_ITEMS": "-3",
            "FASTPAY_THROTTLE_USER": "lots",
        }
    )
    config.bool("DEBUG", default=False)
    config.database("DATABASE_URL", default="sqlite:////tmp/x.sqlite3")
    config.redis_url("REDIS_URL", default="")
    config.positive_int("FASTPAY_BATCH_MAX_ITEMS", default=500)
    config.rate("FASTPAY_THROTTLE_USER", default="1/s")

    with pytest.raises(ImproperlyConfigured) as exc:
        config.raise_if_invalid()

    message = str(exc.value)
    for name in [
        "DEBUG",
        "DATABASE_URL",
        "REDIS_URL",
        "FASTPAY_BATCH_MAX_ITEMS",
        "FASTPAY_THROTTLE_USER",
    ]:
        assert f"{name}=" in message
    assert "hunter2" not in message


def test_secret_key_is_mandatory_without_debug():
    config = Config({})
    config.secret_key("SECRET_KEY", debug=False)
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY: must be set when DEBUG is off"):
        config.raise_if_invalid()


def test_a_short_secret_key_is_refused_in_production():
    config = Config({"SECRET_KEY": "short"})
    config.secret_key("SECRET_KEY", debug=False)
    with pytest.raises(ImproperlyConfigured, match="at least 32 characters"):
        config.raise_if_invalid()


def test_start_up_fails_with_the_variable_name(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": "", "DATABASE_URL": "oracle://x"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY: must be set when DEBUG is off" in result.stderr
    assert "DATABASE_URL='oracle://x'" in result.stderr
