"""Configuration from the environment: wrong values are named, all at once."""

import ast
import re
from pathlib import Path

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


def _settings_in_subprocess(env: dict, code: str):
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        env={**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "fastpay.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_offline_settings_in_the_environment_take_effect():
    result = _settings_in_subprocess(
        {
            "FASTPAY_OFFLINE_GRACE_S": "60",
            "FASTPAY_OFFLINE_AUTO_COVER_MAX_UNITS": "0",
            "FASTPAY_OFFLINE_MAX_PER_VOUCHER_UNITS": "5000000",
            "FASTPAY_OFFLINE_RISK_ASSESSOR": "offline.risk.no_assess",
        },
        "from offline import conf; "
        "print(conf.grace_s(), conf.auto_cover_max_units(), "
        "conf.default_limits()['max_per_voucher'], conf.risk_assessor())",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["60", "0", "5000000", "offline.risk.no_assess"]


def test_a_wrong_offline_setting_stops_start_up_with_its_name():
    result = _settings_in_subprocess(
        {
            "FASTPAY_OFFLINE_MAX_VALIDITY_S": "1.5",
            "FASTPAY_OFFLINE_MAX_OUTSTANDING_UNITS": "10",
            "FASTPAY_OFFLINE_MAX_PER_VOUCHER_UNITS": "20",
            "FASTPAY_OFFLINE_RISK_ASSESSOR": "not a path",
        },
        "print('started')",
    )

    assert result.returncode != 0
    assert "started" not in result.stdout
    assert "FASTPAY_OFFLINE_MAX_VALIDITY_S='1.5'" in result.stderr
    assert "FASTPAY_OFFLINE_MAX_PER_VOUCHER_UNITS: must not exceed" in result.stderr
    assert "FASTPAY_OFFLINE_RISK_ASSESSOR='not a path'" in result.stderr


@pytest.mark.parametrize("raw", ["-1", "1e3", "١٢", " 1_000"])
def test_whole_numbers_are_plain_ascii_digits(raw):
    config = Config({"N": raw, "P": raw})

    assert config.non_negative_int("N", default=7) == 7
    assert config.positive_int("P", default=7) == 7
    assert len(config.problems) == 2


def test_zero_is_a_whole_number_but_not_a_positive_one():
    config = Config({"N": "0", "P": "0"})

    assert config.non_negative_int("N", default=7) == 0
    assert config.positive_int("P", default=7) == 7
    assert [p.split("=")[0] for p in config.problems] == ["P"]


_FASTPAY_NAME = re.compile(r"\bFASTPAY_[A-Z0-9_]*[A-Z0-9]\b")
ROOT = Path(__file__).resolve().parents[2]


def _settings_read_through_config() -> set[str]:
    """Names passed to a `config.<accessor>("NAME", ...)` call in fastpay/settings.py."""
    tree = ast.parse((ROOT / "fastpay" / "settings.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "config"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_every_fastpay_setting_the_code_uses_is_read_from_the_environment():
    code = [
        path
        for package in ("fastpay", "wallets", "authorities", "offline", "fraud")
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    ]
    mentioned = {name for path in code for name in _FASTPAY_NAME.findall(path.read_text())}

    assert "FASTPAY_OFFLINE_GRACE_S" in mentioned  # the scan sees offline.conf
    assert sorted(mentioned - _settings_read_through_config()) == []


def test_the_readme_lists_every_fastpay_setting():
    rows = [
        line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `")
    ]
    listed = {name for row in rows for name in _FASTPAY_NAME.findall(row.split("|")[1])}
    settings = {n for n in _settings_read_through_config() if n.startswith("FASTPAY_")}

    assert sorted(settings - listed) == []


def test_no_setting_is_read_after_the_last_validation():
    """A value read after the last `config.raise_if_invalid()` would be checked by nobody."""
    statements = ast.parse((ROOT / "fastpay" / "settings.py").read_text()).body
    last_check = max(
        i
        for i, node in enumerate(statements)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and ast.unparse(node.value.func) == "config.raise_if_invalid"
    )
    later_reads = [
        ast.unparse(node)[:80]
        for node in statements[last_check + 1 :]
        if any(
            isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name)
            and n.value.id == "config"
            for n in ast.walk(node)
        )
    ]
    assert later_reads == []


def test_a_wrong_embedded_beat_switch_stops_start_up_with_its_name():
    result = _settings_in_subprocess({"FASTPAY_EMBEDDED_BEAT": "sometimes"}, "print('started')")

    assert result.returncode != 0
    assert "FASTPAY_EMBEDDED_BEAT='sometimes'" in result.stderr


@pytest.mark.parametrize("raw", ["not-a-kek", "c2hvcnQ=", "00" * 31])
def test_a_kek_that_is_not_32_bytes_is_refused_without_echoing_it(raw):
    config = Config({"FASTPAY_KEK": raw})

    assert config.kek("FASTPAY_KEK") == ""
    assert config.problems == ["FASTPAY_KEK: the KEK must be 32 bytes, base64 or 64 hex digits"]


def test_a_kek_in_base64_or_hex_is_accepted():
    import base64

    for raw in [base64.b64encode(b"k" * 32).decode(), "ab" * 32]:
        config = Config({"FASTPAY_KEK": raw})
        assert config.kek("FASTPAY_KEK") == raw
        assert config.problems == []


@pytest.mark.parametrize("raw", ["127.0.0.1:8545", "ftp://node", "http://", "ws://127.0.0.1:8546"])
def test_the_chain_rpc_url_must_be_http(raw):
    config = Config({"FASTPAY_CHAIN_RPC_URL": raw})

    assert config.http_url("FASTPAY_CHAIN_RPC_URL", default="http://d") == "http://d"
    assert config.problems[0].startswith("FASTPAY_CHAIN_RPC_URL=")
