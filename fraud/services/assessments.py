"""Store assessments with what they judged, and open reviews for held payments.

Called inside the payment's (or redemption's) transaction, after its rows exist.
"""

from collections.abc import Iterable

from fastpay.events import events_record
from fastpay.models import OutboxEvent
from fraud.models import Assessment, Channel, Review, RuleHit
from fraud.services.breakers import breakers_evaluate
from fraud.thresholds import thresholds_load
from wallets.models import PaymentState
from wallets.risk import RiskAssessment


def _hits(reasons) -> list[tuple[str, int]]:
    """(rule, score) per reason; a foreign assessor's plain-text reasons count as 'custom'."""
    hits = []
    for reason in reasons:
        if isinstance(reason, dict):
            hits.append((str(reason.get("rule", "custom"))[:32], int(reason.get("score", 0))))
        else:
            hits.append(("custom", 0))
    return hits


def _assessment(payment, risk: RiskAssessment, channel: str, subject: str, occurred_at):
    return Assessment(
        payment=payment,
        subject=subject,
        channel=channel,
        payer_id=payment.payer_id,
        payee_id=payment.payee_id,
        token_id=payment.token_id,
        amount=payment.amount,
        decision=risk.decision,
        score=max(0, min(100, risk.score)),
        reasons=list(risk.reasons),
        occurred_at=occurred_at,
    )


def payments_assessments_record(pairs: Iterable[tuple[object, RiskAssessment]]) -> None:
    """Record the assessment of each newly created payment; open a review for each FLAGGED
    one (event review.opened); then let the circuit breakers look at the new figures.

    Runs inside payment_create_batch's transaction, after the payments are inserted.
    """
    pairs = list(pairs)
    if not pairs:
        return
    assessments = Assessment.objects.bulk_create(
        [
            _assessment(payment, risk, Channel.ONLINE, f"payment:{payment.id}", payment.created_at)
            for payment, risk in pairs
        ]
    )
    RuleHit.objects.bulk_create(
        [
            RuleHit(assessment=a, rule=rule, score=score, created_at=a.created_at)
            for a in assessments
            for rule, score in _hits(a.reasons)
        ]
    )
    flagged = [
        (payment, a)
        for (payment, _), a in zip(pairs, assessments, strict=True)
        if payment.state == PaymentState.FLAGGED
    ]
    if flagged:
        reviews_open(flagged)
    payments = [payment for payment, _ in pairs]
    breakers_evaluate(
        tokens={p.token for p in payments},
        payees={p.payee for p in payments},
        payers={p.payer for p in payments},
    )


def reviews_open(flagged: list[tuple[object, Assessment]]) -> list[Review]:
    """Open a review per flagged payment; four eyes above the threshold."""
    four_eyes = thresholds_load()["four_eyes"]
    reviews = []
    for payment, assessment in flagged:
        limit = four_eyes.params["above_tokens"] * 10**payment.token.ledger_decimals
        hits = _hits(assessment.reasons)
        reviews.append(
            Review(
                payment=payment,
                assessment=assessment,
                score=assessment.score,
                top_rule=max(hits, key=lambda h: h[1])[0] if hits else "",
                required_approvals=2 if four_eyes.enabled and payment.amount >= limit else 1,
            )
        )
    reviews = Review.objects.bulk_create(reviews)
    events_record(
        OutboxEvent(
            topic="review.opened",
            aggregate_type="review",
            aggregate_id=str(review.payment_id),
            payload={
                "review_id": review.pk,
                "payment_id": str(review.payment_id),
                "state": "open",
                "score": review.score,
                "rules": [rule for rule, _ in _hits(review.assessment.reasons)],
                "required_approvals": review.required_approvals,
            },
        )
        for review in reviews
    )
    return reviews
