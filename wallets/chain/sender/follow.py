"""Following transactions in flight to their outcome (``tx_follow``): receipts to depth,
reorgs, stuck and dropped transactions; outcomes recorded with their CHAIN_FEE entry and
the purpose's hooks in one transaction."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fastpay.events import event_record
from fastpay.locks import rows_locked
from wallets.chain.models import Chain, NonceCursor, OutgoingTransaction, TxAttempt, TxState
from wallets.chain.rpc import RpcError, RpcRevert, rpc_for
from wallets.chain.sender.broadcast import (
    latest_attempt,
    outside_transaction,
    tx_broadcast,
    tx_payload,
    tx_replace,
)
from wallets.chain.sender.hooks import run_hooks
from wallets.chain.sender.ledger import chain_fee_post
from wallets.chain.sender_errors import FeeAboveCap

logger = logging.getLogger("wallets.chain.sender")

IN_FLIGHT = (TxState.SIGNED, TxState.BROADCAST, TxState.MINED)
OUTCOMES = (TxState.CONFIRMED, TxState.FAILED, TxState.DROPPED)
#: an accepted attempt not yet mined is sent again this often (a node may have evicted it)
REBROADCAST_S = 30
#: refusals that mean "pay more": the attempt is replaced like a stuck one
UNDERPRICED = ("underpriced", "fee too low", "less than block base fee", "gas price too low")


def tx_follow(chain: Chain, *, rpc=None, stuck_after_s: int | None = None) -> dict[str, int]:
    """One pass over the chain's transactions in flight: broadcast what was never sent,
    follow receipts to depth, replace the stuck, record outcomes. Returns counts by what
    happened. Safe to run concurrently (compare-and-set and row locks) and to repeat."""
    outside_transaction("tx_follow")
    rpc = rpc or rpc_for(chain)
    stuck_after = timedelta(
        seconds=stuck_after_s if stuck_after_s is not None else settings.FASTPAY_CHAIN_TX_STUCK_S
    )
    counts: dict[str, int] = defaultdict(int)
    head = rpc.block("latest")["number"]
    in_flight = OutgoingTransaction.objects.filter(chain=chain, state__in=IN_FLIGHT).order_by(
        "from_address", "nonce"
    )
    for tx in in_flight.select_related("chain"):
        try:
            counts[_follow_one(tx, head=head, rpc=rpc, stuck_after=stuck_after)] += 1
        except RpcError as exc:
            counts["rpc_error"] += 1
            logger.warning("chain %s: following %s: %s", chain.chain_id, tx, exc)
        except FeeAboveCap:
            counts["fee_capped"] += 1
    return dict(counts)


def _follow_one(tx: OutgoingTransaction, *, head: int, rpc, stuck_after: timedelta) -> str:
    if tx.state == TxState.SIGNED and latest_attempt(tx).broadcast_at is None:
        tx = tx_broadcast(tx, rpc=rpc)
        if tx.state == TxState.SIGNED:
            last = latest_attempt(tx)
            underpriced = any(m in last.broadcast_error.lower() for m in UNDERPRICED)
            if underpriced and timezone.now() - last.created_at >= stuck_after:
                tx_replace(tx, rpc=rpc)  # refused for its fees: a bump, as if stuck
                return "replaced"
            return "refused"
    attempts = list(tx.attempts.order_by("id"))
    receipt = _first_receipt(attempts, rpc)
    if receipt is not None:
        return _follow_mined(tx, receipt, head=head, rpc=rpc)
    if tx.state == TxState.MINED:
        # its receipt is gone: the block was reorganised away; back to the pool
        OutgoingTransaction.objects.filter(
            pk=tx.pk, state=TxState.MINED, mined_hash=tx.mined_hash
        ).update(
            state=TxState.BROADCAST,
            mined_hash="",
            block_number=None,
            block_hash="",
            gas_used=None,
            fee_wei="",
        )
        logger.warning("chain %s: %s un-mined by a reorg", tx.chain.chain_id, tx)
        tx_broadcast(tx, rpc=rpc)
        return "reorged"
    # our nonce used at the required depth, yet none of our hashes mined: dropped
    depth_block = max(0, head - tx.confirmations_required + 1)
    if rpc.nonce(tx.from_address, depth_block) > tx.nonce:
        if _first_receipt(attempts, rpc) is None:  # mined since the first look?
            _record_dropped(tx)
            return "dropped"
        return "mined"
    last = attempts[-1]
    now = timezone.now()
    # stuck: not mined this long since its latest attempt was first accepted by a node
    if (
        tx.state == TxState.BROADCAST
        and now - (last.broadcast_at or last.created_at) >= stuck_after
    ):
        if rpc.nonce(tx.from_address, "latest") < tx.nonce:
            return "waiting"  # behind an earlier nonce of ours: that one gets the bump
        tx_replace(tx, rpc=rpc)
        return "replaced"
    if tx.last_broadcast_at is None or now - tx.last_broadcast_at >= timedelta(
        seconds=REBROADCAST_S
    ):
        tx_broadcast(tx, rpc=rpc)
    return "waiting"


def _first_receipt(attempts: list[TxAttempt], rpc) -> dict | None:
    for attempt in attempts:
        receipt = rpc.receipt(attempt.tx_hash)
        if receipt is not None:
            return receipt
    return None


def _follow_mined(tx: OutgoingTransaction, receipt: dict, *, head: int, rpc) -> str:
    fee_wei = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    fields = {
        "mined_hash": receipt["transactionHash"],
        "block_number": receipt["blockNumber"],
        "block_hash": receipt["blockHash"],
        "gas_used": receipt["gasUsed"],
        "fee_wei": str(fee_wei),
    }
    if any(getattr(tx, k) != v for k, v in fields.items()) or tx.state != TxState.MINED:
        OutgoingTransaction.objects.filter(
            pk=tx.pk, state__in=(TxState.SIGNED, TxState.BROADCAST, TxState.MINED)
        ).update(state=TxState.MINED, **fields)
    if head - receipt["blockNumber"] + 1 < tx.confirmations_required:
        return "mined"
    # the receipt's block must still be the chain's at that height
    if rpc.block(receipt["blockNumber"])["hash"] != receipt["blockHash"]:
        return "mined"
    reason = "" if receipt["status"] == 1 else _revert_reason(tx, receipt, rpc)
    state = TxState.CONFIRMED if receipt["status"] == 1 else TxState.FAILED
    return str(state) if _record_outcome(tx, state, receipt=receipt, reason=reason) else "raced"


def _revert_reason(tx: OutgoingTransaction, receipt: dict, rpc) -> str:
    """Why a mined transaction reverted: the call replayed on the state before its block
    (the node's revert reason), or out of gas when it used its whole limit."""
    if receipt["gasUsed"] >= tx.gas_limit:
        return f"reverted: out of gas ({tx.gas_limit})"
    call = {
        "from": tx.from_address,
        "to": tx.to_address,
        "data": tx.data,
        "value": int(tx.value_wei),
        "gas": tx.gas_limit,
    }
    try:
        rpc.call(call, max(0, receipt["blockNumber"] - 1))
    except RpcRevert as exc:
        # a node's text may carry the raw revert data (NUL bytes: refused by PostgreSQL)
        return "reverted: " + str(exc).encode("unicode_escape").decode("ascii")[:1990]
    except RpcError:
        pass
    return "reverted (the replay did not revert: the state before it differed)"


def _record_outcome(tx: OutgoingTransaction, state: str, *, receipt: dict, reason: str) -> bool:
    with transaction.atomic():
        locked = rows_locked(
            OutgoingTransaction.objects.filter(pk=tx.pk).select_related("chain"), of=("self",)
        )[0]
        if locked.state != TxState.MINED or locked.mined_hash != receipt["transactionHash"]:
            return False
        locked.state = state
        locked.error = reason
        locked.confirmed_at = timezone.now()
        locked.save(update_fields=["state", "error", "confirmed_at", "updated_at"])
        chain_fee_post(locked)
        if state == TxState.FAILED:
            logger.error("chain %s: %s reverted: %s", locked.chain.chain_id, locked, reason)
            event_record(
                topic="chain_tx.failed",
                aggregate_type="outgoing_transaction",
                aggregate_id=locked.pk,
                payload=tx_payload(locked),
            )
        run_hooks(locked)
    return True


def _record_dropped(tx: OutgoingTransaction) -> None:
    with transaction.atomic():
        locked = rows_locked(
            OutgoingTransaction.objects.filter(pk=tx.pk).select_related("chain"), of=("self",)
        )[0]
        if locked.state not in (TxState.SIGNED, TxState.BROADCAST):
            return
        locked.state = TxState.DROPPED
        locked.error = "its nonce was used by a transaction the sender did not send"
        locked.confirmed_at = timezone.now()
        locked.save(update_fields=["state", "error", "confirmed_at", "updated_at"])
        # later transactions of this address must not wait on a nonce the chain passed
        cursor = rows_locked(
            NonceCursor.objects.filter(chain=locked.chain, address=locked.from_address)
        )
        if cursor and cursor[0].next_nonce <= locked.nonce:
            NonceCursor.objects.filter(pk=cursor[0].pk).update(next_nonce=locked.nonce + 1)
        logger.error(
            "chain %s: %s DROPPED: nonce %s was used outside the sender (a leaked key or "
            "another tool signing with it?)",
            locked.chain.chain_id,
            locked,
            locked.nonce,
        )
        event_record(
            topic="chain_tx.dropped",
            aggregate_type="outgoing_transaction",
            aggregate_id=locked.pk,
            payload=tx_payload(locked),
        )
        run_hooks(locked)


def attempt_status(tx: OutgoingTransaction, attempt: TxAttempt) -> str:
    """What became of one attempt: mined, replaced (another attempt of its nonce was
    mined, or the transaction was dropped), or pending."""
    if tx.mined_hash:
        return "mined" if attempt.tx_hash == tx.mined_hash else "replaced"
    if tx.state == TxState.DROPPED:
        return "replaced"
    return "pending" if attempt.broadcast_at else "not broadcast"


def chain_follow_all(*, stuck_after_s: int | None = None) -> dict[int, dict[str, int]]:
    """``tx_follow`` over every enabled chain with transactions in flight (the beat task).
    A chain whose RPC is down is reported and skipped; the others still advance."""
    out: dict[int, dict[str, int]] = {}
    busy = OutgoingTransaction.objects.filter(state__in=IN_FLIGHT).values("chain_id")
    for chain in Chain.objects.filter(enabled=True, pk__in=busy):
        try:
            out[chain.chain_id] = tx_follow(chain, stuck_after_s=stuck_after_s)
        except RpcError as exc:
            logger.warning("chain %s: the sender cannot follow now: %s", chain.chain_id, exc)
            out[chain.chain_id] = {"rpc_error": 1}
    return out
