# ruff: noqa: F811 - the fixtures imported from sender_fixtures are parameters here
"""The one sender of outgoing transactions, against anvil: nonces under the cursor lock,
the signed raw stored before broadcast, receipts followed to depth, CHAIN_FEE entries,
stuck transactions replaced with +12.5% fees, dropped ones, reverts with their reason."""

from __future__ import annotations

import pytest
from django.db import transaction

from fastpay.models import OutboxEvent
from tests.wallets.chain.sender_fixtures import (  # noqa: F401
    automine_off,
    hd_keys,
    platform,
    set_native,
)
from wallets.chain.fees import Fees
from wallets.chain.models import NonceCursor, OutgoingTransaction, TxPurpose, TxState
from wallets.chain.sender import (
    attempt_status,
    native_token,
    nonce_cursor_ensure,
    on_outcome,
    tx_broadcast,
    tx_create,
    tx_follow,
    tx_replace,
)
from wallets.chain.sender_errors import (
    FeeAboveCap,
    IdempotencyConflict,
    NonceCursorMissing,
    SignerMismatch,
)
from wallets.chain.signer import signer_hd
from wallets.chain.sweeps import transfer_data
from wallets.models import AccountKind, EntryKind, JournalEntry, LedgerAccount
from wallets.services.checks import ledger_check_run

GWEI = 10**9
HOT = signer_hd(1, 0)
BENEFICIARY = "0x000000000000000000000000000000000000bEEF"


@pytest.fixture
def hot(chain, platform, set_native):
    address = platform["hot"].address
    set_native(address, 10 * 10**18)
    nonce_cursor_ensure(chain, address)
    return address


@pytest.fixture
def outcomes():
    """Every outcome the OTHER purpose's hook saw: (tx id, state, in a transaction)."""
    seen: list[tuple[int, str, bool]] = []

    def hook(tx):
        seen.append((tx.pk, tx.state, transaction.get_connection().in_atomic_block))

    on_outcome(TxPurpose.OTHER, hook)
    yield seen
    from wallets.chain.sender import hooks

    hooks._hooks[TxPurpose.OTHER].remove(hook)


def send(chain, from_address, *, key, value=1000, fees=None, gas_limit=21_000, data="0x", to=None):
    with transaction.atomic():
        return tx_create(
            chain=chain,
            signer=HOT,
            from_address=from_address,
            to=to or BENEFICIARY,
            value_wei=value,
            data=data,
            gas_limit=gas_limit,
            fees=fees or Fees(max_fee_per_gas=2 * GWEI, max_priority_fee_per_gas=GWEI),
            purpose=TxPurpose.OTHER,
            reference=f"test:{key}",
            idempotency_key=f"test:{key}",
            confirmations=2,
        )


def fee_units(tx) -> int:
    return int(tx.fee_wei) // 10**6  # native token: 18 decimals, 12 in the ledger


def test_a_transaction_is_signed_stored_broadcast_and_confirmed_at_depth(
    chain, anvil, hot, outcomes
):
    w3 = anvil.w3
    before = w3.eth.get_balance(BENEFICIARY)
    tx = send(chain, hot, key="one")

    assert tx.state == TxState.SIGNED and tx.attempts.count() == 1
    attempt = tx.attempts.get()
    assert attempt.raw.startswith("0x02") and attempt.broadcast_at is None
    assert NonceCursor.objects.get(chain=chain, address=hot).next_nonce == tx.nonce + 1

    tx = tx_broadcast(tx)
    assert tx.state == TxState.BROADCAST
    assert tx_follow(chain) == {"mined": 1}  # automine: in a block, depth 1 of 2
    tx.refresh_from_db()
    assert tx.state == TxState.MINED and tx.mined_hash == attempt.tx_hash
    assert outcomes == []

    anvil.mine(1)
    assert tx_follow(chain) == {"confirmed": 1}
    tx.refresh_from_db()
    receipt = w3.eth.get_transaction_receipt(attempt.tx_hash)
    assert tx.state == TxState.CONFIRMED
    assert tx.gas_used == receipt.gasUsed == 21_000
    assert int(tx.fee_wei) == receipt.gasUsed * receipt.effectiveGasPrice
    assert w3.eth.get_balance(BENEFICIARY) - before == 1000
    assert outcomes == [(tx.pk, TxState.CONFIRMED, True)]

    # the gas is a CHAIN_FEE in the native token: FEES -> CUSTODY
    entry = JournalEntry.objects.get(kind=EntryKind.CHAIN_FEE, reference=f"chain_tx:{tx.pk}")
    native = native_token(chain)
    postings = {p.account.kind: p.amount for p in entry.postings.select_related("account")}
    assert postings == {AccountKind.FEES: -fee_units(tx), AccountKind.CUSTODY: fee_units(tx)}
    assert {p.token_id for p in entry.postings.all()} == {native.pk}
    assert ledger_check_run().drift_count == 0

    assert tx_follow(chain) == {}  # nothing in flight: nothing sent, nothing posted twice
    assert JournalEntry.objects.filter(kind=EntryKind.CHAIN_FEE).count() == 1


