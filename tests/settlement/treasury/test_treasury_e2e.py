"""End to end on anvil (issue 14): the hot wallet below its minimum, a withdrawal waits
(it does not fail), the treasury proposes a Safe refill, two of three owners sign, the
platform executes it, the withdrawal goes out; the ledger, the hot wallet and the cold
Safe agree, and custody reconciliation (which counts the cold address) is clean."""

from __future__ import annotations

import pytest

from settlement.models import WithdrawalState
from settlement.services.paying import withdrawals_pay_due
from settlement.treasury import services
from settlement.treasury.models import SafeTransaction, SafeTxState
from tests.settlement.conftest import DESTINATION
from tests.settlement.treasury.conftest import TOKEN
from wallets.chain.models import ReconciliationState, WatcherCursor
from wallets.chain.reconcile import reconcile_run
from wallets.chain.sender import tx_follow
from wallets.models import AccountKind, LedgerAccount
from wallets.services.checks import ledger_check_run

pytestmark = pytest.mark.usefixtures("policy")


def custody_base(token) -> int:
    account = LedgerAccount.objects.get(owner=None, token=token, kind=AccountKind.CUSTODY)
    return -account.balance * 10 ** (token.decimals - token.ledger_decimals)


def onchain(anvil, address) -> int:
    return anvil.usdt.functions.balanceOf(address).call()


def settle(anvil, chain, blocks=3):
    anvil.mine(blocks)
    tx_follow(chain)


def test_empty_hot_wallet_withdrawal_waits_refill_2_of_3_then_paid(
    alice, fund, request_withdrawal, anvil, chain, usdt, cold_safe, hot, usdt_band, operators
):
    fund(alice, usdt, 1_000)  # the platform holds it all in the cold Safe
    anvil.mint(usdt, cold_safe, 1_000 * TOKEN)
    assert custody_base(usdt) == onchain(anvil, cold_safe) + onchain(anvil, hot)

    w = request_withdrawal(alice, 40)
    assert w.state == WithdrawalState.AWAITING_PAYMENT
    withdrawals_pay_due()
    w.refresh_from_db()
    assert w.state == WithdrawalState.AWAITING_PAYMENT  # waits, not failed

    assert services.treasury_tick(chain=chain)["refills"] == 1
    assert services.treasury_tick(chain=chain)["refills"] == 0
    (refill,) = SafeTransaction.objects.all()
    for owner in operators[1:]:
        digest = bytes.fromhex(refill.safe_tx_hash[2:])
        refill = services.signature_add(
            refill.pk, owner.unsafe_sign_hash(digest).signature.to_0x_hex()
        )
    assert refill.state == SafeTxState.EXECUTABLE
    assert services.treasury_tick(chain=chain)["executed"] == 1
    settle(anvil, chain)
    refill.refresh_from_db()
    assert refill.state == SafeTxState.EXECUTED
    assert onchain(anvil, hot) == 500 * TOKEN

    assert withdrawals_pay_due().get("paid") == 1
    for _ in range(5):
        settle(anvil, chain, 1)
    w.refresh_from_db()
    assert w.state == WithdrawalState.COMPLETED
    assert onchain(anvil, DESTINATION) == 40 * TOKEN
    assert onchain(anvil, hot) == 460 * TOKEN and onchain(anvil, cold_safe) == 500 * TOKEN
    # books: the custody the ledger counts is what hot and cold hold together
    assert ledger_check_run(record=False).drift_count == 0
    assert custody_base(usdt) == onchain(anvil, cold_safe) + onchain(anvil, hot)
    head = anvil.head()
    WatcherCursor.objects.filter(chain=chain).update(
        block_number=head.number, block_hash=head.hash.to_0x_hex()
    )
    run = reconcile_run(chain=chain)
    assert run.state in (ReconciliationState.CLEAN, ReconciliationState.EXPLAINED), [
        (line.kind, line.address, line.difference_units, line.note) for line in run.lines.all()
    ]
    assert run.lines.filter(kind="cold", address=cold_safe).exists()
