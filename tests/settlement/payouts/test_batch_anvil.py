# ruff: noqa: F811 - the fixtures imported from the chain tests are parameters here
"""Merchant payouts on anvil: three payouts in ONE BatchTransfer transaction through the
sender (the hot wallet's approval of the contract first, the next nonce), followed to
depth, PAID with the destinations' on-chain balances matching; a batch that reverts fails
every payout of it with the money back; a short hot wallet makes them wait."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from settlement.models import AllowedAddress
from settlement.payouts.models import Payout, PayoutBatch, PayoutState
from settlement.payouts.services import (
    MAX_UINT,
    batch_pay,
    payout_create,
    payouts_pay_due,
    reserved_mismatches,
)
from settlement.services.paying import hot_wallet
from tests.authorities.anvil import _deploy
from tests.settlement.conftest import TOKENS
from tests.settlement.payouts.conftest import ADDRESSES
from tests.wallets.chain.conftest import anvil, chain, chain_tokens, usdt  # noqa: F401
from tests.wallets.chain.sender_fixtures import hd_keys, platform, set_native  # noqa: F401
from tests.wallets.factories import UserFactory
from wallets.chain.fees import fees_quote
from wallets.chain.models import OutgoingTransaction, TxPurpose, TxState
from wallets.chain.sender import nonce_cursor_ensure, tx_broadcast, tx_follow
from wallets.models import AccountKind, LedgerAccount, UserRole
from wallets.services.checks import ledger_check_run

BASE = 10**18  # one MockUSDT on-chain
pytestmark = pytest.mark.usefixtures("policy")


@pytest.fixture(scope="module")
def batch_contract(anvil):
    return _deploy(anvil.w3, "BatchTransfer")


@pytest.fixture(autouse=True)
def _fresh_chain(anvil, batch_contract, settings):
    settings.FASTPAY_BATCH_TRANSFER_ADDRESS = batch_contract.address
    snapshot = anvil.snapshot()
    yield
    anvil.revert(snapshot)


@pytest.fixture
def hot(chain, platform, set_native):
    address = platform["hot"].address
    set_native(address, 10 * BASE)
    return address


@pytest.fixture
def merchants(chain, fund, usdt, anvil, hot):
    """Three merchants with 10, 20 and 30 USDT online, each an allowed address; the hot
    wallet holds the 60 on-chain."""
    past = timezone.now() - timedelta(days=2)
    shops = []
    for n, whole in enumerate((10, 20, 30)):
        shop = UserFactory(username=f"batch-shop{n}", role=UserRole.MERCHANT)
        AllowedAddress.objects.create(
            user=shop, chain=chain, address=ADDRESSES[n], created_at=past, usable_at=past
        )
        fund(shop, usdt, whole)
        shops.append(shop)
    anvil.mint(usdt, hot, 60 * BASE)
    return shops


def onchain(anvil, address) -> int:
    return anvil.usdt.functions.balanceOf(address).call()


def custody(token) -> int:
    return LedgerAccount.objects.get(owner=None, token=token, kind=AccountKind.CUSTODY).balance


def follow(chain, anvil, rounds=10):
    for _ in range(rounds):
        anvil.mine(1)
        tx_follow(chain)
        if not Payout.objects.filter(state=PayoutState.IN_PROGRESS).exists():
            return
    raise AssertionError("payouts still in progress")


def books_match_chain(anvil, usdt, hot):
    assert ledger_check_run(record=False).drift_count == 0
    assert reserved_mismatches() == []
    assert -custody(usdt) * 10**12 == onchain(anvil, hot)


def test_three_payouts_go_out_in_one_batch_transaction(
    merchants, chain, anvil, usdt, hot, batch_contract
):
    payouts = [
        payout_create(user=m, token=usdt, destination=ADDRESSES[n])[0]
        for n, m in enumerate(merchants)
    ]

    assert payouts_pay_due() == {"paid": 3, "batches": 1}
    assert payouts_pay_due() == {}  # nothing is paid twice
    batch = PayoutBatch.objects.get()
    assert set(batch.payouts.values_list("pk", flat=True)) == {p.pk for p in payouts}
    txs = OutgoingTransaction.objects.filter(purpose=TxPurpose.PAYOUT).order_by("nonce")
    assert [t.to_address.lower() for t in txs] == [
        usdt.contract_address.lower(),  # approve(BatchTransfer, max) first
        batch_contract.address.lower(),
    ]
    assert txs[1].nonce == txs[0].nonce + 1 and batch.tx == txs[1]
    follow(chain, anvil)

    for payout, whole in zip(payouts, (10, 20, 30), strict=True):
        payout.refresh_from_db()
        assert payout.state == PayoutState.PAID
        # each merchant's fee (0.5) stays in FEES, the rest reached its address
        assert onchain(anvil, payout.destination) == whole * BASE - BASE // 2
        assert payout.amount_onchain == str(whole * BASE - BASE // 2)
    assert onchain(anvil, hot) == 3 * BASE // 2
    batch.tx.refresh_from_db()
    assert batch.tx.state == TxState.CONFIRMED
    receipt = anvil.w3.eth.get_transaction_receipt(batch.tx.mined_hash)
    paid = batch_contract.events.Paid().process_receipt(receipt)
    assert sorted((e.args.to, e.args.amount) for e in paid) == sorted(
        (p.destination, int(p.amount_onchain)) for p in Payout.objects.all()
    )
    assert {bytes(e.args.ref)[16:] for e in paid} == {p.pk.bytes for p in payouts}
    allowance = anvil.usdt.functions.allowance(hot, batch_contract.address).call()
    assert allowance == MAX_UINT  # OpenZeppelin's ERC20 does not spend an infinite one
    fees = LedgerAccount.objects.get(owner=None, token=usdt, kind=AccountKind.FEES).balance
    assert fees == 3 * TOKENS // 2
    for merchant in merchants:
        accounts = LedgerAccount.objects.filter(owner=merchant, token=usdt)
        assert {a.kind: a.balance for a in accounts} == {"available": 0, "withdrawing": 0}
    books_match_chain(anvil, usdt, hot)

    # the next batch needs no approval: the allowance is there (one transaction)
    merchant = merchants[0]
    anvil.mint(usdt, hot, 5 * BASE)

    from wallets.services.adjustments import ledger_adjust

    ledger_adjust(
        user=merchant,
        token=usdt,
        amount=5 * TOKENS,
        reason="sale",
        operator=None,
        idempotency_key="batch-again",
    )
    payout_create(user=merchant, token=usdt, destination=ADDRESSES[0])
    assert payouts_pay_due() == {"paid": 1, "batches": 1}
    assert OutgoingTransaction.objects.filter(purpose=TxPurpose.PAYOUT).count() == 3
    follow(chain, anvil)
    assert onchain(anvil, ADDRESSES[0]) == 10 * BASE - BASE // 2 + 5 * BASE - BASE // 2
    books_match_chain(anvil, usdt, hot)


def test_a_batch_that_reverts_returns_every_payouts_money(
    merchants, chain, anvil, usdt, hot, batch_contract
):
    payouts = [
        payout_create(user=m, token=usdt, destination=ADDRESSES[n])[0]
        for n, m in enumerate(merchants)
    ]
    hot_row = hot_wallet(chain)
    nonce_cursor_ensure(chain, hot)
    # too little gas for three transfers: mined, and reverted (out of gas)
    txs = batch_pay(
        payout_ids=[p.pk for p in payouts],
        hot=hot_row,
        contract=batch_contract.address,
        fees=fees_quote(chain),
        gas_limit=60_000,
        approve_gas=80_000,
    )
    for tx in txs:
        tx_broadcast(tx)
    follow(chain, anvil)

    for payout, merchant, whole in zip(payouts, merchants, (10, 20, 30), strict=True):
        payout.refresh_from_db()
        assert payout.state == PayoutState.FAILED and payout.failure_code == "transaction_failed"
        assert payout.note  # the chain's reason
        assert onchain(anvil, payout.destination) == 0
        available = LedgerAccount.objects.get(owner=merchant, token=usdt, kind="available")
        assert available.balance == whole * TOKENS
    batch = PayoutBatch.objects.select_related("tx").get()
    assert batch.tx.state == TxState.FAILED
    assert onchain(anvil, hot) == 60 * BASE
    books_match_chain(anvil, usdt, hot)

    # the money returned is paid out by the next payout, whose statement shows it
    again, _ = payout_create(user=merchants[0], token=usdt, destination=ADDRESSES[0])
    assert list(again.lines.values_list("posting__entry__kind", flat=True)) == ["withdrawal_void"]


def test_a_short_hot_wallet_makes_payouts_wait(merchants, chain, anvil, usdt, hot):
    for n, merchant in enumerate(merchants):
        payout_create(user=merchant, token=usdt, destination=ADDRESSES[n])
    fund_more = UserFactory(username="batch-big", role=UserRole.MERCHANT)
    from wallets.services.adjustments import ledger_adjust

    ledger_adjust(
        user=fund_more,
        token=usdt,
        amount=100 * TOKENS,
        reason="sale",
        operator=None,
        idempotency_key="big",
    )
    past = timezone.now() - timedelta(days=2)
    AllowedAddress.objects.create(
        user=fund_more, chain=chain, address=ADDRESSES[3], created_at=past, usable_at=past
    )
    payout_create(user=fund_more, token=usdt, destination=ADDRESSES[3])

    assert payouts_pay_due() == {"hot_wallet_short": 4}
    assert set(Payout.objects.values_list("state", "waiting_reason")) == {
        ("pending", "hot_wallet_short")
    }
    assert not OutgoingTransaction.objects.exists()
    anvil.mint(usdt, hot, 100 * BASE)  # the refill lands
    assert payouts_pay_due() == {"paid": 4, "batches": 1}
    follow(chain, anvil)
    assert set(Payout.objects.values_list("state", flat=True)) == {"paid"}
    assert onchain(anvil, ADDRESSES[3]) == 100 * BASE - BASE // 2
    assert ledger_check_run(record=False).drift_count == 0
    assert reserved_mismatches() == []
