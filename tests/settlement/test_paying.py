"""The pay path without a node: ``withdrawal_pay`` signs the transfer through the sender's
tx_create in the transaction that moves the withdrawal to IN_PROGRESS (signing is offline),
and the sender's outcome hook completes, fails or re-queues it. tests/settlement/
test_e2e_anvil.py runs the same path against a chain."""

import pytest
from django.db import transaction

from fastpay.models import OutboxEvent
from settlement.models import Withdrawal, WithdrawalState
from settlement.services.paying import (
    hot_wallet,
    reserved_mismatches,
    transfer_data,
    withdrawal_outcome,
    withdrawal_pay,
)
from settlement.services.withdrawals import withdrawal_cancel
from tests.settlement.conftest import DESTINATION, TOKENS
from wallets.chain.fees import Fees
from wallets.chain.models import NonceCursor, OutgoingTransaction, TxPurpose, TxState
from wallets.models import AccountKind, LedgerAccount
from wallets.services.checks import ledger_check_run

FEES = Fees(max_fee_per_gas=2 * 10**9, max_priority_fee_per_gas=10**9)
pytestmark = pytest.mark.usefixtures("policy")


@pytest.fixture
def hot(offchain, hot_wallet_row):
    row = hot_wallet_row(offchain)
    NonceCursor.objects.create(chain=offchain, address=row.address, next_nonce=7)
    return hot_wallet(offchain)


@pytest.fixture
def approved(alice, funded, request_withdrawal):
    funded(alice, 100)
    return request_withdrawal(alice, 40)


def pay(withdrawal, hot):
    return withdrawal_pay(
        withdrawal_id=withdrawal.pk,
        revision=withdrawal.revision,
        hot=hot,
        fees=FEES,
        gas_limit=80_000,
    )


def outcome(tx, state, error=""):
    """What the sender does when it records an outcome: the row locked, its hooks run."""
    with transaction.atomic():
        OutgoingTransaction.objects.filter(pk=tx.pk).update(state=state, error=error)
        tx.refresh_from_db()
        withdrawal_outcome(tx)


def accounts(user, token):
    rows = LedgerAccount.objects.filter(token=token)
    return {(row.owner_id == user.pk and row.kind) or row.kind: row.balance for row in rows}


def test_paying_signs_the_transfer_in_the_in_progress_transaction(approved, hot, usdt):
    tx = pay(approved, hot)

    approved.refresh_from_db()
    assert approved.state == WithdrawalState.IN_PROGRESS and approved.tx == tx
    assert (tx.state, tx.nonce, tx.purpose) == (TxState.SIGNED, 7, TxPurpose.WITHDRAWAL)
    assert tx.from_address == hot.address
    assert tx.to_address == usdt.contract_address
    assert tx.data == transfer_data(DESTINATION, 40 * 10**18).lower()
    assert approved.amount_onchain == str(40 * 10**18)
    assert tx.idempotency_key == f"withdrawal:{approved.pk}:1"
    assert NonceCursor.objects.get().next_nonce == 8
    assert OutboxEvent.objects.filter(topic="withdrawal.in_progress").count() == 1


def test_a_paid_withdrawal_is_neither_paid_again_nor_cancelled(alice, approved, hot):
    tx = pay(approved, hot)

    assert pay(approved, hot) is None
    with pytest.raises(Exception) as caught:
        withdrawal_cancel(user=alice, withdrawal_id=approved.pk)
    assert getattr(caught.value, "code", "") == "withdrawal_not_cancellable"
    assert OutgoingTransaction.objects.get() == tx


def test_a_cancelled_or_revised_withdrawal_is_not_paid(alice, approved, hot):
    withdrawal_cancel(user=alice, withdrawal_id=approved.pk)

    assert pay(approved, hot) is None
    assert not OutgoingTransaction.objects.exists()
    assert NonceCursor.objects.get().next_nonce == 7


def test_a_confirmed_transfer_completes_it(alice, approved, hot, usdt):
    tx = pay(approved, hot)

    outcome(tx, TxState.CONFIRMED)

    approved.refresh_from_db()
    assert approved.state == WithdrawalState.COMPLETED and approved.closed_at
    balances = accounts(alice, usdt)
    assert balances[AccountKind.AVAILABLE] == 60 * TOKENS - TOKENS // 2
    assert balances[AccountKind.WITHDRAWING] == 0
    assert balances[AccountKind.FEES] == TOKENS // 2
    # custody: -100 funded, +40 paid out: the platform holds 60 less 0 on-chain for users
    assert balances[AccountKind.CUSTODY] == -100 * TOKENS + 40 * TOKENS
    assert ledger_check_run(record=False).drift_count == 0
    assert reserved_mismatches() == []


def test_a_failed_transfer_returns_the_money_with_the_reason(alice, approved, hot, usdt):
    tx = pay(approved, hot)

    outcome(tx, TxState.FAILED, "reverted: ERC20: transfer amount exceeds balance")

    approved.refresh_from_db()
    assert approved.state == WithdrawalState.FAILED
    assert approved.failure_code == "transaction_failed"
    assert "exceeds balance" in approved.note
    assert accounts(alice, usdt)[AccountKind.AVAILABLE] == 100 * TOKENS
    event = OutboxEvent.objects.get(topic="withdrawal.failed")
    assert event.payload["reason"] == "transaction_failed" and event.payload["state"] == "failed"
    assert ledger_check_run(record=False).drift_count == 0
    # an outcome seen twice changes nothing
    outcome(tx, TxState.FAILED, "again")
    assert accounts(alice, usdt)[AccountKind.AVAILABLE] == 100 * TOKENS


def test_a_dropped_transfer_is_paid_again_with_a_new_transaction(alice, approved, hot):
    first = pay(approved, hot)

    outcome(first, TxState.DROPPED)
    approved.refresh_from_db()
    assert (approved.state, approved.waiting_reason) == ("awaiting_payment", "transaction_dropped")
    second = pay(approved, hot)

    approved.refresh_from_db()
    assert approved.tx == second and second.idempotency_key.endswith(":2")
    assert second.nonce == first.nonce + 1
    assert reserved_mismatches() == []


def test_the_database_refuses_a_paid_withdrawal_without_a_transaction(approved):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError), transaction.atomic():
        Withdrawal.objects.filter(pk=approved.pk).update(
            state=WithdrawalState.IN_PROGRESS, amount_onchain="1"
        )


def test_an_rpc_outage_makes_withdrawals_wait(approved, offchain, hot_wallet_row):
    from settlement.services.paying import withdrawals_pay_due

    hot_wallet_row(offchain)  # the chain's only RPC URL answers nothing

    assert withdrawals_pay_due() == {"chain_unavailable": 1}

    approved.refresh_from_db()
    assert (approved.state, approved.waiting_reason) == ("awaiting_payment", "chain_unavailable")
    assert not OutgoingTransaction.objects.exists()


def test_the_metrics_show_the_waiting_and_no_drift(approved, offchain):
    from prometheus_client import generate_latest

    Withdrawal.objects.filter(pk=approved.pk).update(waiting_reason="hot_wallet_short")

    text = generate_latest().decode()

    assert 'fastpay_withdrawals_waiting{reason="hot_wallet_short"} 1.0' in text
    assert "fastpay_withdrawals_reserved_drift 0.0" in text
    assert 'fastpay_withdrawals{state="awaiting_payment",token="USDT"} 1.0' in text
