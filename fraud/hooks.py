"""The fraud app behind the wallets risk hook (settings FASTPAY_RISK_ASSESSOR and
FASTPAY_RISK_RECORDER point here; `payment_assess.assess_many` is its batch form, found
by `wallets.risk.payment_risk_assess_many`)."""

from django.utils import timezone

from fraud.models import Channel
from fraud.rules import Subject
from fraud.scoring import assess_many
from fraud.services.assessments import payments_assessments_record
from wallets.risk import PaymentDraft, RiskAssessment


def payments_assess(drafts: list[PaymentDraft]) -> list:
    """Assess a batch of online payments in order (item k sees items 0..k-1 of the batch
    in the payer's history): a RiskAssessment per draft, or the PaymentsPaused error that
    refuses it (an open circuit breaker)."""
    now = timezone.now()
    return assess_many(
        [
            Subject(
                payer=draft.payer,
                payee=draft.payee,
                token=draft.token,
                amount=draft.amount,
                occurred_at=now,
                latitude=draft.latitude,
                longitude=draft.longitude,
                channel=Channel.ONLINE,
            )
            for draft in drafts
        ]
    )


def payment_assess(draft: PaymentDraft) -> RiskAssessment:
    """One payment: a batch of one (raises PaymentsPaused if a breaker refuses it)."""
    (result,) = payments_assess([draft])
    if isinstance(result, Exception):
        raise result
    return result


payment_assess.assess_many = payments_assess


def payments_record(pairs) -> None:
    payments_assessments_record(pairs)
