"""Deposits on a real anvil with real ERC-20s (MockUSDT 18 decimals, MockUSDC 6): seen at
once, credited once at the required depth and not before, exact conversion, dust recorded
and never credited, the dust limit, confirmation tiers, events to the outbox."""

import pytest

from fastpay.models import OutboxEvent
from tests.wallets.chain.watcher_fixtures import (
    CONFIRMED,
    DUST,
    SEEN,
    balance,
    credited_entries,
    ledger_clean,
    states,
    tx_hex,
    watch,
)
from wallets.chain.models import ConfirmationTier, Deposit, TokenPolicy
from wallets.chain.watcher import Watcher

pytestmark = pytest.mark.django_db


def test_a_deposit_is_credited_once_after_the_required_confirmations(
    chain, usdt, mint, mine, deposit_address
):
    address, _ = deposit_address()
    user = address.user
    receipt = mint(usdt, address.address, 12 * 10**18 + 5)
    watcher = Watcher(chain)

    watch(watcher)
    deposit = Deposit.objects.get()
    assert deposit.state == SEEN
    assert deposit.tx_hash == tx_hex(receipt)
    assert deposit.block_number == receipt.blockNumber
    assert deposit.amount_onchain == str(12 * 10**18 + 5)
    assert deposit.amount_units == 12 * 10**6
    assert deposit.dust_onchain == "5"
    assert deposit.confirmations_required == 3
    assert balance(user, usdt) == 0

    mine(1)  # depth 2 of 3: not yet
    watch(watcher)
    assert states() == [SEEN]
    assert balance(user, usdt) == 0

    mine(1)  # depth 3: credited
    watch(watcher)
    deposit.refresh_from_db()
    assert deposit.state == CONFIRMED
    assert deposit.entry is not None
    assert balance(user, usdt) == 12 * 10**6

    mine(5)  # more ticks, more blocks: never again
    watch(watcher)
    watch(Watcher(chain))
    assert credited_entries() == 1
    assert balance(user, usdt) == 12 * 10**6
    topics = list(
        OutboxEvent.objects.filter(aggregate_type="deposit").values_list("topic", flat=True)
    )
    assert sorted(topics) == ["deposit.confirmed", "deposit.seen"]
    confirmed = OutboxEvent.objects.get(topic="deposit.confirmed").payload
    assert confirmed["amount"] == "12.000000"
    assert confirmed["amount_units"] == 12 * 10**6
    assert confirmed["user_id"] == user.pk
    assert confirmed["required"] == 3
    assert confirmed["confirmations"] >= 3
    ledger_clean()


def test_exact_conversion_of_18_and_6_decimal_amounts_and_dust_not_credited(
    chain, usdt, usdc, mint, mine, deposit_address
):
    a, _ = deposit_address()
    b, _ = deposit_address()
    mint(usdt, a.address, 1 * 10**18 + 999_999_999_999)  # 1.000000 + dust just below a unit
    mint(usdt, a.address, 3 * 10**11)  # below one ledger unit: all dust
    mint(usdc, b.address, 7_654_321)  # 6 decimals: 7.654321, no dust possible
    mint(usdt, b.address, 2**70)  # beyond 64 bits on chain: exact digits
    mint(usdt, b.address, 2**255)  # beyond the ledger's 64 bits even in units: refused
    watcher = Watcher(chain)
    watch(watcher)
    mine(3)
    watch(watcher)

    rows = {
        (d.address_id, d.amount_onchain): d
        for d in Deposit.objects.select_related("token").order_by("pk")
    }
    big = rows[(a.pk, str(10**18 + 999_999_999_999))]
    assert (big.amount_units, big.dust_onchain, big.state) == (10**6, "999999999999", CONFIRMED)
    tiny = rows[(a.pk, str(3 * 10**11))]
    assert (tiny.amount_units, tiny.dust_onchain, tiny.state) == (0, str(3 * 10**11), DUST)
    assert tiny.entry is None
    six = rows[(b.pk, "7654321")]
    assert (six.amount_units, six.dust_onchain, six.state) == (7_654_321, "0", CONFIRMED)
    big = rows[(b.pk, str(2**70))]
    assert (big.amount_units, big.dust_onchain) == (2**70 // 10**12, str(2**70 % 10**12))
    assert (b.pk, str(2**255)) not in rows  # skipped, logged, counted (never a wrong credit)
    assert "malformed" in chain.cursor.__class__.objects.get(chain=chain).last_error

    assert balance(a.user, usdt) == 10**6
    assert balance(b.user, usdt) == 2**70 // 10**12
    assert balance(b.user, usdc) == 7_654_321
    assert OutboxEvent.objects.filter(topic="deposit.dust").count() == 1
    ledger_clean()


def test_below_min_deposit_units_is_dust(chain, usdc, mint, mine, deposit_address):
    TokenPolicy.objects.filter(token=usdc).update(min_deposit_units=1_000_000)  # 1 USDC
    address, _ = deposit_address()
    mint(usdc, address.address, 999_999)
    mint(usdc, address.address, 1_000_000)
    watcher = Watcher(chain)
    watch(watcher)
    mine(3)
    watch(watcher)
    assert states(token=usdc) == [DUST, CONFIRMED]
    assert balance(address.user, usdc) == 1_000_000
    dust = OutboxEvent.objects.get(topic="deposit.dust").payload
    assert dust["state"] == "dust"
    assert dust["amount_onchain"] == "999999"
    ledger_clean()


def test_confirmation_tiers_by_amount(chain, usdc, mint, mine, deposit_address):
    ConfirmationTier.objects.create(token=usdc, min_units=100 * 10**6, confirmations=6)
    address, _ = deposit_address()
    mint(usdc, address.address, 5 * 10**6)
    mint(usdc, address.address, 500 * 10**6)
    watcher = Watcher(chain)
    watch(watcher)
    assert sorted(Deposit.objects.values_list("confirmations_required", flat=True)) == [3, 6]
    mine(3)
    watch(watcher)
    assert balance(address.user, usdc) == 5 * 10**6
    mine(3)
    watch(watcher)
    assert balance(address.user, usdc) == 505 * 10**6
    ledger_clean()


def test_transfers_to_strangers_and_other_tokens_are_ignored(
    anvil, chain, usdc, mint, transfer_from, mine, deposit_address
):
    address, _ = deposit_address()
    stranger = anvil.w3.eth.accounts[3]
    mint(usdc, stranger, 10 * 10**6)
    transfer_from(usdc, stranger, anvil.w3.eth.accounts[4], 10**6)
    transfer_from(usdc, stranger, address.address, 2 * 10**6)  # from a normal account
    watcher = Watcher(chain)
    watch(watcher)
    mine(3)
    watch(watcher)
    deposit = Deposit.objects.get()
    assert deposit.from_address == stranger.lower()
    assert deposit.state == CONFIRMED
    assert balance(address.user, usdc) == 2 * 10**6
    ledger_clean()
