"""Steps 1-3 of settlement.batches.services: refusing what can no longer settle,
gathering PENDING redemptions into a batch, and the committee's signatures."""

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
from settlement.batches import chainview
from settlement.batches.intake import redemption_payload
from settlement.batches.models import (
    BatchState,
    ChainRedemption,
    RedemptionState,
    SettlementBatch,
)

logger = logging.getLogger("settlement.batches")

BATCH_MAX = 200  # items per batch (gas ~16.5k-50k each: well inside a block)
RETRY_BASE_S = 30
RETRY_MAX_S = 3600
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


def due_q(now) -> Q:
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
                redemption_refuse(item, "settlement_window_closed", window.detail())
            refused += len(items)
        logger.error(
            "chain %s: %s redemptions of epoch %s refused: %s",
            where.chain.chain_id,
            len(items),
            window.epoch,
            window.detail(),
        )
    return refused


def redemption_refuse(item: ChainRedemption, reason: str, detail: str) -> None:
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
