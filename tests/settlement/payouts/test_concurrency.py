"""Real threads against PostgreSQL: payouts racing for one merchant's balance, beat runs
racing for one schedule's period. Skipped on SQLite."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from fastpay.errors import DomainError
from settlement.payouts.models import Payout
from settlement.payouts.services import payout_create, reserved_mismatches, schedules_run
from tests.settlement.conftest import TOKENS
from tests.settlement.payouts.conftest import ADDRESSES
from tests.threads import run_threads
from wallets.models import AccountKind, LedgerAccount
from wallets.services.checks import ledger_check_run

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row-lock concurrency needs PostgreSQL"
    ),
    pytest.mark.usefixtures("offchain", "policy"),
]


def clean():
    assert ledger_check_run(record=False).drift_count == 0
    assert reserved_mismatches() == []


def test_payouts_racing_for_one_balance_pay_it_out_once(shop, fund, usdt):
    fund(shop, usdt, 50)
    results = run_threads(
        [lambda: payout_create(user=shop, token=usdt, destination=ADDRESSES[0])] * 4
    )
    created = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(created) == 1 and len(refused) == 3, results
    assert {r.code for r in refused} == {"nothing_to_pay_out"}
    assert Payout.objects.get().gross_units == 50 * TOKENS
    available = LedgerAccount.objects.get(owner=shop, token=usdt, kind=AccountKind.AVAILABLE)
    assert available.balance == 0
    clean()


def test_beat_runs_racing_make_one_payout_per_period(shop, fund, usdt, schedule_for):
    schedule_for(shop, shop.payout_address, interval="daily")
    fund(shop, usdt, 20)
    noon = datetime(2026, 12, 2, 12, tzinfo=UTC)
    results = run_threads([lambda: schedules_run(now=noon)] * 3)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(r.get("created", 0) for r in results) == 1
    assert Payout.objects.count() == 1
    clean()