def test_the_same_idempotency_key_returns_the_same_transaction(chain, hot):
    first = send(chain, hot, key="idem")
    again = send(chain, hot, key="idem")

    assert again.pk == first.pk
    assert OutgoingTransaction.objects.count() == 1
    assert NonceCursor.objects.get(chain=chain, address=hot).next_nonce == first.nonce + 1
    with pytest.raises(IdempotencyConflict) as exc:
        send(chain, hot, key="idem", value=2000)
    assert exc.value.param == "idempotency_key" and "value_wei" in exc.value.message


def test_a_caller_rolled_back_gives_its_nonce_back(chain, hot):
    start = NonceCursor.objects.get(chain=chain, address=hot).next_nonce
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        tx_create(
            chain=chain,
            signer=HOT,
            from_address=hot,
            to=BENEFICIARY,
            gas_limit=21_000,
            fees=Fees(gas_price=GWEI),
            purpose=TxPurpose.OTHER,
            reference="rolled-back",
            idempotency_key="rolled-back",
        )
        1 / 0  # noqa: B018 - the caller fails after tx_create

    assert NonceCursor.objects.get(chain=chain, address=hot).next_nonce == start
    assert not OutgoingTransaction.objects.exists()
    assert send(chain, hot, key="next").nonce == start


def test_refusals_need_a_cursor_the_right_key_and_a_transaction(chain, platform, hot):
    station = platform["gas_station"].address
    with pytest.raises(NonceCursorMissing), transaction.atomic():
        tx_create(
            chain=chain,
            signer=signer_hd(1, 1),
            from_address=station,
            to=BENEFICIARY,
            gas_limit=21_000,
            fees=Fees(gas_price=GWEI),
            purpose=TxPurpose.OTHER,
            reference="x",
            idempotency_key="no-cursor",
        )
    with pytest.raises(SignerMismatch), transaction.atomic():
        tx_create(
            chain=chain,
            signer=signer_hd(1, 1),  # the gas station's key for the hot wallet's nonce
            from_address=hot,
            to=BENEFICIARY,
            gas_limit=21_000,
            fees=Fees(gas_price=GWEI),
            purpose=TxPurpose.OTHER,
            reference="x",
            idempotency_key="wrong-key",
        )
    with pytest.raises(RuntimeError, match="inside the caller's transaction"):
        tx_create(
            chain=chain,
            signer=HOT,
            from_address=hot,
            to=BENEFICIARY,
            gas_limit=21_000,
            fees=Fees(gas_price=GWEI),
            purpose=TxPurpose.OTHER,
            reference="x",
            idempotency_key="no-atomic",
        )
    tx = send(chain, hot, key="in-atomic")
    with pytest.raises(RuntimeError, match="never inside"), transaction.atomic():
        tx_broadcast(tx)
    assert not OutgoingTransaction.objects.exclude(pk=tx.pk).exists()


def test_signed_but_never_broadcast_is_sent_by_the_follow_loop_once(chain, anvil, hot):
    """The in-process half of the crash drill (the subprocess one is test_sender_crash):
    committed, then the process died before broadcast."""
    w3 = anvil.w3
    tx = send(chain, hot, key="crash")
    nonce_before = w3.eth.get_transaction_count(hot)
    attempt = tx.attempts.get()

    assert tx_follow(chain) == {"mined": 1}
    anvil.mine(1)
    assert tx_follow(chain) == {"confirmed": 1}
    tx.refresh_from_db()
    assert tx.mined_hash == attempt.tx_hash and tx.attempts.count() == 1
    assert w3.eth.get_transaction_count(hot) == nonce_before + 1
    tx_broadcast(tx)  # a late duplicate broadcast changes nothing
    assert w3.eth.get_transaction_count(hot) == nonce_before + 1


