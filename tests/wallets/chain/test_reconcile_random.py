"""A random sequence of deposits (credited by the real watcher), sweeps and payments ends
reconciled: CUSTODY equals what the platform's addresses hold, every difference explained.

Sweeps here are ERC-20 transfers signed by the deposit address's own key, sent straight to
anvil and recorded as the sender records a confirmed sweep (reconcile_fixtures.sweep_send):
the conftest's deposit addresses are fresh keys, not derived from an HD seed, so
wallets.chain.sweeps (which signs "hd:<account>/<index>") cannot sign for them. The
reconciliation sees the same rows either way: an OutgoingTransaction CONFIRMED at its block
moving the tokens to the hot wallet, a ledger-neutral move.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.wallets.chain.reconcile_fixtures import platform_address, sweep_send
from tests.wallets.factories import UserFactory
from wallets.chain.models import Deposit, DepositState, ReconciliationState
from wallets.chain.reconcile import reconcile_run
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
    dust = Deposit.objects.filter(chain=chain).exclude(dust_onchain="0").exists() or (
        Deposit.objects.filter(chain=chain, state=DepositState.DUST).exists()
    )
    assert run.state == (ReconciliationState.EXPLAINED if dust else ReconciliationState.CLEAN)
