# ruff: noqa: F811 - the fixtures imported from the chain tests are parameters here
"""Withdrawals end to end on anvil: requested over the API, approved (four eyes, a
time-lock), paid by the beat task from the hot wallet through the one sender, followed to
depth, COMPLETED with the on-chain balances matching the ledger; the hot wallet short
(they wait, then go out); a transfer that reverts on-chain (FAILED, the money back)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from settlement.models import Withdrawal, WithdrawalState
from settlement.services.paying import (
    hot_wallet,
    reserved_mismatches,
    withdrawal_pay,
    withdrawals_pay_due,
)
from settlement.services.reviews import withdrawal_approve
from tests.settlement.conftest import DESTINATION, TOKENS
from tests.wallets.chain.conftest import anvil, chain, chain_tokens, usdc, usdt  # noqa: F401
from tests.wallets.chain.sender_fixtures import hd_keys, platform, set_native  # noqa: F401
from wallets.chain.fees import fees_quote
from wallets.chain.models import TxState
from wallets.chain.sender import nonce_cursor_ensure, tx_broadcast, tx_follow
from wallets.models import AccountKind, LedgerAccount
from wallets.services.checks import ledger_check_run

BASE = 10**18  # one MockUSDT on-chain
URL = "/api/v1/withdrawals/"
pytestmark = pytest.mark.usefixtures("policy")


@pytest.fixture(autouse=True)
def _fresh_chain(anvil):
    """Each test starts from the chain as the module found it (the database does too)."""
    snapshot = anvil.snapshot()
    yield
    anvil.revert(snapshot)


@pytest.fixture
def hot(chain, platform, set_native, anvil):
    address = platform["hot"].address
    set_native(address, 10 * BASE)  # gas
    return address


@pytest.fixture
def customer(alice, fund, usdt, anvil, hot):
    """alice holds 1,000 USDT online, and the hot wallet holds them on-chain (CUSTODY is
    minus what the platform holds)."""
    fund(alice, usdt, 1_000)
    anvil.mint(usdt, hot, 1_000 * BASE)
    return alice


def onchain(anvil, usdt, address) -> int:
    return anvil.usdt.functions.balanceOf(address).call()


def custody(token) -> int:
    return LedgerAccount.objects.get(owner=None, token=token, kind=AccountKind.CUSTODY).balance


def follow(chain, anvil, withdrawal, rounds=8):
    for _ in range(rounds):
        anvil.mine(1)
        tx_follow(chain)
        withdrawal.refresh_from_db()
        if withdrawal.state in (WithdrawalState.COMPLETED, WithdrawalState.FAILED):
            return withdrawal
    raise AssertionError(f"{withdrawal} still {withdrawal.state}")


def assert_books_match_chain(anvil, usdt, hot):
    assert ledger_check_run(record=False).drift_count == 0
    assert reserved_mismatches() == []
    assert -custody(usdt) * 10**12 == onchain(anvil, usdt, hot)


def test_a_withdrawal_is_paid_and_completed_with_the_chain_matching(
    customer, client_for, chain, anvil, usdt, hot
):
    api = client_for(customer)
    created = api.post(
        URL,
        {"token": "USDT", "amount": "40", "destination": DESTINATION, "chain_id": chain.chain_id},
        format="json",
        HTTP_IDEMPOTENCY_KEY="e2e-1",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["state"] == "awaiting_payment"

    assert withdrawals_pay_due() == {"paid": 1}
    assert withdrawals_pay_due() == {}  # nothing is paid twice
    w = Withdrawal.objects.get(pk=created.json()["id"])
    assert w.state == WithdrawalState.IN_PROGRESS and w.tx.purpose == "withdrawal"
    w = follow(chain, anvil, w)

    assert w.state == WithdrawalState.COMPLETED
    assert w.tx.state == TxState.CONFIRMED
    assert onchain(anvil, usdt, DESTINATION) == 40 * BASE
    assert onchain(anvil, usdt, hot) == 960 * BASE
    detail = api.get(f"{URL}{w.pk}/").json()
    assert detail["state"] == "completed" and detail["tx_hash"] == w.tx.mined_hash
    balances = {a.kind: a.balance for a in LedgerAccount.objects.filter(owner=customer, token=usdt)}
    assert balances == {AccountKind.AVAILABLE: 959_500_000, AccountKind.WITHDRAWING: 0}
    assert_books_match_chain(anvil, usdt, hot)


def test_four_eyes_and_a_time_lock_then_paid(
    customer, request_withdrawal, rev1, rev2, chain, anvil, usdt, hot
):
    w = request_withdrawal(customer, 900)
    assert w.required_approvals == 2

    withdrawal_approve(withdrawal_id=w.pk, staff=rev1, revision=1)
    assert withdrawals_pay_due() == {}
    w = withdrawal_approve(withdrawal_id=w.pk, staff=rev2, revision=1)
    assert w.state == WithdrawalState.AWAITING_PAYMENT and w.unlock_at > timezone.now()
    assert withdrawals_pay_due() == {}  # time-locked
    w = follow_after_unlock(w, chain, anvil)

    assert w.state == WithdrawalState.COMPLETED
    assert onchain(anvil, usdt, DESTINATION) == 900 * BASE
    assert_books_match_chain(anvil, usdt, hot)


def follow_after_unlock(w, chain, anvil):
    later = w.unlock_at + timedelta(seconds=1)
    assert withdrawals_pay_due(now=later) == {"paid": 1}
    w.refresh_from_db()
    return follow(chain, anvil, w)


def test_an_empty_hot_wallet_makes_withdrawals_wait_not_fail(
    alice, fund, request_withdrawal, chain, anvil, usdt, hot
):
    fund(alice, usdt, 100)
    anvil.mint(usdt, hot, 10 * BASE)
    first = request_withdrawal(alice, 8)
    second = request_withdrawal(alice, 30)

    assert withdrawals_pay_due() == {"paid": 1, "hot_wallet_short": 1}
    second.refresh_from_db()
    assert (second.state, second.waiting_reason) == ("awaiting_payment", "hot_wallet_short")
    assert withdrawals_pay_due() == {"hot_wallet_short": 1}  # the first's 8 are in flight

    anvil.mint(usdt, hot, 90 * BASE)  # the refill lands
    assert withdrawals_pay_due() == {"paid": 1}
    first, second = follow(chain, anvil, first), follow(chain, anvil, second)

    assert (first.state, second.state) == ("completed", "completed")
    assert onchain(anvil, usdt, DESTINATION) == 38 * BASE
    assert_books_match_chain(anvil, usdt, hot)


def test_a_transfer_that_reverts_on_chain_fails_and_returns_the_money(
    customer, request_withdrawal, chain, anvil, usdt, hot
):
    w = request_withdrawal(customer, 25)
    nonce_cursor_ensure(chain, hot)
    # too little gas for an ERC-20 transfer: mined, and reverted (out of gas)
    tx = withdrawal_pay(
        withdrawal_id=w.pk,
        revision=1,
        hot=hot_wallet(chain),
        fees=fees_quote(chain),
        gas_limit=23_000,
    )
    tx_broadcast(tx)
    w = follow(chain, anvil, w)

    assert w.state == WithdrawalState.FAILED and w.failure_code == "transaction_failed"
    assert "out of gas" in w.note
    assert onchain(anvil, usdt, DESTINATION) == 0
    balance = LedgerAccount.objects.get(owner=customer, token=usdt, kind=AccountKind.AVAILABLE)
    assert balance.balance == 1_000 * TOKENS
    assert_books_match_chain(anvil, usdt, hot)


def test_a_crash_between_signing_and_broadcast_sends_it_once(
    customer, request_withdrawal, chain, anvil, usdt, hot
):
    from wallets.chain.models import OutgoingTransaction

    w = request_withdrawal(customer, 12)
    # the worker commits the signed transfer and dies before broadcasting it
    assert withdrawals_pay_due(broadcast=False) == {"paid": 1}
    # restarted: the pay task finds nothing to pay; the sender's loop sends the stored bytes
    assert withdrawals_pay_due() == {}
    w = follow(chain, anvil, w)

    assert w.state == WithdrawalState.COMPLETED
    assert OutgoingTransaction.objects.count() == 1
    assert w.tx.attempts.count() == 1 and w.tx.mined_hash == w.tx.attempts.get().tx_hash
    assert onchain(anvil, usdt, DESTINATION) == 12 * BASE
    assert_books_match_chain(anvil, usdt, hot)


def test_a_six_decimal_token_is_sent_in_its_own_base_units(
    alice, fund, client_for, chain, anvil, usdc, hot
):
    fund(alice, usdc, 50)
    anvil.mint(usdc, hot, 50 * 10**6)
    created = client_for(alice).post(
        URL, {"token": "USDC", "amount": "12.345678", "destination": DESTINATION}, format="json"
    )
    assert created.status_code == 201, created.json()

    assert withdrawals_pay_due() == {"paid": 1}
    w = follow(chain, anvil, Withdrawal.objects.get(pk=created.json()["id"]))

    assert w.state == WithdrawalState.COMPLETED and w.amount_onchain == "12345678"
    assert anvil.usdc.functions.balanceOf(DESTINATION).call() == 12_345_678
    assert ledger_check_run(record=False).drift_count == 0
