# ruff: noqa: F811 - the fixtures imported from the chain tests are parameters here
"""Money in and out end to end on anvil (issue 14, "Tests that must exist"): a customer's
deposit to its own deposit address is credited by the real watcher after the
confirmations, the customer pays a merchant over the API, the deposit address is swept to
the hot wallet (the gas station's top-up first), and the merchant's payout to its
allow-listed address (past the cool-down) goes out through BatchTransfer by the sender's
follow loop. At the end the destination holds the payout on-chain, the ledger check is
clean and the custody reconciliation is CLEAN.

The platform's keys are those of ``manage.py wallet_init`` with the development mnemonic;
the deposit address is the one ``deposit_address_for`` derives (its index is moved past
anvil's prefunded accounts, which are the same mnemonic's first keys)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from settlement.errors import DestinationCoolingDown
from settlement.payouts.models import Payout, PayoutState
from settlement.payouts.services import payout_create, payouts_pay_due, reserved_mismatches
from settlement.services.addresses import allowed_address_add
from tests.authorities.anvil import _deploy
from tests.settlement.conftest import DEV_MNEMONIC, TOKENS
from tests.settlement.payouts.conftest import ADDRESSES
from tests.wallets.chain.conftest import anvil, chain, chain_tokens, usdt  # noqa: F401
from tests.wallets.factories import UserFactory
from wallets.chain.addresses import deposit_address_for
from wallets.chain.models import (
    AddressRole,
    Deposit,
    DepositState,
    HDAccount,
    OutgoingTransaction,
    PlatformAddress,
    ReconciliationState,
    Sweep,
    SweepState,
    TokenPolicy,
    TxPurpose,
    TxState,
)
from wallets.chain.reconcile import reconcile_run
from wallets.chain.sender import tx_follow
from wallets.chain.sweeps import sweeps_run
from wallets.chain.watcher import Watcher
from wallets.models import AccountKind, LedgerAccount, UserRole
from wallets.services.checks import ledger_check_run

BASE = 10**18  # one MockUSDT on-chain (18 decimals; the ledger keeps 6)
DESTINATION = ADDRESSES[0]
#: the deposits account's first indexes are anvil's prefunded accounts (same mnemonic)
FIRST_DEPOSIT_INDEX = 500
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


def set_native(anvil, address: str, wei: int) -> None:
    answer = anvil.w3.provider.make_request("anvil_setBalance", [address, hex(wei)])
    assert "error" not in answer, answer


@pytest.fixture
def wallet(chain, anvil, settings, tmp_path):
    """``manage.py wallet_init`` with the development mnemonic: the sealed seed, the HD
    accounts and the hot wallet / gas station / settler of ``chain``; gas for the hot
    wallet (the batch and its approval) and the gas station (the top-up)."""
    from fastpay import keyvault

    settings.FASTPAY_KEK = keyvault.new_kek_text()
    settings.FASTPAY_HD_SEED_FILE = str(tmp_path / "hd-seed.json")
    mnemonic = tmp_path / "mnemonic.txt"
    mnemonic.write_text(DEV_MNEMONIC + "\n")
    call_command("wallet_init", "--mnemonic-file", str(mnemonic), stdout=StringIO())
    HDAccount.objects.filter(name="deposits").update(next_index=FIRST_DEPOSIT_INDEX)
    rows = {r.role: r for r in PlatformAddress.objects.filter(chain=chain)}
    set_native(anvil, rows[AddressRole.HOT].address, 10 * BASE)
    set_native(anvil, rows[AddressRole.GAS_STATION].address, BASE)
    return rows


def onchain(anvil, address: str) -> int:
    return anvil.usdt.functions.balanceOf(anvil.w3.to_checksum_address(address)).call()


def available(user, token) -> int:
    row = LedgerAccount.objects.filter(owner=user, token=token, kind=AccountKind.AVAILABLE)
    return row.values_list("balance", flat=True).first() or 0


def watch(watcher, anvil, blocks: int) -> None:
    """Mine ``blocks`` and let the watcher catch up with the head."""
    anvil.mine(blocks)
    for _ in range(20):
        if watcher.tick().state == "idle":
            return
    raise AssertionError("the watcher did not catch up")


def follow(chain, anvil, done, rounds: int = 12) -> None:
    """The beat's loops: mine a block, the sender follows, the sweeper continues."""
    for _ in range(rounds):
        anvil.mine(1)
        tx_follow(chain)
        sweeps_run(chain)
        if done():
            return
    raise AssertionError("still in flight")


