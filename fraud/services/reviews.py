"""Review decisions: approve or reject a held payment, with a note, four eyes above the
threshold, never by a party to the payment, only by the reviewer group.

Lock order: the Review row, then (inside payment_approve / payment_reject) the Payment row,
then ledger accounts. Nothing locks a Review after a Payment, so no cycle is possible.
"""

from django.db import transaction
from django.utils import timezone

from fastpay.errors import NotFound
from fastpay.events import event_record
from fastpay.locks import for_update
from fraud.errors import NoteRequired, ReviewClosed, ReviewForbidden
from fraud.models import (
    AuditAction,
    Review,
    ReviewDecision,
    ReviewOutcome,
    ReviewState,
    Verdict,
)
from fraud.services.audit import audit_record
from wallets.models import PaymentState
from wallets.services.payments import payment_approve, payment_reject

REVIEW_PERMISSION = "wallets.review_payment"


def _review_lock(review_id) -> Review:
    review = (
        for_update(Review.objects, of=("self",))
        .select_related("payment")
        .filter(pk=review_id)
        .first()
    )
    if review is None:
        raise NotFound("no such review", param="review")
    return review


def review_decide(*, review_id: int, by, verdict: str, note: str) -> Review:
    """Record `by`'s verdict. Reject closes the review and returns the money to the payer.
    Approve releases it to the payee once `required_approvals` different reviewers have
    approved; until then the review stays open. Returns the review."""
    note = (note or "").strip()
    if verdict not in Verdict.values:
        raise ReviewForbidden(f"unknown verdict {verdict!r}", param="verdict")
    if by is None or not by.is_active or not by.has_perm(REVIEW_PERMISSION):
        raise ReviewForbidden("only reviewers decide reviews")
    if not note:
        raise NoteRequired("a decision needs a note", param="note")
    with transaction.atomic():
        review = _review_lock(review_id)
        payment = review.payment
        if review.state != ReviewState.OPEN:
            raise ReviewClosed()
        if by.pk in (payment.payer_id, payment.payee_id):
            raise ReviewForbidden("you are a party to this payment: someone else must decide")
        if review.decisions.filter(reviewer=by).exists():
            raise ReviewForbidden(
                "you already approved this payment: four eyes need a second reviewer"
            )
        ReviewDecision.objects.create(review=review, reviewer=by, verdict=verdict, note=note)
        approvals = review.decisions.filter(verdict=Verdict.APPROVE).count()
        closing = verdict == Verdict.REJECT or approvals >= review.required_approvals
        audit_record(
            action=AuditAction.REVIEW_DECISION,
            actor=by,
            object_type="payment",
            object_id=payment.pk,
            before={"state": payment.state, "approvals": approvals - (verdict == Verdict.APPROVE)},
            after={
                "verdict": verdict,
                "approvals": approvals,
                "required_approvals": review.required_approvals,
                "closes_review": closing,
            },
            note=note,
        )
        if closing:
            _review_close(review, by=by, verdict=verdict, note=note)
    return review


def _review_close(review: Review, *, by, verdict: str, note: str) -> None:
    if review.payment.state != PaymentState.FLAGGED:
        # Decided outside the queue (e.g. the payments admin); close to match.
        outcome = (
            ReviewOutcome.APPROVED
            if review.payment.state == PaymentState.SUCCESS
            else ReviewOutcome.REJECTED
        )
        reason = f"payment already {review.payment.state}"
    elif verdict == Verdict.APPROVE:
        payment_approve(payment_id=review.payment_id, by=by, note=note)
        outcome, reason = ReviewOutcome.APPROVED, "approved"
    else:
        payment_reject(payment_id=review.payment_id, by=by, note=note)
        outcome, reason = ReviewOutcome.REJECTED, "rejected"
    review.payment.refresh_from_db()
    review.state = ReviewState.CLOSED
    review.outcome = outcome
    review.close_reason = f"{reason}: {note}"
    review.closed_at = timezone.now()
    review.save(update_fields=["state", "outcome", "close_reason", "closed_at"])
    reviewers = list(review.decisions.values_list("reviewer__username", flat=True))
    event_record(
        topic="review.closed",
        aggregate_type="review",
        aggregate_id=str(review.payment_id),
        payload={
            "review_id": review.pk,
            "payment_id": str(review.payment_id),
            "state": "closed",
            "outcome": outcome,
            "reason": reason,
            "note": note,
            "reviewers": reviewers,
        },
    )
