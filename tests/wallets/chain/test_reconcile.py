"""Custody reconciliation on anvil (wallets.chain.reconcile): the ledger's CUSTODY against
the balances of the platform's addresses at a block, differences per address, explained
or drift (docs/deposits.md, "Reconciliation")."""

from __future__ import annotations

import logging

import pytest

from fastpay.models import OutboxEvent
from tests.wallets.chain.reconcile_fixtures import (
    cursor_to_head,
    deposit_record,
    platform_address,
    sweep_send,
)
from wallets.chain import reconcile
from wallets.chain.models import (
    DepositState,
    ReconciliationLine,
    ReconciliationRun,
    ReconciliationState,
    TxState,
)
from wallets.chain.reconcile import Holding, ReconcileError, reconcile_run
from wallets.services.adjustments import ledger_adjust

pytestmark = pytest.mark.django_db

USDT = 10**18  # one USDT in base units (18 decimals; ledger 6: 10**12 base per unit)
USDC = 10**6


def _lines(run, **filters):
    return list(ReconciliationLine.objects.filter(run=run, **filters))


def _total(run, token):
    return ReconciliationLine.objects.get(run=run, token=token, kind="total")


def test_it_is_clean_after_deposits_are_credited(chain, usdt, usdc, anvil, deposit_address):
    alice, _ = deposit_address()
    bob, _ = deposit_address()
    deposit_record(usdt, alice, anvil.mint(usdt, alice.address, 12 * USDT))
    deposit_record(usdc, bob, anvil.mint(usdc, bob.address, 7 * USDC))
    deposit_record(usdt, bob, anvil.mint(usdt, bob.address, 3 * USDT))
    cursor_to_head(chain, anvil)

    run = reconcile_run(chain=chain)

    assert run.state == ReconciliationState.CLEAN
    assert run.drift_units == 0
    assert run.block_number == anvil.w3.eth.block_number
    assert run.block_hash == anvil.head().hash.to_0x_hex()
    total = _total(run, usdt)
    assert (total.onchain_units, total.ledger_units, total.difference_units) == (
        15_000_000,
        15_000_000,
        0,
    )
    assert _total(run, usdc).ledger_units == 7_000_000
    line = ReconciliationLine.objects.get(run=run, token=usdt, address=alice.address)
    assert (line.kind, line.onchain_units, line.ledger_units, line.explained) == (
        "deposit_address",
        12_000_000,
        12_000_000,
        True,
    )
    assert not OutboxEvent.objects.filter(topic="custody.drift").exists()


def test_tokens_minted_straight_to_the_hot_wallet_are_drift_on_the_hot_line(
    chain, usdt, anvil, deposit_address, caplog
):
    alice, _ = deposit_address()
    hot, _ = platform_address(chain)
    deposit_record(usdt, alice, anvil.mint(usdt, alice.address, 5 * USDT))
    anvil.mint(usdt, hot.address, 2 * USDT)  # no deposit, no entry: nobody knows of it
    cursor_to_head(chain, anvil)

    with caplog.at_level(logging.ERROR, logger="wallets.chain.reconcile"):
        run = reconcile_run(chain=chain)

    assert run.state == ReconciliationState.DRIFT
    assert run.drift_units == 2_000_000
    (hot_line,) = _lines(run, token=usdt, address=hot.address)
    assert (hot_line.kind, hot_line.onchain_units, hot_line.ledger_units) == ("hot", 2_000_000, 0)
    assert hot_line.difference_units == 2_000_000 and not hot_line.explained
    total = _total(run, usdt)
    assert total.difference_units == 2_000_000 and not total.explained
    assert "custody drift" in caplog.text and "USDT +2000000 units" in caplog.text
    event = OutboxEvent.objects.get(topic="custody.drift")
    assert event.payload["drift_units"] == {"USDT": 2_000_000}
    assert event.payload["addresses"] == [hot.address]


