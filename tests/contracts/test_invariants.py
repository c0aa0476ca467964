"""Property: whatever mix of deposits, withdrawals, redemptions and refused transfer
certificates happens, the vault's token balance equals the sum of its internal balances (pool +
every account), per token; and a transfer certificate (not a redemption) never settles."""

import itertools

import pytest
from batch_signing import sign_batch
from brownie.test import given, strategy
from certificates import certify
from conftest import UNIT
from hypothesis import settings
from hypothesis import strategies as st

from fastpay_protocol import typed_data as td

DEPOSIT, COMMITTEE_BATCH, CERTIFICATE, WITHDRAW, TRANSFER = range(5)
# fresh sequences and batch ids whether or not the chain is reset between examples (any
# unused sequence settles, in any order: the processor keeps a bitmap per sender)
_fresh = itertools.count(1)

operations = st.lists(
    st.tuples(
        strategy("uint8", max_value=4),  # operation
        strategy("uint8", max_value=2),  # user index
        strategy("uint8", max_value=1),  # token index
        strategy("uint256", min_value=1, max_value=400),  # whole USD
        strategy("uint256", max_value=10**6 - 1),  # extra ledger units (sub-dollar)
    ),
    min_size=1,
    max_size=8,
)


@pytest.fixture(scope="module")
def users(funded, alice, bob, carol):
    return [alice, bob, carol]


def assert_vault_balances_add_up(vault, tokens, users):
    for token in tokens:
        internal = vault.poolBalance(token) + sum(vault.balanceOf(u, token) for u in users)
        assert token.balanceOf(vault) == internal


@given(ops=operations)
@settings(max_examples=20)
def test_the_vault_always_holds_exactly_its_internal_balances(
    ops, users, vault, registry, processor, usdt, usdc, settler, domain, committee
):
    tokens = [usdt, usdc]
    for op, who, token_index, dollars, extra in ops:
        user, other = users[who], users[(who + 1) % 3]
        token = tokens[token_index]
        units = dollars * UNIT + extra
        scale = vault.scaleOf(token)
        if op == DEPOSIT:
            registry.depositTokens(token, units * scale, {"from": user})
        elif op == COMMITTEE_BATCH:
            seq, batch_id = next(_fresh), next(_fresh)
            words = td.pack_batch_items(
                [td.BatchItem.redemption(str(user), seq, token_index, units)]
            )
            signatures = sign_batch(domain, processor, 1, batch_id, words, committee[:3])
            processor.submitCommitteeBatch(1, batch_id, words, signatures, {"from": settler})
        elif op in (CERTIFICATE, TRANSFER):
            seq = next(_fresh)
            recipient = processor.address if op == CERTIFICATE else str(other)
            order = td.TransferOrder(str(user), recipient, token.address, units, seq, 1)
            before = [vault.balanceOf(u, token) for u in users]
            tx = processor.submitBatch(
                [order.as_tuple()], [certify(domain, order, committee[:3])], {"from": settler}
            )
            if op == TRANSFER:
                assert tx.return_value == 0
                assert [vault.balanceOf(u, token) for u in users] == before
                assert not processor.isRedeemed(user, seq)
        else:
            amount = min(vault.balanceOf(user, token), units * scale)
            if amount:
                vault.withdraw(token, amount, user, {"from": user})
        assert_vault_balances_add_up(vault, tokens, users)
