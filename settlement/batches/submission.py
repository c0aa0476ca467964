"""Steps 4-6 of settlement.batches.services: submitting a signed batch through the one
sender, the sender's outcome hook, and the results read back from the chain."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from fastpay.events import event_record
from fastpay.locks import rows_locked
from settlement.batches import chainview, contract
from settlement.batches.errors import SettlementUnavailable
from settlement.batches.gathering import batch_payload, batch_words, redemption_refuse, retry_at
from settlement.batches.intake import redemption_payload
from settlement.batches.models import (
    BatchState,
    RedemptionState,
    SettlementBatch,
)
from wallets.chain import sender
from wallets.chain.models import OutgoingTransaction, TxPurpose, TxState
from wallets.chain.rpc import RpcError, rpc_for

logger = logging.getLogger("settlement.batches")

#: reverts no re-submission can change: the batch fails for good
PERMANENT_REVERTS = {
    "SettlementWindowClosed",
    "CertificateInvalid",
    "EmptyBatch",
    "MalformedItems",
    "MalformedSignatures",
}


# ------------------------------------------------------------------ 4. submit


def batch_submit(batch: SettlementBatch) -> SettlementBatch:
    """``submitCommitteeBatch`` through the sender: SIGNED -> SUBMITTED with the signed
    transaction in one transaction, broadcast after commit."""
    chain = batch.chain
    signer, address = chainview.settler(chain)
    _, words = batch_words(batch)
    data = contract.submit_data(
        batch.epoch, batch.batch_id, words, bytes.fromhex(batch.signatures[2:])
    )
    try:
        rpc = rpc_for(chain)
        fees = sender.fees_quote(chain, rpc=rpc)
        sender.nonce_cursor_ensure(chain, address, rpc=rpc)
        head = rpc.block_number()
    except RpcError as exc:
        raise SettlementUnavailable(f"chain {chain.chain_id}: {exc}") from None
    with transaction.atomic():
        locked = rows_locked(SettlementBatch.objects.filter(pk=batch.pk, state=BatchState.SIGNED))
        if not locked:
            batch.refresh_from_db()
            return batch
        batch = locked[0]
        number = batch.submissions + 1
        tx = sender.tx_create(
            chain=chain,
            signer=signer,
            from_address=address,
            to=batch.processor_address,
            data=data,
            gas_limit=contract.gas_limit(batch.items_count),
            fees=fees,
            purpose=TxPurpose.SETTLEMENT,
            reference=f"settlement_batch:{batch.pk}",
            idempotency_key=f"settlement_batch:{batch.pk}:{number}",
        )
        batch.tx = tx
        batch.state = BatchState.SUBMITTED
        batch.submissions = number
        batch.next_attempt_at = None
        if batch.from_block is None:
            batch.from_block = head
        batch.save(
            update_fields=[
                "tx",
                "state",
                "submissions",
                "next_attempt_at",
                "from_block",
                "updated_at",
            ]
        )
        event_record(
            topic="settlement.batch_submitted",
            aggregate_type="settlement_batch",
            aggregate_id=batch.pk,
            payload=batch_payload(batch),
        )
    sender.tx_broadcast(tx)
    batch.refresh_from_db()
    return batch


# ------------------------------------------------------------------ 5. the sender's outcome


def batch_outcome_hook(tx: OutgoingTransaction) -> None:
    """``sender.on_outcome(SETTLEMENT)``: runs inside the transaction recording ``tx``'s
    outcome, so the batch follows it atomically. No network I/O here."""
    locked = rows_locked(SettlementBatch.objects.filter(tx=tx, state=BatchState.SUBMITTED))
    if not locked:
        return
    batch = locked[0]
    if tx.state == TxState.CONFIRMED:
        batch.state = BatchState.CONFIRMED
        batch.last_error = ""
        batch.save(update_fields=["state", "last_error", "updated_at"])
        return
    error = contract.revert_error(tx.error) if tx.state == TxState.FAILED else ""
    named = f"{error}: " if error else ""
    reason = f"{tx.state}: {named}{tx.error or 'no reason'}"[:2000]
    if error == "BatchAlreadySettled":
        # an earlier submission settled it: its results are read from the chain's log
        batch.state = BatchState.CONFIRMED
        batch.last_error = reason
        batch.save(update_fields=["state", "last_error", "updated_at"])
        logger.warning("%s: already settled on-chain; reading its results", batch)
        return
    if error in PERMANENT_REVERTS:
        _batch_fail(batch, error, reason)
        return
    # retryable: the same signed batch goes again after a backoff
    batch.state = BatchState.SIGNED
    batch.last_error = reason
    batch.next_attempt_at = retry_at(batch.submissions)
    batch.save(update_fields=["state", "last_error", "next_attempt_at", "updated_at"])
    logger.error("%s: submission %s %s; re-submitted later", batch, batch.submissions, reason)


def _batch_fail(batch: SettlementBatch, code: str, reason: str) -> None:
    batch.state = BatchState.FAILED
    batch.last_error = reason
    batch.save(update_fields=["state", "last_error", "updated_at"])
    for item in rows_locked(batch.items.all()):
        redemption_refuse(
            item,
            "settlement_window_closed" if code == "SettlementWindowClosed" else code or "failed",
            f"batch {batch.batch_id}: {reason}",
        )
    logger.error("%s FAILED for good: %s", batch, reason)
    event_record(
        topic="settlement.batch_failed",
        aggregate_type="settlement_batch",
        aggregate_id=batch.pk,
        payload=batch_payload(batch),
    )


# ------------------------------------------------------------------ 6. results


def batch_results(batch: SettlementBatch, *, rpc=None) -> SettlementBatch:
    """Read a CONFIRMED batch's per-item outcome from the chain and record it."""
    rpc = rpc or rpc_for(batch.chain)
    found = _settlement_receipt(batch, rpc)
    if found is None:
        return batch
    receipt, outcome = found
    if outcome.items_hash != batch.items_hash:
        with transaction.atomic():
            locked = rows_locked(
                SettlementBatch.objects.filter(pk=batch.pk, state=BatchState.CONFIRMED)
            )
            if locked:
                _batch_fail(
                    locked[0],
                    "batch_id_taken",
                    f"batch id {batch.batch_id} was settled with other items "
                    f"({outcome.items_hash}) by {receipt['transactionHash']}",
                )
        batch.refresh_from_db()
        return batch
    with transaction.atomic():
        locked = rows_locked(
            SettlementBatch.objects.filter(pk=batch.pk, state=BatchState.CONFIRMED)
        )
        if not locked:
            batch.refresh_from_db()
            return batch
        batch = locked[0]
        _record_results(batch, receipt, outcome)
    return batch