def test_a_deposit_is_paid_to_a_merchant_and_paid_out_on_chain(
    chain, anvil, usdt, wallet, client_for, batch_contract
):
    hot = wallet[AddressRole.HOT].address
    customer = UserFactory(username="e2e-customer")
    shop = UserFactory(username="e2e-shop", role=UserRole.MERCHANT)
    TokenPolicy.objects.filter(token=usdt).update(sweep_threshold_units=100 * TOKENS)
    watcher = Watcher(chain, owner="e2e-deposit-to-payout")

    # 1. the customer sends 250 USDT from its own wallet to its deposit address
    address = deposit_address_for(customer, chain)
    assert address.index == FIRST_DEPOSIT_INDEX and address.account.name == "deposits"
    assert anvil.w3.eth.get_balance(address.address) == 0  # no gas of its own
    own_wallet = anvil.w3.eth.accounts[5]
    anvil.mint(usdt, own_wallet, 250 * BASE)
    anvil.transfer_from(usdt, own_wallet, address.address, 250 * BASE)

    watch(watcher, anvil, 0)  # seen at depth 1 of 3: not credited yet
    deposit = Deposit.objects.get(address=address)
    assert (deposit.state, deposit.amount_units) == (DepositState.SEEN, 250 * TOKENS)
    assert available(customer, usdt) == 0
    watch(watcher, anvil, chain.confirmations)
    deposit.refresh_from_db()
    assert deposit.state == DepositState.CONFIRMED and deposit.entry_id is not None
    assert available(customer, usdt) == 250 * TOKENS

    # 2. the customer pays the merchant 120 USDT online
    paid = client_for(customer).post(
        "/api/v1/payments/",
        {"payee": shop.username, "token": "USDT", "amount": "120"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="e2e-pay-1",
    )
    assert paid.status_code == 201, paid.json()
    assert paid.json()["state"] == "success"
    assert (available(customer, usdt), available(shop, usdt)) == (130 * TOKENS, 120 * TOKENS)

    # 3. the deposit address is swept to the hot wallet: gas top-up, then the transfer
    assert sweeps_run(chain)["started"] == 1
    sweep = Sweep.objects.get(address=address, token=usdt)
    assert sweep.state == SweepState.TOPPING_UP
    follow(chain, anvil, lambda: Sweep.objects.get(pk=sweep.pk).state in ("done", "failed"))
    sweep.refresh_from_db()
    assert sweep.state == SweepState.DONE, sweep.error
    assert sweep.topup.state == sweep.transfer.state == TxState.CONFIRMED
    assert (onchain(anvil, address.address), onchain(anvil, hot)) == (0, 250 * BASE)

    # 4. the merchant's payout: a new address waits its cool-down, then it is paid
    allowed = allowed_address_add(user=shop, chain_id=chain.chain_id, address=DESTINATION)
    with pytest.raises(DestinationCoolingDown):
        payout_create(user=shop, token=usdt, destination=DESTINATION)
    assert available(shop, usdt) == 120 * TOKENS and not Payout.objects.exists()
    later = allowed.usable_at + timedelta(seconds=1)
    payout, created = payout_create(
        user=shop, token=usdt, destination=DESTINATION, idempotency_key="e2e-payout", now=later
    )
    assert created and payout.amount_units == 120 * TOKENS - TOKENS // 2  # the 0.5 fee
    assert payouts_pay_due() == {"paid": 1, "batches": 1}
    assert payouts_pay_due() == {}  # nothing is paid twice
    follow(chain, anvil, lambda: Payout.objects.get(pk=payout.pk).state != PayoutState.IN_PROGRESS)

    payout.refresh_from_db()
    assert payout.state == PayoutState.PAID
    batch_tx = payout.batch.tx
    assert batch_tx.state == TxState.CONFIRMED
    assert batch_tx.to_address.lower() == batch_contract.address.lower()
    assert OutgoingTransaction.objects.filter(purpose=TxPurpose.PAYOUT).count() == 2  # + approve

    # 5. the chain and the books agree
    assert onchain(anvil, DESTINATION) == 119 * BASE + BASE // 2 == int(payout.amount_onchain)
    assert onchain(anvil, hot) == 130 * BASE + BASE // 2
    assert available(shop, usdt) == 0 and available(customer, usdt) == 130 * TOKENS
    assert ledger_check_run(record=False).drift_count == 0
    assert reserved_mismatches() == []
    custody = LedgerAccount.objects.get(owner=None, token=usdt, kind=AccountKind.CUSTODY)
    assert -custody.balance * 10**12 == onchain(anvil, hot)  # all of it is in the hot wallet
    watch(watcher, anvil, chain.confirmations)
    watcher.lease_release()
    run = reconcile_run(chain=chain)
    assert run.state == ReconciliationState.CLEAN, [
        (line.token.symbol, line.kind, line.address, line.difference_units, line.note)
        for line in run.lines.all()
        if line.difference_units or not line.explained
    ]
    assert run.drift_units == 0
