"""Settlement: PENDING redemptions become spend certificates (voucher -> vendor,
sequence 0) obtained from the committee in batches, then SETTLED: confirming the
certificate is what credits the vendor's FastPay account at the authorities.

HTTP runs outside any transaction; each outcome is written with a compare-and-set on
``state=PENDING``, so two settlement runs at once cannot settle one redemption twice (and
the authorities certify at most one order per voucher anyway).

Outcomes the committee can give for a valid spend:
- a certificate: SETTLED;
- the voucher's sequence 0 is held or used by another order that is not a redemption we
  know (the payer reclaimed early or paid off-platform): FLAGGED ``voucher_taken``: the
  vendor accepted a valid voucher in time and is owed; an admin covers it (docs/offline.md,
  "Always paid");
- no quorum (authorities down): stays PENDING and is retried by the next run.
"""

from django.db import transaction
from django.utils import timezone

from fastpay.events import events_record
from fastpay.models import OutboxEvent
from fastpay_protocol import typed_data as td
from fastpay_protocol.committee_errors import CommitteeError, ConflictingOrder
from fastpay_protocol.messages import Certificate, SignedOrder, parse_signature
from offline import committee as offline_committee
from offline import conf
from offline.models import Redemption, RedemptionState, Voucher, VoucherState

#: committee refusals meaning the voucher's sequence 0 went to another order
TAKEN_CODES = {"sequence_mismatch", "sequence_locked"}


def redemptions_settle(*, limit: int | None = None) -> dict[str, int]:
    """Settle up to ``limit`` PENDING redemptions (oldest first). Returns counts by
    outcome: settled, flagged, retry."""
    limit = limit or conf.settle_batch()
    pending = list(
        Redemption.objects.filter(state=RedemptionState.PENDING)
        .select_related("voucher", "voucher__token")
        .order_by("created_at")[:limit]
    )
    counts = {"settled": 0, "flagged": 0, "retry": 0}
    if not pending:
        return counts
    client = offline_committee.client()
    # the vouchers' issue certificates first: a no-op where applied, and it funds the
    # voucher account at any authority that missed it
    issues = {r.voucher_id: Certificate.from_json(r.voucher.certificate) for r in pending}
    client.confirm_batch(list(issues.values()))
    spends = [_signed_spend(r) for r in pending]
    certified = client.certify_batch(spends)
    ready, outcomes = [], {}
    for redemption, result in zip(pending, certified, strict=True):
        if isinstance(result, Certificate):
            ready.append((redemption, result))
        elif _taken(result):
            outcomes[redemption.pk] = ("flagged", "voucher_taken", str(result)[:255])
        else:
            outcomes[redemption.pk] = ("retry", "", str(result)[:255])
    confirmed = client.confirm_batch([certificate for _, certificate in ready])
    for (redemption, certificate), confirmation in zip(ready, confirmed, strict=True):
        if isinstance(confirmation, CommitteeError):
            outcomes[redemption.pk] = ("retry", "", str(confirmation)[:255])
        else:
            outcomes[redemption.pk] = ("settled", "", certificate.to_json())
    _record(pending, outcomes, counts)
    return counts


def _signed_spend(redemption: Redemption):
    voucher = redemption.voucher
    order = td.TransferOrder(
        voucher.address,
        redemption.recipient,
        voucher.token.contract_address,
        redemption.amount,
        0,
        redemption.epoch,
    )
    return SignedOrder(order, parse_signature(redemption.signature, "signature"))


def _taken(error) -> bool:
    if isinstance(error, ConflictingOrder):
        return True
    codes = error.codes() if hasattr(error, "codes") else set()
    return bool(codes & TAKEN_CODES)


def _record(pending: list[Redemption], outcomes: dict, counts: dict[str, int]) -> None:
    now = timezone.now()
    events = []
    with transaction.atomic(durable=True):
        for redemption in pending:
            outcome, reason, data = outcomes[redemption.pk]
            counts[outcome] += 1
            still = Redemption.objects.filter(pk=redemption.pk, state=RedemptionState.PENDING)
            if outcome == "retry":
                still.update(attempts=redemption.attempts + 1, detail=data, updated_at=now)
                continue
            if outcome == "settled":
                changed = still.update(
                    state=RedemptionState.SETTLED,
                    certificate=data,
                    settled_at=now,
                    reason="",
                    detail="",
                    updated_at=now,
                )
                topic = "offline.redemption_settled"
            else:
                changed = still.update(
                    state=RedemptionState.FLAGGED, reason=reason, detail=data, updated_at=now
                )
                topic = "offline.redemption_flagged"
            if not changed:
                continue
            Voucher.objects.filter(pk=redemption.voucher_id).update(state=VoucherState.REDEEMED)
            events.append(
                OutboxEvent(
                    topic=topic,
                    aggregate_type="redemption",
                    aggregate_id=str(redemption.pk),
                    payload={
                        "redemption_id": str(redemption.pk),
                        "vendor_id": redemption.vendor_id,
                        "voucher": redemption.voucher_address,
                        "amount_units": redemption.amount,
                        "state": RedemptionState.SETTLED
                        if outcome == "settled"
                        else RedemptionState.FLAGGED,
                        "reason": reason,
                    },
                )
            )
        events_record(events)
