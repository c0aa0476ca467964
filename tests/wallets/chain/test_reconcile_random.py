# ruff: noqa: F811 - the fixtures imported from sender_fixtures are parameters here
"""A random sequence of deposits (credited by the real watcher), sweeps and payments ends
reconciled: CUSTODY equals what the platform's addresses hold, every difference explained.

Two variants. With the sweeper: wallets.chain.sweeps and the sender as the beat runs them
(HD-derived deposit addresses, gas topped up from the gas station, CHAIN_FEE entries).
With direct transfers: the deposit address's own key sends the ERC-20 transfer straight to
anvil and the test records it as the sender records a confirmed sweep
(reconcile_fixtures.sweep_send), on the conftest's non-HD deposit addresses.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.wallets.chain.reconcile_fixtures import platform_address, sweep_send
from tests.wallets.chain.sender_fixtures import (  # noqa: F401 (fixtures)
    hd_keys,
    platform,
    sender_deposit_address,
    set_native,
)
from tests.wallets.factories import UserFactory
from wallets.chain.models import (
    Deposit,
    DepositState,
    ReconciliationState,
    Sweep,
    SweepState,
    TokenPolicy,
)
from wallets.chain.reconcile import reconcile_run
from wallets.chain.sender import tx_follow
from wallets.chain.sweeps import sweeps_run
from wallets.chain.watcher import Watcher
from wallets.models import AccountKind, LedgerAccount
from wallets.services.payments import PaymentItem, payment_create

pytestmark = pytest.mark.django_db

USERS = 3
_keys = {}  # deposit address -> its key, across the examples (the rows stay in the db)
ACTIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("deposit"),
            st.integers(0, USERS - 1),
            st.sampled_from(["USDT", "USDC"]),
            st.integers(1, 20_000_000),  # ledger units
            st.booleans(),  # USDT: plus dust below one ledger unit (18 decimals)
        ),
        st.tuples(st.just("sweep"), st.integers(0, USERS - 1), st.sampled_from(["USDT", "USDC"])),
        st.tuples(
            st.just("pay"),
            st.integers(0, USERS - 1),
            st.integers(0, USERS - 1),
            st.sampled_from(["USDT", "USDC"]),
            st.integers(1, 3_000_000),
        ),
        st.tuples(st.just("watch")),
    ),
    min_size=1,
    max_size=10,
)


def _watch(watcher, anvil, confirmations=3):
    anvil.mine(confirmations)
    for _ in range(20):
        if watcher.tick().state == "idle":
            return
    raise AssertionError("the watcher did not catch up")


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=ACTIONS)
def test_a_random_sequence_ends_reconciled(chain, chain_tokens, anvil, deposit_address, actions):
    hot = chain.platform_addresses.filter(role="hot").first() or platform_address(chain)[0]
    users = [UserFactory(username=f"rnd{i}") for i in range(USERS)]
    addresses = []
    for user in users:
        row = chain.deposit_addresses.filter(user=user).first()
        addresses.append((row, None) if row else deposit_address(user))
    for row, key in addresses:
        if key is not None:
            _keys[row.address] = key
    watcher = Watcher(chain, owner="test-random")

    for action in actions:
        kind = action[0]
        if kind == "deposit":
            _, i, symbol, units, dusty = action
            token = chain_tokens[symbol]
            base = units * 10 ** (token.decimals - token.ledger_decimals)
            anvil.mint(token, addresses[i][0].address, base + (777 if dusty else 0))
        elif kind == "sweep":
            _, i, symbol = action
            token = chain_tokens[symbol]
            row = addresses[i][0]
            balance = anvil.contract(token).functions.balanceOf(row.address).call()
            if balance:
                sweep_send(anvil, chain, token, _keys[row.address], hot.address, balance)
        elif kind == "pay":
            _, i, j, symbol, units = action
            token = chain_tokens[symbol]
            available = LedgerAccount.objects.filter(
                owner=users[i], token=token, kind=AccountKind.AVAILABLE
            ).first()
            if i != j and available and available.balance >= units:
                payment_create(
                    payer=users[i],
                    item=PaymentItem(payee=users[j].username, token=token, amount=units),
                )
        else:
            _watch(watcher, anvil, confirmations=1)

    _watch(watcher, anvil)
    watcher.lease_release()
    assert not Deposit.objects.filter(chain=chain, state=DepositState.SEEN).exists()

    run = reconcile_run(chain=chain)

    assert run.state in (ReconciliationState.CLEAN, ReconciliationState.EXPLAINED), [
        (line.token.symbol, line.kind, line.address, line.difference_units, line.note)
        for line in run.lines.all()
        if not line.explained
    ]
    assert run.drift_units == 0
    assert all(line.explained for line in run.lines.all())
    if ("sweep",) in actions[2:] and actions[0][0] == "deposit":
        assert Sweep.objects.filter(state=SweepState.DONE).exists()  # the sweeper did sweep
    dust = Deposit.objects.filter(chain=chain).exclude(dust_onchain="0").exists() or (
        Deposit.objects.filter(chain=chain, state=DepositState.DUST).exists()
    )
    assert run.state == (ReconciliationState.EXPLAINED if dust else ReconciliationState.CLEAN)


SWEEP_ACTIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("deposit"),
            st.integers(0, USERS - 1),
            st.sampled_from(["USDT", "USDC"]),
            st.integers(1, 20_000_000),
            st.booleans(),
        ),
        st.tuples(st.just("sweep")),
        st.tuples(
            st.just("pay"),
            st.integers(0, USERS - 1),
            st.integers(0, USERS - 1),
            st.sampled_from(["USDT", "USDC"]),
            st.integers(1, 3_000_000),
        ),
        st.tuples(st.just("watch")),
    ),
    min_size=1,
    max_size=8,
)


def _sweep_all(chain, anvil, watcher):
    """wallets.chain.sweeps and the sender as the beat runs them, until nothing is in
    flight (each round mines past the confirmation depth)."""
    _watch(watcher, anvil, confirmations=1)
    sweeps_run(chain)
    for _ in range(12):
        anvil.mine(3)
        tx_follow(chain)
        sweeps_run(chain)
        if not Sweep.objects.filter(
            state__in=(SweepState.TOPPING_UP, SweepState.SWEEPING)
        ).exists():
            return
    raise AssertionError("sweeps still in flight")


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=SWEEP_ACTIONS)
@example(
    actions=[
        ("deposit", 0, "USDT", 5_000_000, True),
        ("deposit", 1, "USDC", 7_000_000, False),
        ("sweep",),
        ("pay", 0, 2, "USDT", 1_000_000),
        ("deposit", 0, "USDT", 2_000_000, False),
        ("sweep",),
    ]
)
def test_a_random_sequence_with_the_sweeper_ends_reconciled(
    chain, chain_tokens, anvil, platform, set_native, sender_deposit_address, actions
):
    """The same with wallets.chain.sweeps and the sender (HD-derived deposit addresses,
    gas topped up from the gas station, CHAIN_FEE entries for the gas)."""
    set_native(platform["gas_station"].address, 10**20)
    for token in chain_tokens.values():
        TokenPolicy.objects.filter(token=token).update(sweep_threshold_units=1_000_000)
    users = [UserFactory(username=f"swp{i}") for i in range(USERS)]
    addresses = [
        chain.deposit_addresses.filter(user=user).first() or sender_deposit_address(user)
        for user in users
    ]
    watcher = Watcher(chain, owner="test-random-sweeps")
    for action in actions:
        if action[0] == "deposit":
            _, i, symbol, units, dusty = action
            token = chain_tokens[symbol]
            base = units * 10 ** (token.decimals - token.ledger_decimals)
            anvil.mint(token, addresses[i].address, base + (777 if dusty else 0))
        elif action[0] == "sweep":
            _sweep_all(chain, anvil, watcher)
        elif action[0] == "pay":
            _, i, j, symbol, units = action
            token = chain_tokens[symbol]
            available = LedgerAccount.objects.filter(
                owner=users[i], token=token, kind=AccountKind.AVAILABLE
            ).first()
            if i != j and available and available.balance >= units:
                payment_create(
                    payer=users[i],
                    item=PaymentItem(payee=users[j].username, token=token, amount=units),
                )
        else:
            _watch(watcher, anvil, confirmations=1)
    _watch(watcher, anvil)
    watcher.lease_release()

    run = reconcile_run(chain=chain)

    assert run.drift_units == 0, [
        (line.token.symbol, line.kind, line.address, line.difference_units, line.note)
        for line in run.lines.all()
        if not line.explained
    ]
    assert run.state in (ReconciliationState.CLEAN, ReconciliationState.EXPLAINED)
    assert all(line.explained for line in run.lines.all())
    if ("sweep",) in actions[2:] and actions[0][0] == "deposit":
        assert Sweep.objects.filter(state=SweepState.DONE).exists()  # the sweeper did sweep
