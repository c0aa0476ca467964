"""Hot and cold wallets on PostgreSQL with real threads: racing refill requests for one
token propose one Safe transaction; racing requests for two tokens take distinct,
consecutive Safe nonces; racing excess sweeps send one transfer to cold."""

from __future__ import annotations

import pytest
from django.db import connection

from settlement.treasury import services
from settlement.treasury.models import ColdTransfer, HotWalletThreshold, SafeTransaction
from tests.settlement.treasury.conftest import TOKEN
from tests.threads import run_threads

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]


def test_racing_refill_requests_propose_once_and_nonces_stay_in_order(
    anvil, chain, usdt, cold_safe, hot, usdt_band
):
    usdc = type(usdt).objects.get(symbol="USDC")
    HotWalletThreshold.objects.create(
        token=usdc, min_units=10**6, target_units=10 * 10**6, max_units=100 * 10**6
    )

    def request(token):
        return lambda: services.refill_request(chain, token)[0].pk

    results = run_threads([request(usdt) for _ in range(4)] + [request(usdc) for _ in range(4)])

    assert all(isinstance(r, int) for r in results), results
    rows = list(SafeTransaction.objects.order_by("nonce"))
    assert len(rows) == 2 and [r.nonce for r in rows] == [0, 1]
    assert {r.token_id for r in rows} == {usdt.pk, usdc.pk}
    assert len(set(results)) == 2


def test_racing_excess_sweeps_send_one_transfer(anvil, chain, usdt, cold_safe, hot, usdt_band):
    anvil.mint(usdt, hot, 3_000 * TOKEN)

    results = run_threads(
        [lambda: services.excess_send(chain, usdt, broadcast=False) for _ in range(4)]
    )

    assert sum(r is not None for r in results if not isinstance(r, Exception)) == 1, results
    (transfer,) = ColdTransfer.objects.all()
    assert transfer.amount_units == 2_500 * 10**usdt.ledger_decimals
