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
  vendor accepted a valid voucher in time and is owed: the platform pays it (SETTLED
  ``covered``, offline.services.cover) up to the automatic limit, an admin above it. The
  payer is flagged and suspended only when the platform found the voucher taken before
  its deadline (``not_after`` + grace): found later, the spend was synced in time but
  settled late (the committee was down), and a payer who swept after the deadline did
  what the rules allow: the platform's delay is not the payer's fraud (no flag, no
  suspension; the claim is still opened, and recovered from the voucher's collateral);
- no quorum (authorities down): stays PENDING with ``last_error`` and is tried again
  after an exponential backoff with jitter (``next_attempt_at``, offline.conf
  settle_retry_*) by the beat task, the vendor's next sync or an admin's "retry
  settlement now";
- refused for good (every authority answered with a refusal no retry can change, e.g.
  ``invalid_signature``), or still unsettled after ``settle_max_attempts``: FLAGGED
  ``settlement_failed`` with the last error, for an admin (release retries it, reject
  frees the voucher).
"""

import logging
import secrets
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from fastpay.events import event_record, events_record
from fastpay.locks import for_update, rows_locked
from fastpay.models import OutboxEvent
from fastpay_protocol import typed_data as td
from fastpay_protocol.committee_errors import CommitteeError, ConflictingOrder
from fastpay_protocol.messages import (
    Certificate,
    SignedOrder,
    parse_signature,
)
from offline import committee as offline_committee
from offline import conf
from offline.models import Redemption, RedemptionState, Voucher, VoucherState
from offline.services.cover import COVERED, auto_coverable, redemptions_cover
from offline.services.redemptions import payer_flag_and_suspend, redemption_payload

#: committee refusals meaning the voucher's sequence 0 went to another order
TAKEN_CODES = {"sequence_mismatch", "sequence_locked"}
#: refusals that a retry cannot change (the spend itself is wrong for the committee);
#: not ``wrong_epoch``: past a voting window it waits for an operator (docs/offline.md)
PERMANENT_CODES = {"invalid_signature", "invalid_request"}
#: the reason of a redemption settlement gave up on
SETTLEMENT_FAILED = "settlement_failed"

logger = logging.getLogger(__name__)
_jitter = secrets.SystemRandom()


def retry_delay_s(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: base * 2**(attempts-1)
    capped at the maximum, of which a random half is taken off ("equal jitter": runs
    that failed together do not all come back at the same instant)."""
    delay = min(conf.settle_retry_max_s(), conf.settle_retry_base_s() * 2 ** max(attempts - 1, 0))
    return delay / 2 + _jitter.uniform(0, delay / 2)


def due_q(now) -> Q:
    """PENDING redemptions whose next attempt is due."""
    return Q(state=RedemptionState.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def redemptions_settle(*, limit: int | None = None) -> dict[str, int]:
    """Settle up to ``limit`` PENDING redemptions that are due (oldest first; the others
    wait for their ``next_attempt_at``). Returns counts by outcome: settled, flagged,
    retry."""
    limit = limit or conf.settle_batch()
    pending = list(
        Redemption.objects.filter(due_q(timezone.now()))
        .select_related("voucher", "voucher__token")
        # what settling a spend does not read (the issue certificate only for an
        # unfunded voucher: fetched then, in this thread)
        .defer("payment", "voucher__certificate", "voucher__ticket")
        .order_by("created_at")[:limit]
    )
    counts = {"settled": 0, "flagged": 0, "retry": 0}
    if not pending:
        return counts
    # a spend is signed for its voucher's epoch: certified by that epoch's committee
    # (nodes keep voting in a previous epoch for a while after a change, docs/offline.md)
    by_epoch: dict[int, list[Redemption]] = defaultdict(list)
    for redemption in pending:
        by_epoch[redemption.epoch].append(redemption)
    chunks = []
    size = conf.settle_chunk()
    for epoch, group in sorted(by_epoch.items()):
        client = offline_committee.client(epoch)
        if client is None:
            outcome = ("retry", "", f"no committee known for epoch {epoch}")
            _record(group, dict.fromkeys((r.pk for r in group), outcome), counts, {})
            continue
        chunks += [(client, group[i : i + size]) for i in range(0, len(group), size)]
    _settle_chunks(chunks, counts)
    return counts


def _settle_chunks(chunks: list[tuple[object, list[Redemption]]], counts: dict) -> None:
    """Certify, confirm and record chunk after chunk, as a pipeline: while this thread
    confirms chunk k and records its outcomes, a helper thread already has the committee
    certify chunk k+1 (the authorities work on it while the platform works on chunk k).
    The helper only does HTTP and checks the votes (the rows and their vouchers are loaded
    already): every database access stays in this thread and its transactions."""
    if not chunks:
        return
    with ThreadPoolExecutor(1, thread_name_prefix="settle-certify") as helper:
        ahead = helper.submit(_certify, *chunks[0])
        for k, (client, chunk) in enumerate(chunks):
            certified = ahead.result()
            if k + 1 < len(chunks):
                ahead = helper.submit(_certify, *chunks[k + 1])
            _fund_unfunded(client, chunk, certified)
            outcomes: dict = {}
            evidence: dict = {}
            _confirm(client, chunk, certified, outcomes, evidence)
            _record(chunk, outcomes, counts, evidence)


def _certify(client, group: list[Redemption]) -> list:
    """A certificate or the committee's error per spend (HTTP only: no database access)."""
    return client.certify_batch([_signed_spend(r) for r in group])


def _fund_unfunded(client, group: list[Redemption], certified: list) -> None:
    """A voucher account some authorities have not funded yet (its issue certificate was
    confirmed at a quorum only): push the issue certificates, then certify those spends
    again, in place in ``certified``. Reads the certificates: the caller's thread."""
    unfunded = [i for i, result in enumerate(certified) if _unfunded(result)]
    if not unfunded:
        return
    issued = dict(
        Voucher.objects.filter(pk__in=[group[i].voucher_id for i in unfunded]).values_list(
            "pk", "certificate"
        )
    )
    client.confirm_batch(
        [Certificate.from_json(issued[group[i].voucher_id]) for i in unfunded], wait_all=True
    )
    again = client.certify_batch([_signed_spend(group[i]) for i in unfunded])
    for i, result in zip(unfunded, again, strict=True):
        certified[i] = result


def _confirm(client, group: list[Redemption], certified: list, outcomes: dict, evidence: dict):
    """Confirm the certified spends; write each outcome into ``outcomes`` (and the proof of
    a taken voucher into ``evidence``). HTTP only, no transaction."""
    ready = []
    for redemption, result in zip(group, certified, strict=True):
        if isinstance(result, Certificate):
            ready.append((redemption, result))
        elif _taken(result):
            outcomes[redemption.pk] = ("flagged", "voucher_taken", str(result)[:255])
            evidence[redemption.pk] = _taken_evidence(redemption, result)
        elif _permanent(result):
            outcomes[redemption.pk] = ("flagged", SETTLEMENT_FAILED, str(result)[:255])
        else:
            outcomes[redemption.pk] = ("retry", "", str(result)[:255])
    confirmed = client.confirm_batch([certificate for _, certificate in ready])
    for (redemption, certificate), confirmation in zip(ready, confirmed, strict=True):
        if isinstance(confirmation, CommitteeError):
            outcomes[redemption.pk] = ("retry", "", str(confirmation)[:255])
        else:
            outcomes[redemption.pk] = ("settled", "", certificate.to_json())


def _taken_evidence(redemption: Redemption, error) -> dict:
    """What proves the payer moved the voucher's money elsewhere: the vendor's spend and
    the other sequence-0 order (with the voucher key's signature when an authority has
    its certificate; else the order with an authority's vote). HTTP: outside any
    transaction."""
    other: dict = {}
    if isinstance(error, ConflictingOrder):
        held = next(iter(error.conflicts.values()), None)
        if held is not None:
            other = {"order": held.order.as_message(), "vote": held.vote.to_json()}
    certificate = _applied_certificate(redemption.voucher_address, redemption.epoch)
    if certificate is not None:
        other = {"certificate": certificate.to_json()}
    return {
        "voucher": redemption.voucher_address,
        "first": {
            "redemption_id": str(redemption.pk),
            "vendor_id": redemption.vendor_id,
            "order": _signed_spend(redemption).to_json(),
        },
        "second": other,
    }


def _applied_certificate(voucher: str, epoch: int) -> Certificate | None:
    """The voucher's sequence-0 certificate from the first authority that has it, through
    the committee client (verified against its epoch's committee: a lying node cannot
    frame a payer)."""
    client = offline_committee.client(epoch)
    if client is None:
        return None
    return client.applied_certificate(voucher, 0, committees=offline_committee.committees())


def _codes(result) -> set:
    """The committee's refusal codes in ``result`` (none for a certificate, or an error
    that carries none)."""
    codes = getattr(result, "codes", None)
    return codes() if callable(codes) else set()


def _unfunded(result) -> bool:
    return "insufficient_balance" in _codes(result)


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


def _permanent(error) -> bool:
    """Every authority answered, each with a refusal no retry can change (an authority
    that timed out or is down may still certify: not permanent)."""
    failures = getattr(error, "failures", None)
    if not failures:
        return False
    return all(f.reason == "refused" and f.code in PERMANENT_CODES for f in failures.values())


def _taken(error) -> bool:
    if isinstance(error, ConflictingOrder):
        return True
    return bool(_codes(error) & TAKEN_CODES)


def _record(
    pending: list[Redemption], outcomes: dict, counts: dict[str, int], evidence: dict
) -> None:
    """Write every outcome in one transaction, each as a compare-and-set on the PENDING
    state (another settlement run may have written some meanwhile: only the rows still
    PENDING are ours), then mark the vouchers and record the events in bulk. The rows
    still PENDING are locked first, all at once in pk order (two runs cannot deadlock);
    the settled ones (nearly all) are then written with one executemany
    (``_settled_write``), the others, rare, with one UPDATE per row."""
    now = timezone.now()
    written = []
    with transaction.atomic(durable=True):
        ours = _pending_lock([r.pk for r in pending])
        # a taken voucher's payer may be suspended (their OfflineLimit row) and covered
        # (the voucher, then the ledger accounts): its voucher is locked first, as a sync
        # locks vouchers before the OfflineLimit it suspends (no lock cycle between them)
        rows_locked(
            Voucher.objects.filter(
                pk__in={r.voucher_id for r in pending if outcomes[r.pk][1] == "voucher_taken"}
            )
        )
        _settled_write(
            [
                (r.pk, outcomes[r.pk][2])
                for r in pending
                if outcomes[r.pk][0] == "settled" and r.pk in ours
            ],
            now,
        )
        for redemption in pending:
            outcome, reason, data = outcomes[redemption.pk]
            counts[outcome] += 1
            if outcome == "settled":
                if redemption.pk in ours:
                    written.append((redemption, RedemptionState.SETTLED, reason))
                continue
            still = Redemption.objects.filter(pk=redemption.pk, state=RedemptionState.PENDING)
            attempts = redemption.attempts + 1
            if outcome == "retry" and attempts < conf.settle_max_attempts():
                still.update(
                    attempts=attempts,
                    next_attempt_at=now + timedelta(seconds=retry_delay_s(attempts)),
                    last_error=data,
                    detail=data,  # what the vendor's API shows while it waits
                    updated_at=now,
                )
                continue
            if outcome == "retry":  # out of attempts: an admin decides
                counts["retry"] -= 1
                counts["flagged"] += 1
                reason, data = SETTLEMENT_FAILED, f"gave up after {attempts} attempts: {data}"
                data = data[:255]
            state = RedemptionState.FLAGGED
            changed = still.update(
                state=state,
                reason=reason,
                detail=data,
                attempts=attempts,
                last_error=data if reason == SETTLEMENT_FAILED else redemption.last_error,
                next_attempt_at=None,
                updated_at=now,
            )
            if changed:
                written.append((redemption, state, reason))
                if reason == SETTLEMENT_FAILED:
                    logger.warning("redemption %s: settlement gave up: %s", redemption.pk, data)
                if reason == "voucher_taken":
                    _voucher_taken(redemption, evidence[redemption.pk], now)
        # the vendor is owed: the platform pays it now and claims from the payer
        taken = [r for r, _, reason in written if reason == "voucher_taken" and auto_coverable(r)]
        written += [(r, RedemptionState.SETTLED, COVERED) for r in redemptions_cover(taken)]
        # one settlement gave up on is not spent yet (as one flagged by the risk hook)
        Voucher.objects.filter(
            pk__in=[r.voucher_id for r, _, reason in written if reason != SETTLEMENT_FAILED]
        ).update(state=VoucherState.REDEEMED)
        # state and reason as written here: a covered row is in ``written`` twice (flagged,
        # then settled), and rows settled by _settled_write are stale in memory
        events_record(
            OutboxEvent(
                topic=f"offline.redemption_{state}",
                aggregate_type="redemption",
                aggregate_id=str(r.pk),
                payload={**redemption_payload(r), "state": state, "reason": reason},
            )
            for r, state, reason in written
        )


def _pending_lock(ids: list) -> set:
    """The ids among ``ids`` whose row is still PENDING, locked until the transaction ends
    (PostgreSQL, in pk order; SQLite's IMMEDIATE transaction already holds the database's
    write lock). FOR NO KEY UPDATE, what the UPDATE itself takes: a sync inserting a
    double spend that points at one of them (KEY SHARE) while holding its voucher's lock
    must not wait for us while we wait for that voucher. Caller holds the transaction."""
    ours: set = set()
    ids = sorted(ids)  # pk order across the chunks too
    for start in range(0, len(ids), 500):
        ours |= set(
            for_update(
                Redemption.objects.filter(
                    pk__in=ids[start : start + 500], state=RedemptionState.PENDING
                )
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    return ours


def _settled_write(rows: list[tuple[object, dict]], now) -> None:
    """PENDING -> SETTLED with its certificate for each (redemption id, certificate JSON),
    rows the caller locked (``_pending_lock``), in one executemany, each UPDATE still
    guarded on state=PENDING. Django's bulk_update would build a CASE per field and row,
    and filter().update() per row costs ~0.3 ms of ORM each."""
    if not rows:
        return
    field = Redemption._meta.get_field
    prep = {name: field(name).get_db_prep_save for name in ("id", "certificate", "settled_at")}
    col = {
        name: connection.ops.quote_name(field(name).column)
        for name in ("id", "state", "certificate", "settled_at", "reason", "detail", "updated_at")
    }
    table = connection.ops.quote_name(Redemption._meta.db_table)
    stamp = prep["settled_at"](now, connection)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {col['state']} = %s, {col['certificate']} = %s, "  # noqa: S608 - names from _meta
            f"{col['settled_at']} = %s, {col['reason']} = '', {col['detail']} = '', "
            f"{col['updated_at']} = %s WHERE {col['id']} = %s AND {col['state']} = %s",
            [
                (
                    RedemptionState.SETTLED.value,
                    prep["certificate"](certificate, connection),
                    stamp,
                    stamp,
                    prep["id"](pk, connection),
                    RedemptionState.PENDING.value,
                )
                for pk, certificate in rows
            ],
        )


def taken_after_deadline(redemption: Redemption, now) -> bool:
    """The platform finds ``redemption``'s voucher taken only after the voucher's deadline
    (``not_after`` + grace): the payer may have swept it as the rules allow, while the
    spend (synced in time) waited for the committee."""
    return now > redemption.voucher.not_after + timedelta(seconds=conf.grace_s())


def _voucher_taken(redemption: Redemption, evidence: dict, now) -> None:
    """Caller holds the transaction. Before the deadline: the payer took the voucher back
    early, flagged and suspended. After it: the platform's own delay; the payer is not
    blamed, an operator is told (the committee was down past a voucher's deadline)."""
    if not taken_after_deadline(redemption, now):
        _flag_payer(redemption, evidence)
        return
    logger.warning(
        "redemption %s: voucher %s swept after its deadline while its spend waited for the "
        "committee; the vendor is covered, the payer not flagged",
        redemption.pk,
        redemption.voucher_address,
    )
    event_record(
        topic="offline.settled_late",
        aggregate_type="redemption",
        aggregate_id=redemption.pk,
        payload={
            **redemption_payload(redemption),
            "payer_id": redemption.voucher.user_id,
            "deadline": int(redemption.voucher.not_after.timestamp()) + conf.grace_s(),
            "attempts": redemption.attempts + 1,
            "evidence": evidence,
        },
    )


def _flag_payer(redemption: Redemption, evidence: dict) -> None:
    """Caller holds the transaction: flagged and suspended as for a double spend between
    two vendors (the settlement's own event says why)."""
    payer_flag_and_suspend(
        payer=redemption.voucher.user,
        voucher=redemption.voucher_address,
        evidence=evidence,
        reason=f"voucher {redemption.voucher_address} taken early",
    )


def redemptions_retry_now(*, ids: list) -> int:
    """Admin, "retry settlement now": the PENDING ones among ``ids`` are due at once and
    those settlement gave up on (FLAGGED ``settlement_failed``) go back to PENDING with
    their attempts counted from zero; settlement is queued after commit. Returns how many
    rows were made due (other states are left alone)."""
    now = timezone.now()
    with transaction.atomic():
        # pk order, as a settlement run locks them
        rows = rows_locked(
            Redemption.objects.filter(pk__in=ids).filter(
                Q(state=RedemptionState.PENDING)
                | Q(state=RedemptionState.FLAGGED, reason=SETTLEMENT_FAILED)
            )
        )
        due = Redemption.objects.filter(
            pk__in=[r.pk for r in rows if r.state == RedemptionState.PENDING]
        ).update(next_attempt_at=None, updated_at=now)
        revived = [r for r in rows if r.state == RedemptionState.FLAGGED]
        Redemption.objects.filter(pk__in=[r.pk for r in revived]).update(
            state=RedemptionState.PENDING,
            reason="",
            detail="",
            attempts=0,
            next_attempt_at=None,
            updated_at=now,
        )
        events_record(
            OutboxEvent(
                topic="offline.redemption_released",
                aggregate_type="redemption",
                aggregate_id=str(r.pk),
                payload={**redemption_payload(r), "state": RedemptionState.PENDING, "reason": ""},
            )
            for r in revived
        )
        if due or revived:
            transaction.on_commit(_enqueue_settlement)
    return due + len(revived)


def _enqueue_settlement() -> None:
    from offline.tasks import redemptions_settle_task

    redemptions_settle_task.delay()
