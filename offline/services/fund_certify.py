"""FUND certification (docs/offline.md, "Moving money between online and offline"): the
reserved order certified and confirmed by the committee after commit, in sequence order
per platform account, re-signed for the active epoch when its own closed (the gateway's
EpochClients), retried with exponential backoff and at most FASTPAY_FUND_MAX_ATTEMPTS /
FASTPAY_FUND_MAX_AGE_S before it is STUCK (an ERROR log, ``offline.fund_stuck``); a
permanent refusal stops it FAILED. offline.services.transfers reserves the FUND and
re-exports these. Nothing here holds a transaction while it talks to the committee."""

import contextlib
import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from authorities.gateway import CommitteeUnavailable
from fastpay.errors import NotFound
from fastpay.events import event_record
from fastpay_protocol import handoff
from fastpay_protocol.committee_errors import ConflictingCertificate, ConflictingOrder, NoQuorum
from fastpay_protocol.messages import order_from_json
from offline.errors import PlatformNotConfigured
from offline.models import OfflineTransfer, TransferDirection, TransferState

# FUND retries: 10 s, 20 s, 40 s ... capped at an hour, with up to 10% jitter so that
# transfers left by one outage do not all come back in the same second.
FUND_RETRY_BASE_S = 10
FUND_RETRY_MAX_S = 3600
# refusals of the order itself: the same order will never be certified (wrong_epoch is
# not: the gateway re-signs the payment for the active epoch, and a schedule not known
# yet is read again)
PERMANENT_CODES = frozenset({"invalid_signature", "invalid_request"})

log = logging.getLogger(__name__)


def fund_retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failed attempt a FUND transfer is tried again."""
    seconds = min(FUND_RETRY_MAX_S, FUND_RETRY_BASE_S * 2 ** min(attempts - 1, 20))
    return timedelta(seconds=seconds * (1 + random.random() / 10))  # noqa: S311 (jitter)


def _permanent_refusal(exc: CommitteeUnavailable) -> str | None:
    """The reason the committee will never certify this order, or None (try again)."""
    cause = exc.__cause__
    if isinstance(cause, ConflictingCertificate):
        return f"an authority applied another payment at this sequence: {cause}"
    if isinstance(cause, ConflictingOrder):
        return f"the authorities hold another order for this sequence: {cause}"
    if isinstance(cause, NoQuorum) and cause.failures:
        reasons = [(f.reason, f.code) for f in cause.failures.values()]
        if all(reason == "refused" and code in PERMANENT_CODES for reason, code in reasons):
            return f"the authorities refuse the order: {cause}"
    return None


def offline_fund_process(*, transfer_id) -> OfflineTransfer:
    """Certify and confirm every pending FUND transfer of the target's platform account up
    to this one, in sequence order (the authorities accept only the account's next
    sequence). When no quorum answers, the transfer that failed records the attempt and
    when to retry (STUCK past the retry budget), and CommitteeUnavailable is raised; a
    permanent refusal marks it FAILED (its reason in last_error) and stops there. A FUND
    the committee already applied (a crash before it was recorded) is recorded DONE with
    the committee's certificate. No transaction is held: this talks to the committee."""
    target = OfflineTransfer.objects.filter(pk=transfer_id).first()
    if target is None:
        raise NotFound("no such transfer")
    pending = (
        OfflineTransfer.objects.filter(
            direction=TransferDirection.FUND,
            state=TransferState.PENDING,
            sender=target.sender,
            sequence__lte=target.sequence,
        )
        .order_by("sequence")
        .select_related("token")
    )
    client = _gateway()
    for transfer in pending:
        order = client.order(
            sender=transfer.sender,
            recipient=transfer.recipient,
            token=transfer.token.contract_address,
            amount=transfer.amount,
            sequence=transfer.sequence,
            epoch=transfer.epoch,
        )
        try:
            certificate = client.certify_and_confirm(order)
        except CommitteeUnavailable as exc:
            certificate = _already_applied(client, order, exc)
            if certificate is None:
                _fund_failed(transfer, exc)
                raise
        _fund_done(transfer.pk, certificate)
    target.refresh_from_db()
    return target


def _already_applied(client, order, exc: CommitteeUnavailable) -> dict | None:
    """The committee's certificate of this very payment when the authorities answer that
    its sequence is behind them (applied before this process recorded it), else None."""
    cause = exc.__cause__
    if not isinstance(cause, NoQuorum) or "sequence_mismatch" not in cause.codes():
        return None
    if not any(
        (f.extra or {}).get("next_sequence", 0) > order.sequence for f in cause.failures.values()
    ):
        return None
    try:
        applied = client.applied_certificate(order.sender, order.sequence)
    except CommitteeUnavailable:
        return None
    if applied is None or not handoff.same_payment(order_from_json(applied["order"]), order):
        return None
    return applied