def test_a_ledger_adjustment_without_chain_movement_is_drift(chain, usdt, anvil, deposit_address):
    alice, _ = deposit_address()
    deposit_record(usdt, alice, anvil.mint(usdt, alice.address, 5 * USDT))
    ledger_adjust(
        user=alice.user,
        token=usdt,
        amount=1_500_000,
        reason="credited by hand",
        operator=None,
        idempotency_key="adj-1",
    )
    cursor_to_head(chain, anvil)

    run = reconcile_run(chain=chain)

    assert run.state == ReconciliationState.DRIFT
    assert run.drift_units == 1_500_000
    total = _total(run, usdt)
    assert (total.onchain_units, total.ledger_units, total.difference_units) == (
        5_000_000,
        6_500_000,
        -1_500_000,
    )
    # no address is off: the deposit address holds what its deposits say
    assert all(line.explained for line in _lines(run, token=usdt, kind="deposit_address"))


def test_a_seen_deposit_not_yet_credited_is_explained(chain, usdt, anvil, deposit_address):
    alice, _ = deposit_address()
    deposit_record(usdt, alice, anvil.mint(usdt, alice.address, 5 * USDT))
    deposit_record(usdt, alice, anvil.mint(usdt, alice.address, 4 * USDT), state=DepositState.SEEN)
    cursor_to_head(chain, anvil)

    run = reconcile_run(chain=chain)

    assert run.state == ReconciliationState.EXPLAINED
    (seen,) = _lines(run, token=usdt, kind="seen_deposit")
    assert (seen.address, seen.onchain_units, seen.explained) == (alice.address, 4_000_000, True)
    total = _total(run, usdt)
    assert (total.onchain_units, total.ledger_units, total.explained) == (
        9_000_000,
        5_000_000,
        True,
    )


def test_dust_below_one_ledger_unit_is_explained(chain, usdt, anvil, deposit_address):
    alice, _ = deposit_address()
    deposit_record(usdt, alice, anvil.mint(usdt, alice.address, 2 * USDT + 777))

    cursor_to_head(chain, anvil)
    run = reconcile_run(chain=chain)

    assert run.state == ReconciliationState.EXPLAINED
    (dust,) = _lines(run, token=usdt, kind="dust")
    assert dust.explained and "777" in dust.note


def test_an_in_flight_sweep_is_explained_on_both_addresses(chain, usdt, anvil, deposit_address):
    alice, key = deposit_address()
    hot, _ = platform_address(chain)
    deposit_record(usdt, alice, anvil.mint(usdt, alice.address, 5 * USDT))
    # mined, not yet at its confirmation depth: the sender has not recorded its outcome
    sweep_send(anvil, chain, usdt, key, hot.address, 5 * USDT, state=TxState.MINED)
    cursor_to_head(chain, anvil)

    run = reconcile_run(chain=chain)

    assert run.state == ReconciliationState.EXPLAINED
    by_address = {
        line.address: line for line in _lines(run, token=usdt, kind__in=("hot", "deposit_address"))
    }
    assert by_address[alice.address].difference_units == -5_000_000
    assert by_address[hot.address].difference_units == 5_000_000
    assert all(line.explained and "in flight" in line.note for line in by_address.values())
    assert _total(run, usdt).difference_units == 0


def test_a_confirmed_sweep_is_ledger_neutral(chain, usdt, anvil, deposit_address):
    alice, key = deposit_address()
    hot, _ = platform_address(chain)
    deposit_record(usdt, alice, anvil.mint(usdt, alice.address, 5 * USDT))
    sweep_send(anvil, chain, usdt, key, hot.address, 5 * USDT)
    cursor_to_head(chain, anvil)

    run = reconcile_run(chain=chain)

    assert run.state == ReconciliationState.CLEAN
    hot_line = ReconciliationLine.objects.get(run=run, token=usdt, address=hot.address)
    assert (hot_line.onchain_units, hot_line.ledger_units) == (5_000_000, 5_000_000)


