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
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from authorities import gateway as committee_gateway
from fastpay.events import event_record
from fastpay.locks import rows_locked
from fastpay_protocol import typed_data as td
from fastpay_protocol.committee_errors import CommitteeError, NoQuorum
from fastpay_protocol.messages import Certificate
from settlement.batches import chainview, contract
from settlement.batches.errors import SettlementUnavailable
from settlement.batches.intake import redemption_payload
from settlement.batches.models import (
    BatchState,
    ChainRedemption,
    RedemptionState,
    SettlementBatch,
)
from wallets.chain import sender
from wallets.chain.models import OutgoingTransaction, TxPurpose, TxState
from wallets.chain.rpc import RpcError, rpc_for

logger = logging.getLogger("settlement.batches")

BATCH_MAX = 200  # items per batch (gas ~16.5k-50k each: well inside a block)
RETRY_BASE_S = 30
RETRY_MAX_S = 3600
#: reverts no re-submission can change: the batch fails for good
PERMANENT_REVERTS = {
    "SettlementWindowClosed",
    "CertificateInvalid",
    "EmptyBatch",
    "MalformedItems",
    "MalformedSignatures",
}
_jitter = secrets.SystemRandom()


def retry_at(attempts: int):
    delay = min(RETRY_MAX_S, RETRY_BASE_S * 2 ** max(attempts - 1, 0))
    return timezone.now() + timedelta(seconds=delay / 2 + _jitter.uniform(0, delay / 2))


def batch_payload(batch: SettlementBatch) -> dict:
    return {
        "id": batch.pk,
        "chain_id": batch.chain.chain_id,
        "processor": batch.processor_address,
        "batch_id": batch.batch_id,
        "epoch": batch.epoch,
        "state": batch.state,
        "items": batch.items_count,
        "settled": batch.settled_count,
        "skipped": batch.skipped_count,
        "tx_hash": batch.settled_tx_hash or None,
        "error": batch.last_error,
    }


def _due(now) -> Q:
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)


# ------------------------------------------------------------------ 1. refuse


def redemptions_refuse_closed(where: chainview.Target) -> int:
    """PENDING redemptions of epochs whose window closed -> REFUSED (visible reason)."""
    pending = ChainRedemption.objects.filter(
        chain=where.chain, processor_address=where.processor, state=RedemptionState.PENDING
    )
    epochs = set(pending.values_list("epoch", flat=True).distinct())
    if not epochs:
        return 0
    closed = [
        w for w in chainview.windows(where.chain, where.processor, epochs).values() if w.closed
    ]
    refused = 0
    for window in closed:
        with transaction.atomic():
            items = rows_locked(pending.filter(epoch=window.epoch))
            for item in items:
                _refuse(item, "settlement_window_closed", window.detail())
            refused += len(items)
        logger.error(
            "chain %s: %s redemptions of epoch %s refused: %s",
            where.chain.chain_id,
            len(items),
            window.epoch,
            window.detail(),
        )
    return refused


def _refuse(item: ChainRedemption, reason: str, detail: str) -> None:
    item.state = RedemptionState.REFUSED
    item.batch = None
    item.position = None
    item.reason = reason
    item.reason_detail = detail[:255]
    item.save(update_fields=["state", "batch", "position", "reason", "reason_detail", "updated_at"])
    event_record(
        topic="settlement.redemption_refused",
        aggregate_type="chain_redemption",
        aggregate_id=item.pk,
        payload=redemption_payload(item),
    )


# ------------------------------------------------------------------ 2. gather


def batch_gather(where: chainview.Target, *, limit: int = BATCH_MAX) -> SettlementBatch | None:
    """One SIGNING batch of the oldest PENDING redemptions (None when there are none)."""
    epoch = committee_gateway.gateway().epoch()
    for _ in range(3):  # a concurrent gather took the same batch id: take the next
        try:
            with transaction.atomic():
                return _gather(where, epoch, limit)
        except IntegrityError:
            continue
    return None


