"""The risk hook online payments call before money moves.

The assessor is named by FASTPAY_RISK_ASSESSOR (the fraud app's rules and score by
default; `large_amount_review` is the minimal fallback). `payment_risk_assess_many`
assesses a batch's drafts in order with the batch assessor: the one named by
FASTPAY_RISK_BATCH_ASSESSOR if set, else the per-item assessor's `assess_many` attribute
(the fraud app's has one), else the per-item assessor called once per draft (a single
payment is a batch of one).
`payment_risk_record` hands the created payments with their assessments to the recorder named
by FASTPAY_RISK_RECORDER (empty: nothing is recorded beyond the payment's own columns).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.db import models
from django.utils.module_loading import import_string

from fastpay.errors import DomainError


class RiskDecision(models.TextChoices):
    ALLOW = "allow", "Allow"
    REVIEW = "review", "Hold for review"
    BLOCK = "block", "Block"


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    decision: str
    score: int = 0  # 0-100
    # Plain strings, or dicts {"rule", "score", "action", "text", "figures"} (fraud app).
    reasons: list = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PaymentDraft:
    """What the assessor sees: the payment as requested, before any money moves."""

    payer: object
    payee: object
    token: object
    amount: int  # ledger units
    latitude: object = None
    longitude: object = None
    metadata: dict = field(default_factory=dict)


def large_amount_review(draft: PaymentDraft) -> RiskAssessment:
    """Hold payments of FASTPAY_REVIEW_ABOVE_TOKENS whole tokens or more for review."""
    threshold = settings.FASTPAY_REVIEW_ABOVE_TOKENS * 10**draft.token.ledger_decimals
    if draft.amount >= threshold:
        return RiskAssessment(
            RiskDecision.REVIEW, 60, [f"amount at or above {settings.FASTPAY_REVIEW_ABOVE_TOKENS}"]
        )
    return RiskAssessment(RiskDecision.ALLOW, 0, [])


@cache
def _assessor(path: str):
    return import_string(path)


def payment_risk_assess_many(drafts: Sequence[PaymentDraft]) -> list:
    """A result per draft, in order: its RiskAssessment, or the DomainError that refuses it
    (e.g. a circuit breaker pauses payments). A batch assessor sees the drafts in order and
    may count earlier ones in later ones' history; it returns refusals, never raises them."""
    drafts = list(drafts)
    if not drafts:
        return []
    single = _assessor(settings.FASTPAY_RISK_ASSESSOR)
    path = getattr(settings, "FASTPAY_RISK_BATCH_ASSESSOR", "")
    batch = _assessor(path) if path else getattr(single, "assess_many", None)
    if batch is not None:
        results = list(batch(drafts))
        if len(results) != len(drafts):
            raise RuntimeError(f"the batch risk assessor returned {len(results)} results")
        return results
    results = []
    for draft in drafts:
        try:
            results.append(single(draft))
        except DomainError as exc:
            results.append(exc)
    return results


def payment_risk_record(pairs: list[tuple[object, RiskAssessment]]) -> None:
    """Called in the payments' transaction, after they are inserted: (payment, assessment)."""
    path = getattr(settings, "FASTPAY_RISK_RECORDER", "")
    if path and pairs:
        _assessor(path)(pairs)
