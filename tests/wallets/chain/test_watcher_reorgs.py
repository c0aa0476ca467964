"""Reorgs on a real anvil (anvil_reorg): shallower than the depth (nothing credited twice
or lost), a deposit re-included under the same or a new hash (credited once), deeper than
the depth after the credit (REVERSED: a reversal entry, a claim for what the user spent,
an event, an error log), deeper than the remembered window (stop and alert)."""

import logging

import pytest

from fastpay.models import OutboxEvent
from tests.wallets.chain.watcher_fixtures import (
    CONFIRMED,
    ORPHANED,
    REVERSED,
    SEEN,
    balance,
    credited_entries,
    ledger_clean,
    states,
    tx_hex,
    watch,
)
from wallets.chain.models import ChainBlock, Deposit, WatcherCursor
from wallets.chain.watcher import Watcher
from wallets.models import AccountKind, Claim, EntryKind, JournalEntry, LedgerAccount

pytestmark = pytest.mark.django_db


def _signed_transfer(anvil, token, sender, to, amount, *, nonce=None, tip=0):
    """A raw signed ERC-20 transfer from an eth_account key (not sent)."""
    contract = anvil.contract(token)
    tx = contract.functions.transfer(anvil.w3.to_checksum_address(to), amount).build_transaction(
        {
            "from": sender.address,
            "nonce": anvil.w3.eth.get_transaction_count(sender.address) if nonce is None else nonce,
            "gas": 100_000,
            "maxFeePerGas": 10**9 + tip,
            "maxPriorityFeePerGas": tip,
            "chainId": anvil.chain_id,
        }
    )
    signed = sender.sign_transaction(tx)
    return signed.raw_transaction.to_0x_hex(), signed.hash.to_0x_hex()


def _filler(anvil) -> dict:
    """A plain value transfer for anvil_reorg's new blocks: empty blocks re-mined on the
    same parent at the same time come out identical (the same hash: no reorg at all)."""
    a, b = anvil.w3.eth.accounts[5], anvil.w3.eth.accounts[6]
    return {
        "from": a,
        "to": b,
        "value": 1,
        "nonce": anvil.w3.eth.get_transaction_count(a),
        "gas": 21_000,
        "maxFeePerGas": 10**9,
        "maxPriorityFeePerGas": 0,
        "chainId": anvil.chain_id,
    }


@pytest.fixture
def payer(anvil, usdc):
    """An eth_account key holding USDC and gas (its transfers can be re-signed)."""
    from eth_account import Account

    key = Account.create()
    anvil.fund_gas(key.address)
    anvil.mint(usdc, key.address, 1000 * 10**6)
    return key


def test_a_reorg_shallower_than_the_depth_loses_nothing_and_credits_once(
    anvil, chain, usdc, payer, mine, deposit_address
):
    address, _ = deposit_address()
    other, _ = deposit_address()
    watcher = Watcher(chain)
    anvil.mint(usdc, other.address, 4 * 10**6)  # below the reorg: untouched
    mine(2)
    watch(watcher)  # remembers the blocks below the coming deposits
    sent = []
    for amount in (1 * 10**6, 2 * 10**6):
        raw, tx_hash = _signed_transfer(anvil, usdc, payer, address.address, amount)
        anvil.w3.eth.wait_for_transaction_receipt(anvil.w3.eth.send_raw_transaction(raw))
        sent.append((raw, tx_hash))
    watch(watcher)
    assert states(address=address) == [SEEN, SEEN]
    old = {d.tx_hash: d for d in Deposit.objects.filter(address=address)}

    # both blocks replaced; both transactions mined again together in the second one:
    # same hashes, another block (depth 2 < 3: nothing was credited yet)
    anvil.reorg(2, [[sent[0][0], 1], [sent[1][0], 1]])
    watch(watcher)
    for tx_hash, deposit in old.items():
        deposit.refresh_from_db()
        assert deposit.state == ORPHANED
        again = Deposit.objects.get(tx_hash=tx_hash, state=SEEN)
        assert again.block_hash != deposit.block_hash
        assert again.block_number == deposit.block_number + (tx_hash == sent[0][1])
    assert OutboxEvent.objects.filter(topic="deposit.orphaned").count() == 2

    mine(3)
    watch(watcher)
    assert states(address=other) == [CONFIRMED]
    assert states(address=address) == [ORPHANED, ORPHANED, CONFIRMED, CONFIRMED]
    assert balance(address.user, usdc) == 3 * 10**6
    assert balance(other.user, usdc) == 4 * 10**6
    assert credited_entries() == 3
    mine(4)
    watch(watcher)
    assert credited_entries() == 3
    ledger_clean()


