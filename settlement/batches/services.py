"""Settling redemptions on-chain in committee batches (docs/settlement.md).

One tick (``batches_tick``, the beat task), each step's network I/O outside any database
transaction and each state change a short transaction on locked rows:

1. refuse: PENDING redemptions whose epoch's settlement window closed become REFUSED
   ``settlement_window_closed`` (the processor would skip them: nothing is submitted);
2. gather: up to BATCH_MAX PENDING redemptions, oldest first, become one SettlementBatch
   (SIGNING) of the active epoch, with the next batch id of the processor;
3. sign: the committee signs the Batch (``POST /batches`` through the gateway's client);
   the signatures are stored (SIGNED) before anything is sent. The nodes sign a
   certificate into one batch id only, so this batch is the only one its items can be in;
4. submit: ``submitCommitteeBatch`` through the one sender (tx_create in the batch's
   transaction, SUBMITTED; tx_broadcast after commit; a crash in between is the sender's
   follow loop's to rebroadcast: same bytes, same hash);
5. the sender's outcome hook (inside its transaction): CONFIRMED at depth -> CONFIRMED
   here; a revert ``BatchAlreadySettled`` -> CONFIRMED too (it settled before: read where);
   ``SettlementWindowClosed`` / ``CertificateInvalid`` / a malformed batch -> FAILED for good,
   its items REFUSED with the reason; anything else (out of gas, a paused processor, a
   dropped transaction) -> SIGNED again, re-submitted after a backoff with the SAME
   signatures (a batch id settles once: ``isBatchSettled``; a (sender, sequence) once:
   the processor's bitmap, so a re-submitted item can only be skipped, never paid twice);
6. results: the receipt's PaymentSettled / CertificateRejected events (or, for a batch
   settled by an earlier submission, the CommitteeBatchSettled log found from
   ``from_block``) -> each item SETTLED or SKIPPED with the contract's reason; SETTLED.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from settlement.batches import chainview
from settlement.batches.errors import SettlementUnavailable
from settlement.batches.gathering import (
    BATCH_MAX,
    batch_gather,
    batch_sign,
    due_q,
    redemptions_refuse_closed,
)
from settlement.batches.models import BatchState, SettlementBatch
from settlement.batches.submission import batch_outcome_hook, batch_results, batch_submit
from wallets.chain import sender
from wallets.chain.models import TxPurpose
from wallets.chain.rpc import RpcError

logger = logging.getLogger("settlement.batches")


# ------------------------------------------------------------------ the tick


def batches_tick(*, limit: int = BATCH_MAX) -> dict[str, int]:
    """One pass (the beat task): refuse, gather, sign, submit, read results. Every
    step is safe to repeat and to run concurrently with another tick. The chain or the
    committee unreachable stops the step it broke (counted in ``errors``, logged); no
    batch is gathered unless the settlement windows could be read first."""
    counts = {"refused": 0, "gathered": 0, "signed": 0, "submitted": 0, "settled": 0}
    counts["errors"] = 0
    try:
        where = chainview.target()
    except SettlementUnavailable as exc:
        logger.info("on-chain settlement idle: %s", exc)
        return counts

    def step(name, fn):
        try:
            return fn()
        except (SettlementUnavailable, RpcError) as exc:
            counts["errors"] += 1
            logger.warning("on-chain settlement, %s: %s", name, exc)
            return None

    now = timezone.now()
    refused = step("settlement windows", lambda: redemptions_refuse_closed(where))
    if refused is not None:
        counts["refused"] = refused
        while step("gathering", lambda: batch_gather(where, limit=limit)) is not None:
            counts["gathered"] += 1
    mine = SettlementBatch.objects.filter(chain=where.chain, processor_address=where.processor)
    for batch in mine.filter(due_q(now), state=BatchState.SIGNING).select_related("chain"):
        signed = step(f"signing {batch}", lambda b=batch: batch_sign(b))
        counts["signed"] += signed is not None and signed.state == BatchState.SIGNED
    for batch in mine.filter(due_q(now), state=BatchState.SIGNED).select_related("chain"):
        sent = step(f"submitting {batch}", lambda b=batch: batch_submit(b))
        counts["submitted"] += sent is not None and sent.state == BatchState.SUBMITTED
    for batch in mine.filter(state=BatchState.CONFIRMED).select_related("chain", "tx"):
        read = step(f"reading {batch}", lambda b=batch: batch_results(b))
        counts["settled"] += read is not None and read.state == BatchState.SETTLED
    return counts


def outcome_hooks_register() -> None:
    sender.on_outcome(TxPurpose.SETTLEMENT, batch_outcome_hook)


__all__ = [
    "batch_gather",
    "batch_outcome_hook",
    "batch_results",
    "batch_sign",
    "batch_submit",
    "batches_tick",
    "outcome_hooks_register",
    "redemptions_refuse_closed",
]
