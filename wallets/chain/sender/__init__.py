"""The one sender of every transaction the platform puts on a chain (sweeps, gas top-ups,
withdrawals, payouts, settlement batches): docs/deposits.md, "Sending".

The life of a transaction, and where each step runs:

1. Outside any transaction (network I/O): ``fees_quote(chain)``, ``gas_estimate(...)``
   (wallets.chain.fees) and ``nonce_cursor_ensure(chain, address)``.
2. Inside the caller's transaction: ``tx_create(...)`` locks the (chain, address)
   NonceCursor row (fastpay.locks), takes its next nonce, signs, and stores the
   OutgoingTransaction (SIGNED) with its first TxAttempt (raw bytes and hash). The caller's
   own rows (a withdrawal IN_PROGRESS, a sweep) commit with it, or nothing does: a rolled
   back caller gives its nonce back.
3. After commit: ``tx_broadcast(tx)`` sends the stored raw bytes. A crash between 2 and 3
   loses nothing: ``tx_follow`` broadcasts every SIGNED transaction, the same bytes under
   the same hash, so a transaction is never signed twice for one use.
4. ``tx_follow(chain)`` (beat task and ``manage.py chain_sender follow``): receipts of every
   attempt; MINED, then CONFIRMED (status 1) or FAILED (status 0, with the revert reason)
   at ``confirmations_required`` blocks; a receipt gone (reorg) sends it back to BROADCAST;
   not mined after FASTPAY_CHAIN_TX_STUCK_S: a replacement attempt with both fees +12.5%
   (``tx_replace``; at the chain's fee cap: an alert and a wait); the chain's nonce past
   ours at the required depth with none of our hashes mined: DROPPED (an alert).
5. The outcome (CONFIRMED, FAILED, DROPPED) is recorded in one transaction that also posts
   the gas paid as a CHAIN_FEE entry in the chain's native token (FEES -> CUSTODY: the
   platform's on-chain holdings shrank by it) and runs the hooks registered for the
   transaction's purpose (``on_outcome``), so sweeps, withdrawals, payouts and settlement
   react atomically with it.

Locks: NonceCursor rows (tx_create) and OutgoingTransaction rows (outcomes, replacements),
each through fastpay.locks in primary-key order; state changes outside a lock are
compare-and-set updates whose row count is checked, so two followers never record one
outcome twice.
"""

from wallets.chain.fees import Fees, fees_quote, gas_estimate
from wallets.chain.sender.broadcast import tx_broadcast, tx_payload, tx_rebroadcast, tx_replace
from wallets.chain.sender.create import nonce_cursor_ensure, tx_create
from wallets.chain.sender.follow import IN_FLIGHT, attempt_status, chain_follow_all, tx_follow
from wallets.chain.sender.hooks import on_outcome
from wallets.chain.sender.ledger import NATIVE_ADDRESS, chain_fee_post, native_token

__all__ = [
    "IN_FLIGHT",
    "NATIVE_ADDRESS",
    "Fees",
    "attempt_status",
    "chain_fee_post",
    "chain_follow_all",
    "fees_quote",
    "gas_estimate",
    "native_token",
    "nonce_cursor_ensure",
    "on_outcome",
    "tx_broadcast",
    "tx_create",
    "tx_follow",
    "tx_payload",
    "tx_rebroadcast",
    "tx_replace",
]