def test_a_past_block_uses_the_balances_at_that_block(chain, usdt, anvil, deposit_address):
    alice, _ = deposit_address()
    first = anvil.mint(usdt, alice.address, 5 * USDT)
    deposit_record(usdt, alice, first)
    past = first["blockNumber"]
    deposit_record(usdt, alice, anvil.mint(usdt, alice.address, 3 * USDT))
    cursor_to_head(chain, anvil)

    run = reconcile_run(chain=chain, block=past)

    assert run.block_number == past
    assert run.block_hash == first["blockHash"].to_0x_hex()
    line = ReconciliationLine.objects.get(run=run, token=usdt, address=alice.address)
    assert (line.onchain_units, line.ledger_units) == (5_000_000, 5_000_000)
    (later,) = _lines(run, token=usdt, kind="credited_after_block")
    assert later.ledger_units == 3_000_000 and later.explained
    assert run.state == ReconciliationState.EXPLAINED
    # a block before the deposit: nothing on the chain, both credits came later
    before = reconcile_run(chain=chain, block=past - 1)
    assert _total(before, usdt).onchain_units == 0
    assert before.state == ReconciliationState.EXPLAINED


def test_a_block_the_watcher_has_not_reached_is_refused(chain, usdt, anvil):
    cursor = cursor_to_head(chain, anvil)
    anvil.mine(2)
    with pytest.raises(ReconcileError) as refused:
        reconcile_run(chain=chain, block=cursor + 1)
    assert (refused.value.code, refused.value.param) == ("block_not_watched", "block")
    assert not ReconciliationRun.objects.exists()


def test_a_reorg_the_watcher_has_not_followed_is_an_error_run(chain, usdt, anvil):
    anvil.mine(1)
    cursor_to_head(chain, anvil)
    accounts = anvil.w3.eth.accounts
    anvil.reorg(1, [({"from": accounts[0], "to": accounts[1], "value": hex(1)}, 0)])
    run = reconcile_run(chain=chain)
    assert run.state == ReconciliationState.ERROR
    assert "reorg" in run.error


def test_an_unreachable_chain_is_an_error_run(chain, usdt, anvil):
    cursor_to_head(chain, anvil)
    chain.rpc_urls = ["http://127.0.0.1:9"]
    chain.save()
    reader = reconcile.BalanceReader(chain)
    reader.rpc.retries = 0
    run = reconcile_run(chain=chain, reader=reader)
    assert run.state == ReconciliationState.ERROR and "eth_getBlockByNumber" in run.error
    assert not run.lines.exists()


def test_registered_holdings_count_and_a_failing_holder_makes_an_error(
    chain, usdt, anvil, deposit_address
):
    alice, _ = deposit_address()
    deposit_record(usdt, alice, anvil.mint(usdt, alice.address, 5 * USDT))
    vault = "0x" + "ab" * 20
    # a holder's tokens the ledger counts: credited by hand against custody
    ledger_adjust(
        user=alice.user,
        token=usdt,
        amount=2_000_000,
        reason="vault",
        operator=None,
        idempotency_key="adj-vault",
    )

    def holder(chain_, token, block):
        if token.symbol != "USDT":
            return []
        return [("vault", vault, 2 * USDT, "held in a vault")]

    reconcile.holdings_register(holder)
    try:
        cursor_to_head(chain, anvil)
        run = reconcile_run(chain=chain)
        assert run.state == ReconciliationState.CLEAN
        line = ReconciliationLine.objects.get(run=run, token=usdt, kind="vault")
        assert (line.address, line.onchain_units, line.note) == (
            vault,
            2_000_000,
            "held in a vault",
        )

        def broken(chain_, token, block):
            raise RuntimeError("committee unreachable")

        reconcile.holdings_register(broken)
        run = reconcile_run(chain=chain)
        assert run.state == ReconciliationState.ERROR and "committee unreachable" in run.error
        reconcile.holdings_unregister(broken)

        def explains(chain_, token, block):
            if token.symbol != "USDT":
                return []
            # the ledger paid a withdrawal whose transaction is not mined yet
            return [Holding("withdrawal", vault, USDT, "paid, not mined", explanation=True)]

        reconcile.holdings_register(explains)
        ledger_adjust(
            user=alice.user,
            token=usdt,
            amount=-1_000_000,
            reason="withdrawn",
            operator=None,
            idempotency_key="adj-withdrawal",
        )
        run = reconcile_run(chain=chain)
        assert run.state == ReconciliationState.EXPLAINED
        (withdrawal,) = _lines(run, token=usdt, kind="withdrawal")
        assert withdrawal.difference_units == 1_000_000 and withdrawal.explained
        reconcile.holdings_unregister(explains)
    finally:
        reconcile.holdings_unregister(holder)
