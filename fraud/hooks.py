"""The fraud app behind the wallets risk hook (settings FASTPAY_RISK_ASSESSOR and
FASTPAY_RISK_RECORDER point here)."""

from fraud.models import Channel
from fraud.scoring import assess
from fraud.services.assessments import payments_assessments_record
from wallets.risk import PaymentDraft, RiskAssessment


def payment_assess(draft: PaymentDraft) -> RiskAssessment:
    return assess(
        payer=draft.payer,
        payee=draft.payee,
        token=draft.token,
        amount=draft.amount,
        latitude=draft.latitude,
        longitude=draft.longitude,
        channel=Channel.ONLINE,
    )


def payments_record(pairs) -> None:
    payments_assessments_record(pairs)