def _gather(where: chainview.Target, epoch: int, limit: int) -> SettlementBatch | None:
    candidates = list(
        ChainRedemption.objects.filter(
            chain=where.chain, processor_address=where.processor, state=RedemptionState.PENDING
        )
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    items = rows_locked(
        ChainRedemption.objects.filter(pk__in=candidates, state=RedemptionState.PENDING)
    )
    if not items:
        return None
    items.sort(key=lambda i: (i.created_at, i.pk))
    words = td.pack_batch_items(
        td.BatchItem.redemption(i.sender, i.sequence, i.vault_token_id, i.amount_units)
        for i in items
    )
    last = SettlementBatch.objects.filter(
        chain=where.chain, processor_address=where.processor
    ).aggregate(m=Max("batch_id"))["m"]
    batch = SettlementBatch.objects.create(
        chain=where.chain,
        processor_address=where.processor,
        vault_address=where.vault,
        batch_id=0 if last is None else last + 1,
        epoch=epoch,
        items_hash="0x" + td.items_hash(words).hex(),
        items_count=len(items),
    )
    for position, item in enumerate(items):
        item.state = RedemptionState.BATCHED
        item.batch = batch
        item.position = position
    ChainRedemption.objects.bulk_update(items, ["state", "batch", "position", "updated_at"])
    event_record(
        topic="settlement.batch_created",
        aggregate_type="settlement_batch",
        aggregate_id=batch.pk,
        payload=batch_payload(batch),
    )
    return batch


def batch_words(batch: SettlementBatch) -> tuple[list[ChainRedemption], list[bytes]]:
    items = list(batch.items.order_by("position"))
    words = td.pack_batch_items(
        td.BatchItem.redemption(i.sender, i.sequence, i.vault_token_id, i.amount_units)
        for i in items
    )
    return items, words


# ------------------------------------------------------------------ 3. sign


def batch_sign(batch: SettlementBatch, *, renumber: int = 8) -> SettlementBatch:
    """The committee's signatures over the batch, stored (SIGNING -> SIGNED). No quorum:
    stays SIGNING with the error, retried after a backoff. Nodes that already signed
    other items under this batch id (a database restored from a backup, a second
    platform on the same processor) refuse it: the batch takes the next free id and asks
    again (at most ``renumber`` times per call)."""
    for _ in range(renumber + 1):
        items, words = batch_words(batch)
        hashed = td.items_hash(words)
        if "0x" + hashed.hex() != batch.items_hash:
            raise RuntimeError(f"{batch}: its items no longer hash to the recorded items_hash")
        client = committee_gateway.gateway().client(batch.epoch)
        try:
            if client is None:
                raise CommitteeError(f"epoch {batch.epoch} has no committee client now")
            signatures = client.sign_settlement_batch(
                batch.epoch,
                batch.batch_id,
                [Certificate.from_json(i.certificate, "certificate") for i in items],
                hashed,
            )
        except NoQuorum as exc:
            if _id_taken(client, exc) and _renumber(batch):
                batch.refresh_from_db()
                continue
            return _sign_failed(batch, exc)
        except CommitteeError as exc:
            return _sign_failed(batch, exc)
        SettlementBatch.objects.filter(pk=batch.pk, state=BatchState.SIGNING).update(
            state=BatchState.SIGNED,
            signatures="0x" + signatures.hex(),
            next_attempt_at=None,
            last_error="",
        )
        break
    batch.refresh_from_db()
    return batch


def _sign_failed(batch: SettlementBatch, exc: Exception) -> SettlementBatch:
    attempts = batch.attempts + 1
    SettlementBatch.objects.filter(pk=batch.pk, state=BatchState.SIGNING).update(
        attempts=attempts, next_attempt_at=retry_at(attempts), last_error=str(exc)[:2000]
    )
    logger.warning("%s: the committee did not sign: %s", batch, exc)
    batch.refresh_from_db()
    return batch


def _id_taken(client, exc: NoQuorum) -> bool:
    """More than a third of the stake refused the batch id itself: no quorum can sign it."""
    taken = [
        a
        for a, f in exc.failures.items()
        if f.code == "invalid_batch" and "batch id" in (f.message or "")
    ]
    committee = client.committee
    return bool(taken) and 3 * committee.stake_of(taken) >= committee.stake_of(
        m.address for m in committee.members
    )


def _renumber(batch: SettlementBatch) -> bool:
    """The next free batch id of the processor for a batch nobody has signed yet."""
    with transaction.atomic():
        locked = rows_locked(SettlementBatch.objects.filter(pk=batch.pk, state=BatchState.SIGNING))
        if not locked:
            return False
        last = SettlementBatch.objects.filter(
            chain=batch.chain, processor_address=batch.processor_address
        ).aggregate(m=Max("batch_id"))["m"]
        old = locked[0].batch_id
        new = max(last + 1, old + 1)
        try:
            with transaction.atomic():
                SettlementBatch.objects.filter(pk=batch.pk).update(batch_id=new)
        except IntegrityError:
            return False
    logger.warning("%s: batch id %s is taken at the committee; now %s", batch, old, new)
    return True


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
        _refuse(
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


# ------------------------------------------------------------------ the tick


def batches_tick(*, limit: int = BATCH_MAX) -> dict[str, int]:
    """One pass (the beat task): refuse, gather, sign, submit, read results. Every
    step is safe to repeat and to run concurrently with another tick."""
    counts = {"refused": 0, "gathered": 0, "signed": 0, "submitted": 0, "settled": 0}
    try:
        where = chainview.target()
    except SettlementUnavailable as exc:
        logger.info("on-chain settlement idle: %s", exc)
        return counts
    now = timezone.now()
    counts["refused"] = redemptions_refuse_closed(where)
    while batch_gather(where, limit=limit) is not None:
        counts["gathered"] += 1
    mine = SettlementBatch.objects.filter(chain=where.chain, processor_address=where.processor)
    for batch in mine.filter(_due(now), state=BatchState.SIGNING).select_related("chain"):
        counts["signed"] += batch_sign(batch).state == BatchState.SIGNED
    for batch in mine.filter(_due(now), state=BatchState.SIGNED).select_related("chain"):
        counts["submitted"] += batch_submit(batch).state == BatchState.SUBMITTED
    for batch in mine.filter(state=BatchState.CONFIRMED).select_related("chain", "tx"):
        counts["settled"] += batch_results(batch).state == BatchState.SETTLED
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
