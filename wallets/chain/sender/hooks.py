"""Outcome hooks by purpose: what sweeps, withdrawals, payouts and settlement run inside
the transaction that records one of their transactions' outcome."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from wallets.chain.models import OutgoingTransaction, TxPurpose

Hook = Callable[[OutgoingTransaction], None]
_hooks: dict[str, list[Hook]] = defaultdict(list)


# ------------------------------------------------------------------ hooks


def on_outcome(purpose: str, fn: Hook) -> None:
    """Run ``fn(tx)`` when a transaction of ``purpose`` reaches CONFIRMED, FAILED or
    DROPPED, inside the transaction that records it (``tx`` is the locked row, its state
    the outcome). An exception rolls the outcome back; the next follow tick retries."""
    if purpose not in TxPurpose.values:
        raise ValueError(f"unknown purpose {purpose!r}")
    if fn not in _hooks[purpose]:
        _hooks[purpose].append(fn)


def run_hooks(tx: OutgoingTransaction) -> None:
    for fn in list(_hooks.get(tx.purpose, ())):
        fn(tx)
