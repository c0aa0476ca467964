# ruff: noqa: F811 - the fixtures imported from sender_fixtures are parameters here
"""Sweeping deposit addresses to the hot wallet on anvil: a gas top-up from the gas station
first, the ERC-20 transfer signed by the address's own HD key, both gas costs as CHAIN_FEE
entries; nothing below the threshold, one sweep in flight per address and token."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from tests.wallets.chain.sender_fixtures import (  # noqa: F401
    credit,
    hd_keys,
    platform,
    sender_deposit_address,
    set_native,
)
from wallets.chain.models import (
    Deposit,
    DepositState,
    OutgoingTransaction,
    Sweep,
    SweepState,
    TokenPolicy,
    TxPurpose,
    TxState,
)
from wallets.chain.sender import native_token, tx_follow
from wallets.chain.sweeps import sweep_start, sweeps_run
from wallets.models import AccountKind, EntryKind, JournalEntry, LedgerAccount
from wallets.services.checks import ledger_check_run

TOKEN = 10**18  # one MockUSDT (18 decimals)


@pytest.fixture
def station(platform, set_native):
    set_native(platform["gas_station"].address, 10**18)
    return platform["gas_station"].address


@pytest.fixture
def threshold(usdt):
    """USDT addresses are swept from 100 USDT on (ledger units: 6 decimals)."""
    TokenPolicy.objects.filter(token=usdt).update(sweep_threshold_units=100 * 10**6)
    return 100 * TOKEN


def follow_until_settled(chain, anvil, sweep, rounds: int = 8):
    for _ in range(rounds):
        anvil.mine(1)
        tx_follow(chain)
        sweeps_run(chain)
        sweep.refresh_from_db()
        if sweep.state in (SweepState.DONE, SweepState.FAILED):
            return sweep
    raise AssertionError(f"sweep {sweep.pk} still {sweep.state}")


def test_a_sweep_tops_up_gas_then_moves_the_tokens_to_the_hot_wallet(
    chain, anvil, usdt, platform, station, threshold, sender_deposit_address, credit
):
    w3 = anvil.w3
    address = sender_deposit_address()
    credit(address, usdt, 150 * TOKEN)
    hot = platform["hot"].address
    station_before = w3.eth.get_balance(station)
    assert w3.eth.get_balance(address.address) == 0

    assert sweeps_run(chain)["started"] == 1
    sweep = Sweep.objects.get(address=address, token=usdt)
    assert sweep.state == SweepState.TOPPING_UP and sweep.transfer is None
    topup = sweep.topup
    assert (topup.purpose, topup.from_address, topup.to_address) == (
        TxPurpose.GAS_TOPUP,
        station,
        address.address,
    )
    assert sweep.amount_onchain == str(150 * TOKEN)

    sweep = follow_until_settled(chain, anvil, sweep)

    assert sweep.state == SweepState.DONE, sweep.error
    topup.refresh_from_db()
    transfer = sweep.transfer
    assert (topup.state, transfer.state) == (TxState.CONFIRMED, TxState.CONFIRMED)
    assert transfer.signer == f"hd:0/{address.index}" and transfer.from_address == address.address
    # on-chain: the tokens are at the hot wallet, the gas station paid the top-up and its gas
    assert anvil.usdt.functions.balanceOf(address.address).call() == 0
    assert anvil.usdt.functions.balanceOf(hot).call() == 150 * TOKEN
    value = int(topup.value_wei)
    assert station_before - w3.eth.get_balance(station) == value + int(topup.fee_wei)
    assert w3.eth.get_balance(address.address) == value - int(transfer.fee_wei)
    # both gas costs are CHAIN_FEE entries; the ledger stays clean
    fees = JournalEntry.objects.filter(kind=EntryKind.CHAIN_FEE)
    assert {e.reference for e in fees} == {f"chain_tx:{topup.pk}", f"chain_tx:{transfer.pk}"}
    fee_account = LedgerAccount.objects.get(token=native_token(chain), kind=AccountKind.FEES)
    assert -fee_account.balance == int(topup.fee_wei) // 10**6 + int(transfer.fee_wei) // 10**6
    assert ledger_check_run().drift_count == 0

    # swept: the next pass finds nothing to do for this address
    assert sweeps_run(chain)["started"] == 0


def test_an_address_with_gas_is_swept_without_a_top_up(
    chain, anvil, usdt, platform, station, threshold, sender_deposit_address, credit, set_native
):
    address = sender_deposit_address()
    set_native(address.address, 10**17)
    credit(address, usdt, 100 * TOKEN)  # exactly the threshold

    sweep = sweep_start(address, usdt)

    assert sweep.state == SweepState.SWEEPING and sweep.topup is None
    sweep = follow_until_settled(chain, anvil, sweep)
    assert sweep.state == SweepState.DONE
    assert anvil.usdt.functions.balanceOf(platform["hot"].address).call() >= 100 * TOKEN
    assert not OutgoingTransaction.objects.filter(purpose=TxPurpose.GAS_TOPUP).exists()


def test_below_the_threshold_nothing_is_sent(
    chain, anvil, usdt, station, threshold, sender_deposit_address, credit
):
    address = sender_deposit_address()
    credit(address, usdt, 99 * TOKEN)

    counts = sweeps_run(chain)

    assert counts["started"] == 0 and counts["below_threshold"] == 1
    assert sweep_start(address, usdt) is None
    assert not Sweep.objects.exists() and not OutgoingTransaction.objects.exists()


def test_tokens_not_credited_yet_are_not_swept(
    chain, anvil, usdt, station, threshold, sender_deposit_address, credit
):
    address = sender_deposit_address()
    deposit = credit(address, usdt, 120 * TOKEN)
    credit(address, usdt, 60 * TOKEN)
    Deposit.objects.filter(pk=deposit.pk).update(state=DepositState.SEEN)

    sweep = sweep_start(address, usdt)  # 180 on-chain, 60 credited: below 100

    assert sweep is None
    Deposit.objects.filter(pk=deposit.pk).update(state=DepositState.CONFIRMED)
    assert sweep_start(address, usdt).amount_onchain == str(180 * TOKEN)


def test_one_sweep_in_flight_per_address_and_token(
    chain, anvil, usdt, station, threshold, sender_deposit_address, credit
):
    address = sender_deposit_address()
    credit(address, usdt, 200 * TOKEN)

    first = sweep_start(address, usdt)
    assert first is not None and first.state == SweepState.TOPPING_UP
    assert sweep_start(address, usdt) is None  # the partial unique index refuses a second
    assert sweeps_run(chain)["started"] == 0  # and the beat does not even try
    with pytest.raises(IntegrityError), transaction.atomic():
        Sweep.objects.create(
            address=address, token=usdt, amount_onchain="1", state=SweepState.SWEEPING
        )
    assert Sweep.objects.count() == 1
    assert OutgoingTransaction.objects.filter(purpose=TxPurpose.GAS_TOPUP).count() == 1


class NodeDownAtBroadcast:
    """The chain's RPC, except that broadcasting fails (the node went away right then)."""

    def __init__(self, chain):
        from wallets.chain.rpc import rpc_for

        self._rpc = rpc_for(chain)

    def __getattr__(self, name):
        return getattr(self._rpc, name)

    def send_raw(self, raw):
        from wallets.chain.rpc import RpcError

        raise RpcError("connection refused")


