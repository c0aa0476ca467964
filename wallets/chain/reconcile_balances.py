"""Balances at one block for many addresses, read for custody reconciliation
(wallets.chain.reconcile) through the chain's RPC client (wallets.chain.rpc: URLs in
order, retries with backoff, error metric): ERC-20 ``balanceOf`` and native
``eth_getBalance`` sent as JSON-RPC batches (``ChainRpc.batch``: 10,000 deposit addresses
are 100 round trips, not 10,000). Every answer is validated: a missing, malformed or
failed answer is an RpcError (the run records ERROR), never a zero taken for a balance.

Network I/O: never inside a database transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from wallets.chain.rpc import ChainRpc, Garbage, RpcError, address20, data_hex, quantity

_BALANCE_OF = "0x70a08231"  # balanceOf(address)

BalanceReadError = RpcError


def _word(raw) -> int:
    text = data_hex(raw, "balanceOf")
    if len(text) != 66:
        raise Garbage(f"balanceOf answered {text[:80]!r}, not one 32-byte word")
    return int(text, 16)


class BalanceReader:
    """Balance reads of one chain at a given block."""

    def __init__(self, chain, *, rpc: ChainRpc | None = None):
        self.rpc = rpc or ChainRpc(chain)

    def close(self) -> None:
        pass

    def block(self, number: int) -> dict:
        """The header of block ``number`` (``number``, ``hash``, ``parentHash``)."""
        return self.rpc.block(number)

    def token_balances(self, contract: str, addresses: Sequence[str], block: int) -> list[int]:
        """balanceOf(address) at ``block`` for each address, in order (base units)."""
        params = [
            [{"to": contract, "data": _BALANCE_OF + "00" * 12 + address20(a)[2:]}, hex(block)]
            for a in addresses
        ]
        return self.rpc.batch("eth_call", params, _word)

    def native_balances(self, addresses: Sequence[str], block: int) -> list[int]:
        return self.rpc.batch("eth_getBalance", [[a, hex(block)] for a in addresses], quantity)