def test_a_deposit_reincluded_under_a_new_hash_is_credited_once(
    anvil, chain, usdc, payer, mine, deposit_address
):
    address, _ = deposit_address()
    watcher = Watcher(chain)
    mine(2)
    watch(watcher)
    nonce = anvil.w3.eth.get_transaction_count(payer.address)
    raw, first_hash = _signed_transfer(anvil, usdc, payer, address.address, 5 * 10**6)
    anvil.w3.eth.wait_for_transaction_receipt(anvil.w3.eth.send_raw_transaction(raw))
    mine(1)  # depth 2 of 3
    watch(watcher)
    assert states() == [SEEN]

    # the payer's wallet re-signed the same payment with another tip: a new hash, same nonce
    raw2, second_hash = _signed_transfer(
        anvil, usdc, payer, address.address, 5 * 10**6, nonce=nonce, tip=10**8
    )
    assert second_hash != first_hash
    anvil.reorg(2, [[raw2, 0]])
    watch(watcher)
    assert Deposit.objects.get(tx_hash=first_hash).state == ORPHANED
    assert Deposit.objects.get(tx_hash=second_hash).state == SEEN

    mine(3)
    watch(watcher)
    assert Deposit.objects.get(tx_hash=second_hash).state == CONFIRMED
    assert Deposit.objects.get(tx_hash=first_hash).entry is None
    assert balance(address.user, usdc) == 5 * 10**6
    assert credited_entries() == 1
    ledger_clean()


def test_a_reorg_deeper_than_the_depth_after_the_credit_reverses_it_loudly(
    anvil, chain, usdc, bob, payer, mine, deposit_address, caplog
):
    from wallets.services.payments import PaymentItem, payment_create

    address, _ = deposit_address()
    user = address.user
    watcher = Watcher(chain)
    mine(2)
    watch(watcher)
    receipt = anvil.transfer_from(usdc, payer, address.address, 10 * 10**6)
    mine(3)
    watch(watcher)
    deposit = Deposit.objects.get()
    assert deposit.state == CONFIRMED
    assert balance(user, usdc) == 10 * 10**6

    # the user spends 7 of the 10 before the chain takes the deposit back
    payment_create(payer=user, item=PaymentItem(payee=bob.username, token=usdc, amount=7 * 10**6))
    assert balance(user, usdc) == 3 * 10**6

    caplog.set_level(logging.ERROR, logger="wallets.chain.deposits")
    anvil.reorg(5)  # the deposit's block and 4 above it, without the transfer
    watch(watcher)

    deposit.refresh_from_db()
    assert deposit.state == REVERSED
    assert deposit.reversal_entry.kind == EntryKind.DEPOSIT_REVERSAL
    assert balance(user, usdc) == 0
    claim = Claim.objects.get(reference=f"deposit:{deposit.pk}")
    assert (claim.user_id, claim.amount, claim.outstanding) == (user.pk, 7 * 10**6, 7 * 10**6)
    receivable = LedgerAccount.objects.get(token=usdc, kind=AccountKind.RECEIVABLE, owner=None)
    assert receivable.balance == -7 * 10**6
    event = OutboxEvent.objects.get(topic="deposit.reversed").payload
    assert (event["taken_back_units"], event["claim_units"]) == (3 * 10**6, 7 * 10**6)
    assert event["tx_hash"] == tx_hex(receipt)
    assert any("DEPOSIT REVERSED" in r.getMessage() for r in caplog.records)
    assert JournalEntry.objects.filter(kind=EntryKind.DEPOSIT_REVERSAL).count() == 1

    mine(5)
    watch(watcher)  # nothing happens twice
    assert JournalEntry.objects.filter(kind=EntryKind.DEPOSIT_REVERSAL).count() == 1
    assert states() == [REVERSED]
    ledger_clean()


def test_a_reorg_deeper_than_the_window_stops_the_watcher_and_alerts(
    anvil, chain, usdc, mine, deposit_address, caplog
):
    chain.block_window = 4
    chain.save()
    address, _ = deposit_address()
    watcher = Watcher(chain)
    mine(8)
    watch(watcher)
    anvil.mint(usdc, address.address, 10**6)
    watch(watcher)
    assert ChainBlock.objects.filter(chain=chain).count() == 5  # the window, plus one
    cursor_before = WatcherCursor.objects.get(chain=chain).block_number
    caplog.set_level(logging.CRITICAL, logger="wallets.chain.watcher")
    anvil.reorg(6, [[_filler(anvil), 0]])  # a transaction: the new blocks are not the same
    result = watcher.tick()
    print(
        result,
        cursor_before,
        anvil.w3.eth.block_number,
        list(ChainBlock.objects.values_list("number", flat=True)),
    )
    assert result.state == "stalled"
    assert "DEEPER THAN THE WINDOW" in WatcherCursor.objects.get(chain=chain).last_error
    assert WatcherCursor.objects.get(chain=chain).block_number == cursor_before
    assert any("DEEPER THAN THE WINDOW" in r.getMessage() for r in caplog.records)
    assert states() == [SEEN]  # never guessed, never credited
    mine(5)
    assert watcher.tick().state == "stalled"
    assert credited_entries() == 0