def _settlement_receipt(batch: SettlementBatch, rpc):
    """(receipt, BatchOutcome) of the transaction that settled the batch, at the chain's
    required depth; None when not found (yet)."""
    head = rpc.block_number()
    depth = batch.chain.confirmations
    candidates = []
    if batch.tx is not None and batch.tx.state == TxState.CONFIRMED and batch.tx.mined_hash:
        candidates.append(batch.tx.mined_hash)
    else:
        start = batch.from_block or 0
        step = batch.chain.max_log_range or 1000
        topic_id = "0x" + batch.batch_id.to_bytes(32, "big").hex()
        for low in range(start, head + 1, step):
            logs = rpc.logs(
                low,
                min(head, low + step - 1),
                [batch.processor_address],
                [contract.TOPIC_BATCH_SETTLED, topic_id],
            )
            candidates.extend(log["transactionHash"] for log in logs)
    for tx_hash in candidates:
        receipt = rpc.receipt(tx_hash)
        if receipt is None or receipt["status"] != 1:
            continue
        if head - receipt["blockNumber"] + 1 < depth:
            return None
        outcome = contract.batch_outcome(
            receipt, batch.processor_address, batch.batch_id, batch.items_count
        )
        if outcome is not None:
            return receipt, outcome
    return None


def _record_results(batch: SettlementBatch, receipt: dict, outcome: contract.BatchOutcome) -> None:
    now = timezone.now()
    tx_hash = receipt["transactionHash"]
    items = {(i.sender, i.sequence): i for i in rows_locked(batch.items.all())}
    settled = skipped = 0
    for result in outcome.outcomes:
        item = items.get((result.sender, result.sequence))
        if item is None:
            raise RuntimeError(f"{batch}: the chain settled {result} which is not in the batch")
        if result.settled:
            item.state = RedemptionState.SETTLED
            item.settled_tx_hash = tx_hash
            item.settled_at = now
            item.reason = item.reason_detail = ""
            settled += 1
            topic = "settlement.redemption_settled"
        else:
            item.state = RedemptionState.SKIPPED
            item.reason = result.reason
            item.reason_detail = f"skipped by the processor ({result.selector}) in {tx_hash}"
            skipped += 1
            topic = "settlement.redemption_skipped"
            logger.warning("%s skipped: %s", item, result.reason)
        item.save(
            update_fields=[
                "state",
                "settled_tx_hash",
                "settled_at",
                "reason",
                "reason_detail",
                "updated_at",
            ]
        )
        event_record(
            topic=topic,
            aggregate_type="chain_redemption",
            aggregate_id=item.pk,
            payload=redemption_payload(item),
        )
    batch.state = BatchState.SETTLED
    batch.settled_count = settled
    batch.skipped_count = skipped
    batch.settled_tx_hash = tx_hash
    batch.settled_at = now
    batch.save(
        update_fields=[
            "state",
            "settled_count",
            "skipped_count",
            "settled_tx_hash",
            "settled_at",
            "updated_at",
        ]
    )
    event_record(
        topic="settlement.batch_settled",
        aggregate_type="settlement_batch",
        aggregate_id=batch.pk,
        payload=batch_payload(batch),
    )