def test_a_legacy_transaction_pays_its_gas_price(chain, anvil, hot):
    tx = send(chain, hot, key="legacy", fees=Fees(gas_price=3 * GWEI))
    attempt = tx.attempts.get()
    assert attempt.gas_price_wei == 3 * GWEI and attempt.max_fee_per_gas_wei is None
    assert not attempt.raw.startswith("0x02")  # type 0: RLP list, no type byte

    tx_broadcast(tx)
    anvil.mine(1)
    tx_follow(chain)
    tx.refresh_from_db()
    assert tx.state == TxState.CONFIRMED
    assert int(tx.fee_wei) == 21_000 * 3 * GWEI


def test_a_reverted_transaction_fails_with_its_reason_and_its_gas_is_a_chain_fee(
    chain, anvil, hot, usdt, outcomes
):
    # the hot wallet holds no USDT: transfer(BENEFICIARY, 1) reverts ERC20InsufficientBalance
    tx = send(
        chain,
        hot,
        key="revert",
        value=0,
        to=usdt.contract_address,
        data=transfer_data(BENEFICIARY, 1),
        gas_limit=100_000,
    )
    tx_broadcast(tx)
    anvil.mine(1)
    assert tx_follow(chain) == {"failed": 1}
    tx.refresh_from_db()

    assert tx.state == TxState.FAILED
    assert "0xe450d38c" in tx.error  # ERC20InsufficientBalance(address,uint256,uint256)
    assert 0 < tx.gas_used < 100_000
    assert outcomes == [(tx.pk, TxState.FAILED, True)]
    assert JournalEntry.objects.filter(
        kind=EntryKind.CHAIN_FEE, reference=f"chain_tx:{tx.pk}"
    ).exists()
    event = OutboxEvent.objects.get(topic="chain_tx.failed")
    assert event.payload["tx_id"] == tx.pk and event.payload["state"] == "failed"
    assert ledger_check_run().drift_count == 0


def test_a_stuck_transaction_is_replaced_with_both_fees_bumped(chain, automine_off, hot):
    anvil = automine_off
    w3 = anvil.w3
    low = Fees(max_fee_per_gas=GWEI, max_priority_fee_per_gas=GWEI // 10)
    tx = tx_broadcast(send(chain, hot, key="stuck", fees=low))
    first = tx.attempts.get()
    # the base fee rises above what the first attempt may pay: it stays in the pool
    w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(3 * GWEI)])
    anvil.mine(1)
    assert tx_follow(chain, stuck_after_s=3600) == {"waiting": 1}
    assert tx.attempts.count() == 1

    assert tx_follow(chain, stuck_after_s=0) == {"replaced": 1}
    tx.refresh_from_db()
    second = tx.attempts.order_by("id").last()
    assert tx.bump_count == 1 and second.tx_hash != first.tx_hash
    assert second.max_fee_per_gas_wei >= first.max_fee_per_gas_wei * 9 // 8
    assert second.max_priority_fee_wei >= first.max_priority_fee_wei * 9 // 8
    assert second.max_fee_per_gas_wei > w3.eth.get_block("latest").baseFeePerGas

    anvil.mine(2)
    assert tx_follow(chain, stuck_after_s=3600) == {"confirmed": 1}
    tx.refresh_from_db()
    assert tx.state == TxState.CONFIRMED and tx.mined_hash == second.tx_hash
    assert attempt_status(tx, first) == "replaced" and attempt_status(tx, second) == "mined"
    from web3.exceptions import TransactionNotFound

    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction_receipt(first.tx_hash)
    assert ledger_check_run().drift_count == 0


def test_at_the_fee_cap_there_is_no_bump_but_one_alert(chain, automine_off, hot):
    anvil = automine_off
    chain.max_fee_per_gas_wei = GWEI
    chain.save()
    tx = tx_broadcast(
        send(chain, hot, key="capped", fees=Fees(max_fee_per_gas=GWEI, max_priority_fee_per_gas=0))
    )
    anvil.w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(3 * GWEI)])
    anvil.mine(1)

    assert tx_follow(chain, stuck_after_s=0) == {"fee_capped": 1}
    assert tx_follow(chain, stuck_after_s=0) == {"fee_capped": 1}
    with pytest.raises(FeeAboveCap):
        tx_replace(tx)
    assert tx.attempts.count() == 1
    assert OutboxEvent.objects.filter(topic="chain_tx.fee_capped").count() == 1
    tx.refresh_from_db()
    assert tx.state == TxState.BROADCAST


