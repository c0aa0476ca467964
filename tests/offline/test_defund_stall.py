"""No database transaction across network I/O: a defund whose committee call stalls for
seconds (fake authorities over real HTTP, tests/offline/stall_scenario.py) does not delay
another user's payment — on the SQLite default, where a transaction held across the call
would hold the database's write lock, and on PostgreSQL, where it would sit idle in
transaction. Real threads, each with its own connection."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.offline import stall_scenario

SCRIPT = Path(stall_scenario.__file__)


def assert_not_delayed(result: dict) -> None:
    stall = stall_scenario.STALL_S
    assert result["defund_status"] == 201
    assert result["defund_s"] >= stall  # it did wait for the committee
    assert result["payment_status"] == 201
    # a payment queued behind the defund's transaction would take the rest of the stall
    assert result["payment_s"] < stall - 1, result
    assert (result["payments"], result["defunds"]) == (1, 1)
    assert result["stored"] == [["defund-1", 201], ["pay-1", 201]]


@pytest.mark.slow
def test_on_sqlite_a_stalled_defund_does_not_delay_another_users_payment(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["DEBUG"] = "1"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "db.sqlite3")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert_not_delayed(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL variant")
def test_on_postgresql_a_stalled_defund_does_not_delay_another_users_payment(settings):
    settings.FASTPAY_RISK_ASSESSOR = "wallets.risk.large_amount_review"

    result = stall_scenario.run()

    assert_not_delayed(result)
    assert result["open_transactions_during_the_stall"] == 0
