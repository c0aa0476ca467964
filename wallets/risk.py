"""The risk hook online payments call before money moves.

`payment_risk_assess` loads the assessor named by FASTPAY_RISK_ASSESSOR (the fraud app's
rules and score by default; `large_amount_review` is the minimal fallback).
`payment_risk_record` hands the created payments with their assessments to the recorder named
by FASTPAY_RISK_RECORDER (empty: nothing is recorded beyond the payment's own columns).
"""

from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.db import models
from django.utils.module_loading import import_string


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


def payment_risk_assess(draft: PaymentDraft) -> RiskAssessment:
    return _assessor(settings.FASTPAY_RISK_ASSESSOR)(draft)


def payment_risk_record(pairs: list[tuple[object, RiskAssessment]]) -> None:
    """Called in the payments' transaction, after they are inserted: (payment, assessment)."""
    path = getattr(settings, "FASTPAY_RISK_RECORDER", "")
    if path and pairs:
        _assessor(path)(pairs)