def test_a_nonce_used_outside_the_sender_drops_the_transaction_with_an_alert(
    chain, anvil, hot, hd_keys, outcomes
):
    from eth_account import Account

    from wallets.chain import hd

    w3 = anvil.w3
    tx = send(chain, hot, key="to-drop")  # signed, not broadcast yet
    key = hd.private_key_at(hd.seed_load(), 1, 0)
    foreign = Account.sign_transaction(
        {
            "chainId": chain.chain_id,
            "nonce": tx.nonce,
            "to": hot,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 2 * GWEI,
            "maxPriorityFeePerGas": GWEI,
        },
        key,
    )
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(foreign.raw_transaction))
    anvil.mine(1)  # buried at the transaction's required depth (2)

    # the follow loop's broadcast meets "nonce too low"; no hash of ours is mined
    assert tx_follow(chain) == {"dropped": 1}
    tx.refresh_from_db()
    assert tx.state == TxState.DROPPED and "nonce" in tx.error
    assert outcomes == [(tx.pk, TxState.DROPPED, True)]
    event = OutboxEvent.objects.get(topic="chain_tx.dropped")
    assert event.payload["nonce"] == tx.nonce and event.payload["state"] == "dropped"
    assert not JournalEntry.objects.filter(kind=EntryKind.CHAIN_FEE).exists()
    # the next transaction takes the next nonce, not the one the chain passed
    after = send(chain, hot, key="after-drop")
    assert after.nonce == tx.nonce + 1
    tx_broadcast(after)
    anvil.mine(1)
    assert tx_follow(chain) == {"confirmed": 1}


def test_chain_fee_entries_keep_the_ledger_clean(chain, anvil, hot):
    txs = [tx_broadcast(send(chain, hot, key=f"many-{i}")) for i in range(3)]
    anvil.mine(2)
    assert tx_follow(chain) == {"confirmed": 3}

    fees = LedgerAccount.objects.get(token=native_token(chain), kind=AccountKind.FEES)
    for tx in txs:
        tx.refresh_from_db()
    assert fees.balance == -sum(fee_units(tx) for tx in txs)
    assert ledger_check_run().drift_count == 0


def test_a_receipt_gone_in_a_reorg_sends_the_transaction_back_and_again(chain, anvil, hot):
    w3 = anvil.w3
    tx = tx_broadcast(send(chain, hot, key="reorged"))
    assert tx_follow(chain) == {"mined": 1}
    tx.refresh_from_db()
    mined_in = tx.block_hash

    anvil.reorg(1)  # the block that held it is replaced by an empty one
    assert tx_follow(chain) == {"reorged": 1}
    tx.refresh_from_db()
    assert tx.state == TxState.BROADCAST and tx.block_hash == ""

    anvil.mine(2)
    tx_follow(chain)
    tx.refresh_from_db()
    assert tx.state == TxState.CONFIRMED and tx.block_hash != mined_in
    assert tx.mined_hash == tx.attempts.get().tx_hash  # the same bytes, mined again
    assert w3.eth.get_transaction_count(hot) == tx.nonce + 1
    assert JournalEntry.objects.filter(kind=EntryKind.CHAIN_FEE).count() == 1


def test_a_transaction_signed_long_ago_is_not_replaced_on_its_first_broadcast(
    chain, automine_off, hot
):
    from datetime import timedelta

    from django.utils import timezone

    from wallets.chain.models import TxAttempt

    tx = send(chain, hot, key="late")  # a worker died after commit, an hour ago
    TxAttempt.objects.filter(tx=tx).update(created_at=timezone.now() - timedelta(hours=1))

    assert tx_follow(chain, stuck_after_s=60) == {"waiting": 1}  # broadcast now, pending
    assert tx.attempts.count() == 1
    assert tx_follow(chain, stuck_after_s=0) == {"replaced": 1}  # stuck from broadcast on