def _fund_budget_spent(transfer: OfflineTransfer, attempts: int) -> bool:
    """Past FASTPAY_FUND_MAX_ATTEMPTS failed attempts or FASTPAY_FUND_MAX_AGE_S since it
    was made (or since an operator last retried it)."""
    since = transfer.retried_at or transfer.created_at
    age = (timezone.now() - since).total_seconds()
    return attempts >= settings.FASTPAY_FUND_MAX_ATTEMPTS or age >= settings.FASTPAY_FUND_MAX_AGE_S


def _fund_failed(transfer: OfflineTransfer, exc: CommitteeUnavailable) -> None:
    attempts = transfer.attempts + 1
    reason = _permanent_refusal(exc)
    stuck = reason is None and _fund_budget_spent(transfer, attempts)
    with transaction.atomic():
        pending = OfflineTransfer.objects.filter(pk=transfer.pk, state=TransferState.PENDING)
        if reason is None and not stuck:
            pending.update(
                attempts=attempts,
                last_error=str(exc)[:255],
                next_attempt_at=timezone.now() + fund_retry_delay(attempts),
            )
            return
        state = TransferState.STUCK if stuck else TransferState.FAILED
        last_error = (reason or f"retries exhausted after {attempts} attempts: {exc}")[:255]
        if pending.update(
            state=state, attempts=attempts, last_error=last_error, next_attempt_at=None
        ):
            transfer.refresh_from_db()
            topic = "offline.fund_stuck" if stuck else "offline.fund_failed"
            event_record(
                topic=topic,
                aggregate_type="offline_transfer",
                aggregate_id=transfer.pk,
                payload={**_payload(transfer), "reason": transfer.last_error},
            )
            log.error(
                "FUND %s (%s sequence %s) %s: %s; retry or void it (admin, or "
                "manage.py offline_fund_void)",
                transfer.pk,
                transfer.sender,
                transfer.sequence,
                state,
                transfer.last_error,
            )


def offline_transfers_retry(*, now=None) -> dict[str, int]:
    """Beat: certify the PENDING FUND transfers that are due (next_attempt_at passed, or
    never tried), per platform account in sequence order. Returns counts of the due
    transfers by the state they are in now. Safe to run twice at once: the authorities
    answer the same order with the same votes and completion is a compare-and-set."""
    now = now or timezone.now()
    _accounts_check()
    due = OfflineTransfer.objects.filter(
        direction=TransferDirection.FUND, state=TransferState.PENDING
    ).filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    ids = list(due.values_list("pk", flat=True))
    # the last due transfer of each sender: processing it does every earlier pending one
    last = {}
    for pk, sender in due.order_by("sequence").values_list("pk", "sender"):
        last[sender] = pk
    for transfer_id in last.values():
        try:
            offline_fund_process(transfer_id=transfer_id)
        except CommitteeUnavailable:
            continue  # recorded on the transfer that failed; retried when due
    return _state_counts(ids)


def _accounts_check() -> None:
    """Compare the platform accounts' sequences with the committee's when due."""
    from offline.services.platform_accounts import platform_accounts_check_due

    # nothing configured, or unreachable: retried at the next run
    with contextlib.suppress(CommitteeUnavailable, PlatformNotConfigured):
        platform_accounts_check_due()


def _state_counts(ids) -> dict[str, int]:
    counts = dict.fromkeys(TransferState.values, 0)
    for state in OfflineTransfer.objects.filter(pk__in=ids).values_list("state", flat=True):
        counts[state] += 1
    return counts


def offline_transfers_retry_now(*, ids) -> dict[str, int]:
    """Admin: retry these FUND transfers now, PENDING ones before their backoff is over,
    FAILED and STUCK ones again (after the cause was fixed; the retry budget starts
    again). Returns their counts by state after."""
    OfflineTransfer.objects.filter(
        pk__in=ids,
        direction=TransferDirection.FUND,
        state__in=[TransferState.PENDING, TransferState.FAILED, TransferState.STUCK],
    ).update(
        state=TransferState.PENDING, next_attempt_at=None, attempts=0, retried_at=timezone.now()
    )
    offline_transfers_retry()
    return _state_counts(ids)


def _fund_done(transfer_id, certificate: dict, *, states=(TransferState.PENDING,)) -> None:
    """Record the certificate (of this payment: its epoch may be a later one than the
    reservation's, re-signed after the first closed)."""
    with transaction.atomic():
        updated = OfflineTransfer.objects.filter(pk=transfer_id, state__in=states).update(
            state=TransferState.DONE,
            certificate=certificate,
            epoch=certificate["order"]["epoch"],
            last_error="",
            next_attempt_at=None,
        )
        if updated:
            transfer = OfflineTransfer.objects.get(pk=transfer_id)
            event_record(
                topic="offline.funded",
                aggregate_type="offline_transfer",
                aggregate_id=transfer.pk,
                payload=_payload(transfer),
            )


def _gateway():
    """The gateway the transfers module uses (one place for tests to replace it)."""
    from offline.services import transfers

    return transfers.gateway()


def _payload(transfer: OfflineTransfer) -> dict:
    from offline.services.transfers import _payload as payload

    return payload(transfer)
