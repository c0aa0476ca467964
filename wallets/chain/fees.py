"""Network fees of outgoing transactions: quotes, replacement bumps and gas estimates.

All figures are wei per unit of gas (ints). Network I/O: never call ``fees_quote`` or
``gas_estimate`` inside a database transaction (the sender's callers quote first, then
open the transaction that calls ``tx_create``).

- EIP-1559 when the latest block has ``baseFeePerGas``: the tip is the node's
  ``eth_maxPriorityFeePerGas`` capped at ``Chain.max_priority_fee_wei``; the fee cap is
  ``2 * base + tip`` (survives six full blocks of +12.5% base fee) capped at
  ``Chain.max_fee_per_gas_wei``.
- Legacy (a chain whose blocks carry no base fee): ``eth_gasPrice`` capped at
  ``Chain.max_fee_per_gas_wei``.
- A replacement (``fees_bump``) raises every fee by at least 12.5% (nodes refuse a
  same-nonce replacement below +10%; 12.5% also clears the base fee's largest one-block
  rise), and never above ``Chain.max_fee_per_gas_wei``: at the cap there is no bump, the
  sender alerts and waits. A bumped tip may pass ``max_priority_fee_wei`` (a node wants
  both fees raised), never the fee cap.
"""

from __future__ import annotations

from dataclasses import dataclass

from wallets.chain.models import Chain
from wallets.chain.rpc import RpcRevert, rpc_for
from wallets.chain.sender_errors import BadTransaction

#: a replacement pays at least old * BUMP_NUM / BUMP_DEN (+12.5%)
BUMP_NUM, BUMP_DEN = 9, 8
#: gas estimates get this margin (percent): state can change between estimate and mining
GAS_MARGIN_PCT = 20
INTRINSIC_GAS = 21_000


@dataclass(frozen=True, slots=True)
class Fees:
    """What one attempt pays per gas: EIP-1559 (max_fee_per_gas, max_priority_fee_per_gas)
    or legacy (gas_price). ``capped``: the network asked more than the chain's cap."""

    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    gas_price: int | None = None
    capped: bool = False

    def __post_init__(self):
        legacy = self.gas_price is not None
        dynamic = self.max_fee_per_gas is not None and self.max_priority_fee_per_gas is not None
        if legacy == dynamic:
            raise BadTransaction("fees are either gas_price or max_fee + max_priority_fee")
        for value in (self.max_fee_per_gas, self.max_priority_fee_per_gas, self.gas_price):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise BadTransaction(f"fees are whole wei, got {value!r}")
            if value is not None and value < 0:
                raise BadTransaction("fees are not negative")
        if dynamic and self.max_priority_fee_per_gas > self.max_fee_per_gas:
            raise BadTransaction("the priority fee is above the fee cap")

    @property
    def legacy(self) -> bool:
        return self.gas_price is not None

    @property
    def max_price(self) -> int:
        """The most one gas can cost under these fees (what a top-up must cover)."""
        return self.gas_price if self.legacy else self.max_fee_per_gas

    def tx_fields(self) -> dict:
        """The fee fields of a transaction dict for eth-account (type 0 or type 2)."""
        if self.legacy:
            return {"gasPrice": self.gas_price}
        return {
            "type": 2,
            "maxFeePerGas": self.max_fee_per_gas,
            "maxPriorityFeePerGas": self.max_priority_fee_per_gas,
        }

    def attempt_fields(self) -> dict:
        """The TxAttempt columns recording these fees."""
        return {
            "max_fee_per_gas_wei": self.max_fee_per_gas,
            "max_priority_fee_wei": self.max_priority_fee_per_gas,
            "gas_price_wei": self.gas_price,
        }

    @classmethod
    def of_attempt(cls, attempt) -> Fees:
        if attempt.gas_price_wei is not None:
            return cls(gas_price=attempt.gas_price_wei)
        return cls(
            max_fee_per_gas=attempt.max_fee_per_gas_wei,
            max_priority_fee_per_gas=attempt.max_priority_fee_wei,
        )


def fees_from_block(
    chain: Chain, *, block: dict, priority_fee: int | None, gas_price: int | None
) -> Fees:
    """The quote for ``chain`` given its latest block and the node's suggestions (pure:
    unit-testable with a fake block). ``priority_fee`` is eth_maxPriorityFeePerGas
    (EIP-1559 chains), ``gas_price`` eth_gasPrice (legacy chains)."""
    cap = chain.max_fee_per_gas_wei
    base = block.get("baseFeePerGas")
    if base is None:
        if gas_price is None:
            raise BadTransaction("a legacy chain needs eth_gasPrice for a quote")
        return Fees(gas_price=min(int(gas_price), cap), capped=int(gas_price) > cap)
    base = int(base)
    tip = min(int(priority_fee or 0), chain.max_priority_fee_wei)
    wanted = 2 * base + tip
    max_fee = min(wanted, cap)
    return Fees(
        max_fee_per_gas=max_fee,
        max_priority_fee_per_gas=min(tip, max_fee),
        capped=wanted > cap,
    )


def fees_quote(chain: Chain, *, rpc=None) -> Fees:
    """The fees to send with now (network I/O: outside any transaction)."""
    rpc = rpc or rpc_for(chain)
    block = rpc.block("latest")
    if block.get("baseFeePerGas") is None:
        return fees_from_block(chain, block=block, priority_fee=None, gas_price=rpc.gas_price())
    return fees_from_block(chain, block=block, priority_fee=rpc.max_priority_fee(), gas_price=None)


def _at_least_bumped(old: int) -> int:
    # ceil(old * 9/8), and strictly more than old (a zero tip still goes up)
    return max(-(-old * BUMP_NUM // BUMP_DEN), old + 1)


def fees_bump(old: Fees, *, chain: Chain, quote: Fees | None = None) -> Fees | None:
    """Fees for a replacement of an attempt that paid ``old``: each fee at least +12.5%,
    and at least today's ``quote`` when the market moved more; None when that would pass
    the chain's fee cap (the caller alerts and waits)."""
    cap = chain.max_fee_per_gas_wei
    if old.legacy:
        price = _at_least_bumped(old.gas_price)
        if quote is not None and quote.legacy:
            price = max(price, quote.gas_price)
        return Fees(gas_price=price) if price <= cap else None
    tip = _at_least_bumped(old.max_priority_fee_per_gas)
    max_fee = _at_least_bumped(old.max_fee_per_gas)
    if quote is not None and not quote.legacy:
        tip = max(tip, quote.max_priority_fee_per_gas)
        max_fee = max(max_fee, quote.max_fee_per_gas)
    max_fee = max(max_fee, tip)
    if max_fee > cap:
        return None
    return Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip)


def gas_estimate(
    chain: Chain,
    *,
    from_address: str,
    to: str,
    data: str = "0x",
    value_wei: int = 0,
    rpc=None,
) -> int:
    """eth_estimateGas plus a margin (network I/O: outside any transaction). A call that
    would revert is a BadTransaction carrying the node's reason, nothing is sent."""
    rpc = rpc or rpc_for(chain)
    call = {"from": from_address, "to": to, "data": data or "0x", "value": int(value_wei)}
    try:
        estimate = rpc.estimate_gas(call)
    except RpcRevert as exc:
        raise BadTransaction(f"the transaction would revert: {exc}", param="data") from None
    if estimate <= INTRINSIC_GAS and (data or "0x") == "0x":
        return INTRINSIC_GAS  # a plain transfer to an account costs exactly that
    return estimate * (100 + GAS_MARGIN_PCT) // 100
