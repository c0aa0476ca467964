"""Fee quotes and replacement bumps (no chain: a fake node answers)."""

from __future__ import annotations

import pytest

from wallets.chain.fees import Fees, fees_bump, fees_from_block, fees_quote, gas_estimate
from wallets.chain.models import Chain
from wallets.chain.rpc import RpcRevert
from wallets.chain.sender_errors import BadTransaction

GWEI = 10**9


def a_chain(**kw) -> Chain:
    return Chain(
        chain_id=56,
        name="bsc",
        max_fee_per_gas_wei=kw.get("cap", 100 * GWEI),
        max_priority_fee_wei=kw.get("tip_cap", 2 * GWEI),
    )


class FakeNode:
    def __init__(self, block, tip=GWEI, price=5 * GWEI, estimate=50_000):
        self._block, self._tip, self._price, self._estimate = block, tip, price, estimate

    def block(self, number="latest"):
        return self._block

    def max_priority_fee(self):
        return self._tip

    def gas_price(self):
        return self._price

    def estimate_gas(self, call):
        if self._estimate is None:
            raise RpcRevert("execution reverted: ERC20InsufficientBalance")
        return self._estimate


def test_an_eip1559_quote_is_twice_the_base_fee_plus_the_capped_tip():
    node = FakeNode({"number": 1, "baseFeePerGas": 10 * GWEI}, tip=5 * GWEI)

    fees = fees_quote(a_chain(), rpc=node)

    assert fees == Fees(max_fee_per_gas=22 * GWEI, max_priority_fee_per_gas=2 * GWEI)
    assert fees.tx_fields() == {
        "type": 2,
        "maxFeePerGas": 22 * GWEI,
        "maxPriorityFeePerGas": 2 * GWEI,
    }
    assert not fees.capped and fees.max_price == 22 * GWEI


def test_a_quote_above_the_cap_is_capped_and_says_so():
    fees = fees_from_block(
        a_chain(cap=15 * GWEI),
        block={"baseFeePerGas": 10 * GWEI},
        priority_fee=GWEI,
        gas_price=None,
    )

    assert fees.max_fee_per_gas == 15 * GWEI and fees.capped


def test_a_chain_without_base_fee_gets_a_capped_legacy_gas_price():
    legacy_block = {"number": 7, "hash": "0x" + "11" * 32}  # no baseFeePerGas: pre-London

    fees = fees_quote(a_chain(), rpc=FakeNode(legacy_block, price=3 * GWEI))
    assert fees.legacy and fees.gas_price == 3 * GWEI and fees.tx_fields() == {"gasPrice": 3 * GWEI}

    capped = fees_quote(a_chain(cap=2 * GWEI), rpc=FakeNode(legacy_block, price=3 * GWEI))
    assert capped.gas_price == 2 * GWEI and capped.capped


def test_a_bump_raises_both_fees_by_at_least_an_eighth():
    old = Fees(max_fee_per_gas=20 * GWEI, max_priority_fee_per_gas=GWEI)

    new = fees_bump(old, chain=a_chain())

    assert new.max_fee_per_gas == 22_500_000_000 and new.max_priority_fee_per_gas == 1_125_000_000
    # the market moved more than 12.5%: the quote wins
    quote = Fees(max_fee_per_gas=40 * GWEI, max_priority_fee_per_gas=2 * GWEI)
    assert fees_bump(old, chain=a_chain(), quote=quote) == quote
    # a zero tip still goes up (a node wants both fees raised)
    assert fees_bump(Fees(max_fee_per_gas=GWEI, max_priority_fee_per_gas=0), chain=a_chain())
    assert fees_bump(Fees(gas_price=8 * GWEI), chain=a_chain()) == Fees(gas_price=9 * GWEI)


def test_no_bump_passes_the_fee_cap():
    old = Fees(max_fee_per_gas=90 * GWEI, max_priority_fee_per_gas=GWEI)

    assert fees_bump(old, chain=a_chain(cap=100 * GWEI)) is None
    assert fees_bump(Fees(gas_price=95 * GWEI), chain=a_chain(cap=100 * GWEI)) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"gas_price": GWEI, "max_fee_per_gas": GWEI, "max_priority_fee_per_gas": 0},
        {"max_fee_per_gas": GWEI, "max_priority_fee_per_gas": 2 * GWEI},
        {"gas_price": -1},
        {"gas_price": 1.5},
    ],
)
def test_impossible_fees_are_refused(kwargs):
    with pytest.raises(BadTransaction):
        Fees(**kwargs)


def test_a_gas_estimate_has_a_margin_and_a_revert_is_refused_with_its_reason():
    node = FakeNode({"baseFeePerGas": 0})
    args = {"from_address": "0x" + "11" * 20, "to": "0x" + "22" * 20, "data": "0xa9059cbb"}

    assert gas_estimate(a_chain(), rpc=node, **args) == 60_000
    with pytest.raises(BadTransaction, match="ERC20InsufficientBalance"):
        gas_estimate(a_chain(), rpc=FakeNode({}, estimate=None), **args)