def test_a_dropped_transfer_fails_the_sweep_and_is_not_retried_at_once(
    chain, anvil, usdt, station, threshold, sender_deposit_address, credit, set_native
):
    from eth_account import Account

    from wallets.chain import hd
    from wallets.chain.sweeps import transfer_data

    address = sender_deposit_address()
    set_native(address.address, 10**17)
    credit(address, usdt, 150 * TOKEN)
    sweep = sweep_start(address, usdt, rpc=NodeDownAtBroadcast(chain))
    assert sweep.state == SweepState.SWEEPING and sweep.transfer.state == TxState.SIGNED
    # meanwhile the address's key (leaked?) spends that nonce elsewhere
    w3 = anvil.w3
    elsewhere = "0x000000000000000000000000000000000000dEaD"
    foreign = Account.sign_transaction(
        {
            "chainId": chain.chain_id,
            "nonce": sweep.transfer.nonce,
            "to": usdt.contract_address,
            "data": transfer_data(elsewhere, 150 * TOKEN),
            "value": 0,
            "gas": 100_000,
            "maxFeePerGas": 10**9,
            "maxPriorityFeePerGas": 0,
        },
        hd.private_key_at(hd.seed_load(), 0, address.index),
    )
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(foreign.raw_transaction))

    sweep = follow_until_settled(chain, anvil, sweep)

    assert sweep.state == SweepState.FAILED and "dropped" in sweep.error
    assert sweep.transfer.state == TxState.DROPPED
    assert anvil.usdt.functions.balanceOf(elsewhere).call() == 150 * TOKEN
    credit(address, usdt, 150 * TOKEN)
    assert sweeps_run(chain)["started"] == 0  # a failed address waits SWEEP_RETRY_AFTER


def test_a_chain_without_a_gas_station_sweeps_nothing_and_says_why(
    chain, anvil, usdt, hd_keys, threshold, sender_deposit_address, credit
):
    address = sender_deposit_address()  # no platform addresses: wallet_init not run
    credit(address, usdt, 150 * TOKEN)

    counts = sweeps_run(chain)

    assert counts["errors"] == 1 and counts["started"] == 0
    assert not Sweep.objects.exists() and not OutgoingTransaction.objects.exists()
